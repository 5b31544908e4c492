package txn

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/partysip/partysip/actors/internal/clock"
	"github.com/partysip/partysip/sipcore/transaction"
)

// timerSet drives a transaction machine's timers through the actor's mailbox. Each timer has a
// generation: re-arming or stopping bumps it, so a late delivery is recognised and ignored.
type timerSet struct {
	gen [16]uint32
	t   [16]clock.Timer
	due [16]int64 // when each fires (Unix ns), for listings
}

func (ts *timerSet) start(clk clock.Clock, ctx actor.Context, which transaction.Timer, d time.Duration) {
	ts.gen[which]++
	if old := ts.t[which]; old != nil {
		old.Stop()
	}
	ts.t[which] = clock.SendAfter(clk, ctx, d, &timerFired{Timer: which, Gen: ts.gen[which]})
	ts.due[which] = clk.Now().Add(d).UnixNano()
}

// running lists the timers armed and not yet due at now, in timer order.
func (ts *timerSet) running(now time.Time) []TimerInfo {
	var out []TimerInfo
	for i, t := range ts.t {
		if t != nil && ts.due[i] > now.UnixNano() {
			out = append(out, TimerInfo{Name: timerName(transaction.Timer(i)), Due: time.Unix(0, ts.due[i])})
		}
	}
	return out
}

// armed reports whether timer which is set.
func (ts *timerSet) armed(which transaction.Timer) bool { return ts.t[which] != nil }

// current reports whether a fired timer is the one last armed.
func (ts *timerSet) current(m *timerFired) bool {
	return ts.gen[m.Timer] == m.Gen
}

// prune stops every armed timer that live says can no longer matter, releasing it now rather
// than when it fires into a state that ignores it.
func (ts *timerSet) prune(live func(transaction.Timer) bool) {
	for i, t := range ts.t {
		if t != nil && !live(transaction.Timer(i)) {
			t.Stop()
			ts.t[i] = nil
			ts.gen[i]++
		}
	}
}

// timerName is a timer's RFC 3261 letter, or what our own slots are for.
func timerName(t transaction.Timer) string {
	if t == timerNoResponse {
		return "no_response" // failover.no_response
	}
	if t > transaction.TimerM {
		return "?"
	}
	return t.String()
}

func (ts *timerSet) stopAll() {
	for i, t := range ts.t {
		if t != nil {
			t.Stop()
			ts.t[i] = nil
			ts.gen[i]++
		}
	}
}
