package dialog

import (
	"fmt"
	"strings"
	"time"
)

// Transition is one edge of the dialog machine's diagram.
type Transition struct {
	From, To State
	Event    EventKind
	Action   Action
}

func (t Transition) String() string {
	label := t.Event.String()
	switch {
	case t.Action.Terminate:
		label += " / end"
	case t.Action.Arm:
		label += fmt.Sprintf(" / arm timer (%s)", t.Action.After)
	}
	return fmt.Sprintf("%s --> %s: %s", t.From, t.To, label)
}

// Explore steps copies of the machine from Early with every event, firing its timer only where
// it is armed, and returns each transition that does something, in the order found: the
// diagram is the code's.
func Explore(t Timers) []Transition {
	type node struct {
		state State
		armed bool
	}
	type walk struct {
		m     Machine
		armed bool
	}
	start := walk{m: *New(t)}
	seen := map[node]bool{{start.m.state, false}: true}
	edges := map[string]bool{}
	queue := []walk{start}
	var out []Transition
	now := time.Unix(0, 0)
	for len(queue) > 0 {
		w := queue[0]
		queue = queue[1:]
		for ev := Created; ev <= TimerFired; ev++ {
			if ev == TimerFired && !w.armed {
				continue
			}
			next := w
			next.m.Requests = map[string]int{} // the copy must not share the count
			a := next.m.Step(now, ev, "")
			if ev == TimerFired {
				next.armed = false
			}
			next.armed = (next.armed || a.Arm) && !a.Terminate
			if a == (Action{}) && next.m.state == w.m.state {
				continue
			}
			tr := Transition{From: w.m.state, To: next.m.state, Event: ev, Action: a}
			if line := tr.String(); !edges[line] {
				edges[line] = true
				out = append(out, tr)
			}
			if n := (node{next.m.state, next.armed}); !seen[n] {
				seen[n] = true
				queue = append(queue, next)
			}
		}
	}
	return out
}

// Mermaid draws transitions as a Mermaid state diagram.
func Mermaid(ts []Transition) string {
	var b strings.Builder
	b.WriteString("---\ntitle: dialog, as a record-routing proxy sees it (RFC 3261 §12)\n---\nstateDiagram-v2\n")
	b.WriteString("    [*] --> Early\n")
	for _, t := range ts {
		fmt.Fprintf(&b, "    %s\n", t)
	}
	b.WriteString("    Terminated --> [*]\n")
	return b.String()
}
