package transaction

import (
	"slices"
	"testing"
	"time"
)

// TestExploreReachesEveryState checks that the generated diagrams cover each machine's states
// (RFC 3261 figures 5–8, plus Accepted from RFC 6026), and that every state can reach
// Terminated: no transaction can live for ever.
func TestExploreReachesEveryState(t *testing.T) {
	want := map[Kind][]State{
		ClientInvite:    {Idle, Calling, Proceeding, Completed, Accepted, Terminated},
		ClientNonInvite: {Idle, Trying, Proceeding, Completed, Terminated},
		ServerInvite:    {Idle, Proceeding, Completed, Confirmed, Accepted, Terminated},
		ServerNonInvite: {Idle, Trying, Proceeding, Completed, Terminated},
	}
	for k, states := range want {
		for _, reliable := range []bool{false, true} {
			ts := Explore(k, reliable, DefaultTimers)
			expect := states
			if reliable {
				// Timers D, K, J and I are zero over reliable transports: those wait states are
				// left the moment they are entered.
				wait := map[Kind]State{ClientInvite: Completed, ClientNonInvite: Completed, ServerNonInvite: Completed, ServerInvite: Confirmed}[k]
				expect = slices.DeleteFunc(slices.Clone(states), func(s State) bool { return s == wait })
			}
			got := map[State]bool{Idle: true}
			toEnd := map[State]bool{Terminated: true}
			for _, tr := range ts {
				got[tr.To] = true
			}
			// Fixed point: a state reaches Terminated if one of its edges leads to such a state.
			for changed := true; changed; {
				changed = false
				for _, tr := range ts {
					if toEnd[tr.To] && !toEnd[tr.From] {
						toEnd[tr.From], changed = true, true
					}
				}
			}
			for _, s := range expect {
				if !got[s] {
					t.Errorf("%s reliable=%v: state %s not reached", k, reliable, s)
				}
				if !toEnd[s] {
					t.Errorf("%s reliable=%v: %s cannot reach Terminated", k, reliable, s)
				}
			}
			for s := range got {
				if !slices.Contains(expect, s) {
					t.Errorf("%s reliable=%v: unexpected state %s", k, reliable, s)
				}
			}
		}
	}
}

// TestLiveMatchesStep checks Live against Step: in every state Explore reaches, a timer the
// machine calls dead must be ignored by Step, and a timer Step acts on must be live.
func TestLiveMatchesStep(t *testing.T) {
	for _, k := range []Kind{ClientInvite, ClientNonInvite, ServerInvite, ServerNonInvite} {
		for _, reliable := range []bool{false, true} {
			m := New(k, reliable, DefaultTimers)
			queue, seen := []Machine{m}, map[State]bool{}
			for len(queue) > 0 {
				cur := queue[0]
				queue = queue[1:]
				if seen[cur.State()] {
					continue
				}
				seen[cur.State()] = true
				for tm := TimerA; tm < numTimers; tm++ {
					next := cur
					acts := next.Step(time.Unix(0, 0), Event{Kind: TimerFired, Timer: tm})
					if acted := len(acts) > 0 || next.State() != cur.State(); acted != cur.Live(tm) {
						t.Errorf("%s reliable=%v in %s: timer %s acted=%v live=%v", k, reliable, cur.State(), tm, acted, cur.Live(tm))
					}
				}
				for _, ev := range probeEvents(k) {
					next := cur
					next.Step(time.Unix(0, 0), ev)
					queue = append(queue, next)
				}
			}
		}
	}
}

// A timer appears in a diagram only where it runs: the retransmission timers (A, E, G) are never
// started over a reliable transport, so its diagrams have no edge for them; over UDP they do.
func TestExploreFiresOnlyRunningTimers(t *testing.T) {
	retransmit := map[Kind]Timer{ClientInvite: TimerA, ClientNonInvite: TimerE, ServerInvite: TimerG}
	for k, timer := range retransmit {
		for _, reliable := range []bool{false, true} {
			found := false
			for _, tr := range Explore(k, reliable, DefaultTimers) {
				if tr.Event.Kind == TimerFired && tr.Event.Timer == timer {
					found = true
				}
			}
			if found == reliable {
				t.Errorf("%s reliable=%v: timer %s edge present %v", k, reliable, timer, found)
			}
		}
	}
}
