package transaction

import (
	"fmt"
	"strings"
	"time"
)

// Transition is one edge of a machine's state diagram: in state From, event Event produces
// Actions and leads to state To.
type Transition struct {
	From    State
	Event   Event
	Actions []Action
	To      State
}

// probeEvents are the events Explore tries in every state: one of each kind, with a
// provisional, a 2xx and a non-2xx status, and every timer (Explore fires only those running).
func probeEvents(k Kind) []Event {
	evs := []Event{{Kind: Start}}
	codeKind := ResponseReceived
	if !k.IsClient() {
		codeKind = ResponseSent
		evs = append(evs, Event{Kind: RequestRetransmitted}, Event{Kind: AckReceived})
	}
	for _, code := range []int{100, 180, 200, 486} {
		evs = append(evs, Event{Kind: codeKind, Code: code})
	}
	for t := TimerA; t < numTimers; t++ {
		evs = append(evs, Event{Kind: TimerFired, Timer: t})
	}
	return append(evs, Event{Kind: TransportFailed})
}

// Explore walks a machine from Idle over every probe event and returns each transition that
// does something (changes state or emits actions), in the order found. It steps copies of the
// pure machine, so the diagram it yields is the code's, not a drawing of it. A state is visited
// both before and after a response passed through it (a retransmission is answered only then),
// and with the set of timers running: a timer fires only where it was started and still runs,
// so a reliable transport's diagram has no retransmission-timer edges (Timers A, E, G are never
// started there).
func Explore(k Kind, reliable bool, timers Timers) []Transition {
	type node struct {
		state   State
		hasResp bool
		running uint32 // bit t: timer t was started and has neither fired nor stopped applying
	}
	type walk struct {
		m       Machine
		running uint32
	}
	key := func(w walk) node { return node{w.m.State(), w.m.LastCode() != 0, w.running} }
	start := walk{m: New(k, reliable, timers)}
	seen := map[node]bool{key(start): true}
	edges := map[string]bool{}
	queue := []walk{start}
	var out []Transition
	now := time.Unix(0, 0)
	for len(queue) > 0 {
		w := queue[0]
		queue = queue[1:]
		for _, ev := range probeEvents(k) {
			if ev.Kind == TimerFired && w.running&(1<<ev.Timer) == 0 {
				continue // not running here: it cannot fire
			}
			next := w // Machine is a value: stepping the copy leaves w as it was
			acts := append([]Action(nil), next.m.Step(now, ev)...)
			if ev.Kind == TimerFired {
				next.running &^= 1 << ev.Timer
			}
			for _, a := range acts {
				if a.Kind == StartTimer {
					next.running |= 1 << a.Timer
				}
			}
			for t := TimerA; t < numTimers; t++ {
				if !next.m.Live(t) {
					next.running &^= 1 << t
				}
			}
			if len(acts) == 0 && next.m.State() == w.m.State() {
				continue
			}
			t := Transition{From: w.m.State(), Event: ev, Actions: acts, To: next.m.State()}
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

// String is the transition as "From --> To: event / actions".
func (t Transition) String() string {
	labels := make([]string, len(t.Actions))
	for i, a := range t.Actions {
		labels[i] = a.Label()
	}
	edge := t.Event.Label()
	if len(labels) > 0 {
		edge += " / " + strings.Join(labels, ", ")
	}
	return fmt.Sprintf("%s --> %s: %s", t.From, t.To, edge)
}

// Label describes an event as "Start", "2xx received", "timer A", ...
func (e Event) Label() string {
	switch e.Kind {
	case ResponseReceived:
		return CodeClass(e.Code) + " received"
	case ResponseSent:
		return CodeClass(e.Code) + " from TU"
	case TimerFired:
		return "timer " + e.Timer.String()
	}
	return e.Kind.String()
}

// CodeClass names a status for the diagrams: "100", "1xx", "2xx" or "300-699".
func CodeClass(code int) string {
	switch {
	case code == 100:
		return "100"
	case code < 200:
		return "1xx"
	case code < 300:
		return "2xx"
	}
	return "300-699"
}

// Label describes an action as "SendRequest", "start B (32s)", ...
func (a Action) Label() string {
	if a.Kind == StartTimer {
		return fmt.Sprintf("start %s (%s)", a.Timer, a.After)
	}
	return a.Kind.String()
}

// Mermaid renders transitions as a Mermaid state diagram, one edge per line.
func Mermaid(k Kind, reliable bool, ts []Transition) string {
	var b strings.Builder
	transport := "unreliable transport"
	if reliable {
		transport = "reliable transport"
	}
	fmt.Fprintf(&b, "---\ntitle: %s, %s\n---\nstateDiagram-v2\n", k, transport)
	fmt.Fprintf(&b, "    [*] --> Idle\n")
	for _, t := range ts {
		fmt.Fprintf(&b, "    %s\n", t)
	}
	fmt.Fprintf(&b, "    Terminated --> [*]\n")
	return b.String()
}
