package transaction

import (
	"fmt"
	"time"
)

// Machine is one transaction's state. The zero value is not usable; call New.
type Machine struct {
	kind     Kind
	state    State
	reliable bool
	timers   Timers
	// interval is the current retransmission interval of timer A, E or G.
	interval time.Duration
	// lastFinal is the status of the last response sent (server) or received (client).
	lastCode int
	buf      [6]Action
	n        int
	now      time.Time
}

// New returns a machine of the given kind in state Idle. reliable says whether the transport is
// reliable (TCP, TLS, WS): retransmission timers are not used and the wait timers are zero.
func New(kind Kind, reliable bool, timers Timers) Machine {
	if timers.T1 <= 0 {
		timers = DefaultTimers
	}
	if timers.D <= 0 {
		timers.D = DefaultTimers.D
	}
	return Machine{kind: kind, reliable: reliable, timers: timers}
}

// Kind returns the machine's kind.
func (m *Machine) Kind() Kind { return m.kind }

// State returns the current state.
func (m *Machine) State() State { return m.state }

// LastCode returns the status code of the last response passed through the machine.
func (m *Machine) LastCode() int { return m.lastCode }

// Step feeds one event and returns the actions to carry out, in order. The returned slice is
// only valid until the next call to Step. Events that do not apply in the current state (a late
// timer, a response after termination) return no actions.
func (m *Machine) Step(now time.Time, ev Event) []Action {
	m.n = 0
	m.now = now
	if m.state == Terminated {
		return nil
	}
	switch m.kind {
	case ClientInvite:
		m.stepICT(ev)
	case ClientNonInvite:
		m.stepNICT(ev)
	case ServerInvite:
		m.stepIST(ev)
	case ServerNonInvite:
		m.stepNIST(ev)
	}
	return m.buf[:m.n]
}

func (m *Machine) emit(k ActionKind) {
	m.buf[m.n] = Action{Kind: k}
	m.n++
}

// arm starts a timer, or, for a zero duration (reliable transports, §17.1.1.2 and friends),
// behaves as if it fired at once by terminating.
func (m *Machine) arm(t Timer, d time.Duration) {
	if d <= 0 {
		m.terminate()
		return
	}
	m.buf[m.n] = Action{Kind: StartTimer, Timer: t, After: d, At: m.now.Add(d)}
	m.n++
}

// transportFailed tells the TU sending failed and ends the transaction (§17.1.4, §17.2.4).
func (m *Machine) transportFailed() {
	m.emit(InformTransportError)
	m.terminate()
}

// timedOut tells the TU the transaction timed out and ends it.
func (m *Machine) timedOut() {
	m.emit(InformTimeout)
	m.terminate()
}

func (m *Machine) terminate() {
	m.state = Terminated
	m.emit(Terminate)
}

// armRetransmission starts a retransmission timer at T1 (unreliable transports only; it
// doubles as it fires) and the 64*T1 timeout that ends the retransmissions: A and B (§17.1.1.2),
// E and F (§17.1.2.2), G and H (§17.2.1).
func (m *Machine) armRetransmission(retransmit, timeout Timer) {
	if !m.reliable {
		m.interval = m.timers.T1
		m.arm(retransmit, m.interval)
	}
	m.arm(timeout, 64*m.timers.T1)
}

// wait returns d for unreliable transports and zero for reliable ones.
func (m *Machine) wait(d time.Duration) time.Duration {
	if m.reliable {
		return 0
	}
	return d
}

func (m *Machine) timerFired(ev Event, t Timer) bool {
	return ev.Kind == TimerFired && ev.Timer == t
}

// Live reports whether timer t can still do anything in the current state. Step ignores a timer
// that cannot, so stopping it changes nothing but the memory and the timer heap its owner keeps.
func (m *Machine) Live(t Timer) bool {
	switch m.state {
	case Calling:
		return t == TimerA || t == TimerB
	case Trying, Proceeding:
		return m.kind == ClientNonInvite && (t == TimerE || t == TimerF)
	case Completed:
		switch m.kind {
		case ClientInvite:
			return t == TimerD
		case ClientNonInvite:
			return t == TimerK
		case ServerInvite:
			return t == TimerG || t == TimerH
		case ServerNonInvite:
			return t == TimerJ
		}
	case Confirmed:
		return t == TimerI
	case Accepted:
		return (m.kind == ServerInvite && t == TimerL) || (m.kind == ClientInvite && t == TimerM)
	}
	return false
}

// String describes the machine for logs and traces.
func (m *Machine) String() string {
	return fmt.Sprintf("%s/%s", m.kind, m.state)
}
