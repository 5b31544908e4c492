package transaction

import (
	"testing"
	"time"
)

// drive steps a fresh machine through evs and returns it.
func drive(k Kind, reliable bool, evs ...Event) Machine {
	m := New(k, reliable, DefaultTimers)
	for _, ev := range evs {
		m.Step(time.Unix(0, 0), ev)
	}
	return m
}

// The residual of each parkable wait does what its machine does there, and nothing else.
func TestResidual(t *testing.T) {
	start := Event{Kind: Start}
	type try struct {
		ev   Event
		want ActionKind
		ok   bool
	}
	cases := []struct {
		name  string
		m     Machine
		timer Timer
		tries []try
	}{
		{"NIST Completed", drive(ServerNonInvite, false, start, Event{Kind: ResponseSent, Code: 200}), TimerJ,
			[]try{{Event{Kind: RequestRetransmitted}, ResendResponse, true}, {Event{Kind: AckReceived}, 0, false}}},
		{"IST Accepted", drive(ServerInvite, false, start, Event{Kind: ResponseSent, Code: 200}), TimerL,
			[]try{{Event{Kind: RequestRetransmitted}, 0, false}, {Event{Kind: AckReceived}, PassAck, true}}},
		{"ICT Accepted", drive(ClientInvite, true, start, Event{Kind: ResponseReceived, Code: 200}), TimerM,
			[]try{{Event{Kind: ResponseReceived, Code: 200}, PassResponse, true}, {Event{Kind: ResponseReceived, Code: 486}, 0, false}}},
		{"ICT Completed", drive(ClientInvite, false, start, Event{Kind: ResponseReceived, Code: 486}), TimerD,
			[]try{{Event{Kind: ResponseReceived, Code: 486}, SendAck, true}, {Event{Kind: ResponseReceived, Code: 180}, 0, false}}},
		{"NICT Completed", drive(ClientNonInvite, false, start, Event{Kind: ResponseReceived, Code: 200}), TimerK,
			[]try{{Event{Kind: ResponseReceived, Code: 200}, 0, false}}},
	}
	for _, c := range cases {
		r, ok := c.m.Residual()
		if !ok || r.Kind() != c.m.Kind() || r.State() != c.m.State() || r.Timer() != c.timer {
			t.Fatalf("%s: residual %v %v/%v timer %v", c.name, ok, r.Kind(), r.State(), r.Timer())
		}
		for _, tr := range c.tries {
			if got, ok := r.Step(tr.ev); got != tr.want || ok != tr.ok {
				t.Errorf("%s: %v gives %v %v, want %v %v", c.name, tr.ev, got, ok, tr.want, tr.ok)
			}
		}
		if r.State() != c.m.State() {
			t.Errorf("%s: retransmissions moved it to %v", c.name, r.State())
		}
		if got, ok := r.Step(Event{Kind: TimerFired, Timer: c.timer}); got != Terminate || !ok || r.State() != Terminated {
			t.Errorf("%s: its timer gives %v %v, state %v", c.name, got, ok, r.State())
		}
	}
	// No residual while there is more to do, or over a reliable transport where the wait is zero.
	for _, m := range []Machine{
		drive(ClientInvite, false, start),
		drive(ServerNonInvite, true, start, Event{Kind: ResponseSent, Code: 200}),
		drive(ServerInvite, false, start, Event{Kind: ResponseSent, Code: 486}),
	} {
		if _, ok := m.Residual(); ok {
			t.Errorf("%v has a residual", m.String())
		}
	}
}
