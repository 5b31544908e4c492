package proxy

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/partysip/partysip/sipcore/transaction"
)

// BranchTransition is one edge of the state diagram of a response context's branch: in state
// From, Event produced Actions and left the branch in To.
type BranchTransition struct {
	From, To BranchState
	Event    string
	Actions  []string
}

func (t BranchTransition) String() string {
	edge := t.Event
	if len(t.Actions) > 0 {
		edge += " / " + strings.Join(t.Actions, ", ")
	}
	return fmt.Sprintf("%s --> %s: %s", t.From, t.To, edge)
}

// ExploreBranch walks a response context with one INVITE branch that has two hops over every
// kind of event in every state it reaches, and returns each transition that does something, in
// the order found. Like transaction.Explore, it steps copies of the machine itself: the diagram
// is the code's.
func ExploreBranch(timerC, t1 time.Duration) []BranchTransition {
	type node struct {
		st              BranchState
		hop             int
		final, canceled bool
		cancelWanted    bool
	}
	key := func(c *Context) node {
		if len(c.branches) == 0 {
			return node{}
		}
		b := &c.branches[0]
		return node{b.state, b.hop, c.final, c.canceled, b.cancelWanted}
	}
	now := time.Unix(0, 0)
	start := NewContext(ContextConfig{Invite: true, CreatesDialog: true, TimerC: timerC, T1: t1})
	two := []Hop{{Host: "192.0.2.1", Port: 5060, Transport: "UDP"}, {Host: "192.0.2.2", Port: 5060, Transport: "UDP"}}
	seen := map[node]bool{key(start): true}
	edges := map[string]bool{}
	queue := []*Context{start}
	var out []BranchTransition
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		for _, pe := range c.probes(two) {
			next := c.clone()
			from := BranchIdle
			if len(c.branches) > 0 {
				from = c.branches[0].state
			}
			acts := next.Step(now, pe.ev)
			to := next.branches[0].state
			if len(acts) == 0 && key(next) == key(c) {
				continue
			}
			t := BranchTransition{From: from, To: to, Event: pe.label}
			for _, a := range acts {
				if a.Kind == RaceSeen {
					continue // an observation: nothing the branch does
				}
				t.Actions = append(t.Actions, next.actionLabel(a, c))
			}
			if line := t.String(); !edges[line] {
				edges[line] = true
				out = append(out, t)
			}
			if n := key(next); !seen[n] {
				seen[n] = true
				queue = append(queue, next)
			}
		}
	}
	return out
}

type probe struct {
	ev    Event
	label string
}

// probes are the events tried on c: the fork (to an IP with two hops, or to a name), responses
// of each kind, failures, the caller's CANCEL, a DNS answer, each timer armed, and Abandon.
func (c *Context) probes(two []Hop) []probe {
	if len(c.branches) == 0 {
		return []probe{
			{Event{Kind: Fork, Targets: []Target{{}}, Hops: [][]Hop{two}}, "Fork (hops known)"},
			{Event{Kind: Fork, Targets: []Target{{}}}, "Fork (a name: RFC 3263)"},
		}
	}
	var ps []probe
	for _, code := range []int{100, 180, 200, 487, 503, 603} {
		if c.branches[0].state == BranchLocating {
			break // nothing answers a request not sent
		}
		r := sip.NewResponse(code, "")
		r.AppendHeader(&sip.ToHeader{Address: sip.Uri{Host: "example.com"}, Params: sip.NewParams()})
		ps = append(ps, probe{Event{Kind: BranchResponded, Res: r}, codeLabel(code) + " received"})
	}
	b := &c.branches[0]
	switch b.state {
	case BranchTrying:
		// Only a request not yet answered times out or fails to go (an INVITE client
		// transaction sends nothing more in Proceeding).
		ps = append(ps, probe{Event{Kind: BranchFailed, Code: 408}, "timeout (Timer B)"},
			probe{Event{Kind: BranchFailed, Code: 503}, "transport error"})
	case BranchLocating:
		ps = append(ps, probe{Event{Kind: HopsLocated, Hops: [][]Hop{two[:1]}}, "hops located"},
			probe{Event{Kind: HopsLocated}, "no hop found"})
	}
	ps = append(ps, probe{Event{Kind: CancelArrived}, "CANCEL from caller"})
	if b.timerC != 0 {
		ps = append(ps, probe{Event{Kind: TimerFired, Timer: b.timerC}, "Timer C"})
	}
	if b.giveUp != 0 {
		ps = append(ps, probe{Event{Kind: TimerFired, Timer: b.giveUp}, "64·T1 after CANCEL"})
	}
	return append(ps, probe{Event{Kind: Abandon}, "Abandon"})
}

// codeLabel names a status as the diagrams do: the transaction diagrams' classes below 300, and
// the finals the response context treats apart (503 fails over, 6xx ends the fork).
func codeLabel(code int) string {
	switch {
	case code < 300:
		return transaction.CodeClass(code)
	case code >= 600:
		return "6xx"
	}
	return fmt.Sprint(code)
}

// actionLabel describes a; before is the context the action was decided from (to name timers).
func (c *Context) actionLabel(a Action, before *Context) string {
	switch a.Kind {
	case ArmTimer:
		name := "timer"
		if b := &c.branches[0]; a.Timer == b.timerC {
			name = "C"
		} else if a.Timer == b.giveUp {
			name = "give-up"
		}
		return fmt.Sprintf("start %s (%s)", name, a.After)
	case Relay:
		return "Relay " + codeLabel(a.Res.StatusCode)
	case Respond:
		return fmt.Sprintf("Respond %d", a.Code)
	case StartBranch:
		if len(before.branches) == 0 {
			break
		}
		if _, h, ok := before.Branch(0); ok && before.branches[0].state != BranchIdle && h != a.Hop {
			return "StartBranch (next hop)"
		}
	}
	return a.Kind.String()
}

// clone copies the context for exploring: what Step mutates is copied, the rest shared.
func (c *Context) clone() *Context {
	n := *c
	n.branches = slices.Clone(c.branches)
	n.dialogTags = slices.Clone(c.dialogTags)
	n.acts = nil
	return &n
}

// BranchMermaid renders the transitions of ExploreBranch as a Mermaid state diagram.
func BranchMermaid(ts []BranchTransition) string {
	var b strings.Builder
	b.WriteString("---\ntitle: response context, one INVITE branch (RFC 3261 §16.7, §16.8, §9.1)\n---\nstateDiagram-v2\n")
	b.WriteString("    [*] --> Idle\n")
	for _, t := range ts {
		fmt.Fprintf(&b, "    %s\n", t)
	}
	b.WriteString("    Ended --> [*]\n")
	return b.String()
}
