package transaction

import "time"

// Residual is what is left of a transaction once its machine only waits out a final timer,
// absorbing retransmissions: a non-INVITE server in Completed (Timer J), an INVITE server in
// Accepted (Timer L), an INVITE client in Accepted (Timer M) or Completed (Timer D), a non-INVITE
// client in Completed (Timer K). It is two bytes, so an owner can keep thousands of such waits
// without an actor each, and it is not a copy of the rules: Step runs the Machine itself in the
// residual's state.
type Residual struct {
	kind  Kind
	state State
}

// Residual returns what is left of m when it only waits out its final timer, and false when m
// still has more to do (or, over a reliable transport, no such wait: D, J and K are zero there).
func (m *Machine) Residual() (Residual, bool) {
	switch st := m.state; {
	case m.kind == ServerInvite && st == Accepted,
		m.kind == ClientInvite && st == Accepted,
		m.kind == ClientInvite && st == Completed && !m.reliable,
		m.kind == ServerNonInvite && st == Completed && !m.reliable,
		m.kind == ClientNonInvite && st == Completed && !m.reliable:
		return Residual{kind: m.kind, state: st}, true
	}
	return Residual{}, false
}

// Kind and State are the transaction's.
func (r Residual) Kind() Kind   { return r.kind }
func (r Residual) State() State { return r.state }

// Timer is the timer the residual waits out.
func (r Residual) Timer() Timer {
	m := Machine{kind: r.kind, state: r.state}
	for t := TimerA; t < numTimers; t++ {
		if m.Live(t) {
			return t
		}
	}
	return numTimers
}

// Step runs ev through the transaction's machine and returns the action it takes, if any:
// ResendResponse (a NIST's final response again), SendAck (an ICT's ACK again), PassAck (an ACK
// for an accepted INVITE), PassResponse (a retransmitted 2xx), or Terminate when its timer
// fired, after which the residual is Terminated.
func (r *Residual) Step(ev Event) (ActionKind, bool) {
	m := Machine{kind: r.kind, state: r.state, timers: DefaultTimers}
	acts := m.Step(time.Time{}, ev) // no timer starts in a residual state: the time is unused
	r.state = m.state
	for _, a := range acts {
		if a.Kind != StartTimer {
			return a.Kind, true
		}
	}
	return 0, false
}
