package transaction

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// step is one event fed to a machine and what must come out of it.
type step struct {
	ev      Event
	advance time.Duration // fake clock advance before the event
	want    string        // actions, e.g. "SendRequest StartTimer(A,500ms)"
	state   State
}

func start() Event        { return Event{Kind: Start} }
func fire(t Timer) Event  { return Event{Kind: TimerFired, Timer: t} }
func recv(code int) Event { return Event{Kind: ResponseReceived, Code: code} }
func send(code int) Event { return Event{Kind: ResponseSent, Code: code} }
func retrans() Event      { return Event{Kind: RequestRetransmitted} }
func ack() Event          { return Event{Kind: AckReceived} }
func transportErr() Event { return Event{Kind: TransportFailed} }
func describe(as []Action) string {
	parts := make([]string, 0, len(as))
	for _, a := range as {
		if a.Kind == StartTimer {
			parts = append(parts, fmt.Sprintf("StartTimer(%s,%s)", a.Timer, a.After))
			continue
		}
		parts = append(parts, a.Kind.String())
	}
	return strings.Join(parts, " ")
}

var testTimers = Timers{T1: 500 * time.Millisecond, T2: 4 * time.Second, T4: 5 * time.Second, D: 32 * time.Second}

func runSteps(t *testing.T, kind Kind, reliable bool, steps []step) {
	t.Helper()
	m := New(kind, reliable, testTimers)
	now := time.Unix(1000, 0) // fake clock
	for i, s := range steps {
		now = now.Add(s.advance)
		acts := m.Step(now, s.ev)
		if got := describe(acts); got != s.want {
			t.Fatalf("step %d (%s %v in %s): actions %q, want %q", i, s.ev.Kind, s.ev, m.State(), got, s.want)
		}
		for _, a := range acts {
			if a.Kind == StartTimer && !a.At.Equal(now.Add(a.After)) {
				t.Fatalf("step %d: timer %s at %v, want now+%s", i, a.Timer, a.At, a.After)
			}
		}
		if m.State() != s.state {
			t.Fatalf("step %d (%s): state %s, want %s", i, s.ev.Kind, m.State(), s.state)
		}
	}
}

// TestICT covers RFC 3261 figure 5 with the RFC 6026 Accepted state.
func TestICT(t *testing.T) {
	startU := step{ev: start(), want: "SendRequest StartTimer(A,500ms) StartTimer(B,32s)", state: Calling}
	cases := map[string]struct {
		reliable bool
		steps    []step
	}{
		"calling: timer A retransmits and doubles": {steps: []step{startU,
			{ev: fire(TimerA), advance: 500 * time.Millisecond, want: "SendRequest StartTimer(A,1s)", state: Calling},
			{ev: fire(TimerA), advance: time.Second, want: "SendRequest StartTimer(A,2s)", state: Calling},
			{ev: fire(TimerA), advance: 2 * time.Second, want: "SendRequest StartTimer(A,4s)", state: Calling},
			{ev: fire(TimerA), advance: 4 * time.Second, want: "SendRequest StartTimer(A,8s)", state: Calling},
		}},
		"calling: timer B times out": {steps: []step{startU,
			{ev: fire(TimerB), advance: 32 * time.Second, want: "InformTimeout Terminate", state: Terminated},
			{ev: recv(200), want: "", state: Terminated},
		}},
		"reliable: no timer A": {reliable: true, steps: []step{
			{ev: start(), want: "SendRequest StartTimer(B,32s)", state: Calling},
		}},
		"calling: 1xx to proceeding, timers A and B then ignored": {steps: []step{startU,
			{ev: recv(180), want: "PassResponse", state: Proceeding},
			{ev: fire(TimerA), want: "", state: Proceeding},
			{ev: fire(TimerB), want: "", state: Proceeding},
			{ev: recv(183), want: "PassResponse", state: Proceeding},
		}},
		"calling: 2xx to accepted (RFC 6026)": {steps: []step{startU,
			{ev: recv(200), want: "PassResponse StartTimer(M,32s)", state: Accepted},
			{ev: recv(200), want: "PassResponse", state: Accepted},
			{ev: recv(486), want: "", state: Accepted},
			{ev: fire(TimerM), want: "Terminate", state: Terminated},
		}},
		"proceeding: 2xx to accepted": {steps: []step{startU,
			{ev: recv(100), want: "PassResponse", state: Proceeding},
			{ev: recv(200), want: "PassResponse StartTimer(M,32s)", state: Accepted},
		}},
		"calling: 3xx-6xx to completed with ACK": {steps: []step{startU,
			{ev: recv(486), want: "PassResponse SendAck StartTimer(D,32s)", state: Completed},
			{ev: recv(486), want: "SendAck", state: Completed},
			{ev: recv(180), want: "", state: Completed},
			{ev: fire(TimerD), want: "Terminate", state: Terminated},
		}},
		"proceeding: final to completed, reliable terminates at once": {reliable: true, steps: []step{
			{ev: start(), want: "SendRequest StartTimer(B,32s)", state: Calling},
			{ev: recv(180), want: "PassResponse", state: Proceeding},
			{ev: recv(603), want: "PassResponse SendAck Terminate", state: Terminated},
		}},
		"calling: transport error": {steps: []step{startU,
			{ev: transportErr(), want: "InformTransportError Terminate", state: Terminated},
		}},
		"proceeding: transport error": {steps: []step{startU,
			{ev: recv(100), want: "PassResponse", state: Proceeding},
			{ev: transportErr(), want: "InformTransportError Terminate", state: Terminated},
		}},
		"completed: transport error on ACK": {steps: []step{startU,
			{ev: recv(500), want: "PassResponse SendAck StartTimer(D,32s)", state: Completed},
			{ev: transportErr(), want: "InformTransportError Terminate", state: Terminated},
		}},
		"idle: ignores everything but start": {steps: []step{
			{ev: recv(200), want: "", state: Idle},
			{ev: fire(TimerA), want: "", state: Idle},
		}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) { runSteps(t, ClientInvite, c.reliable, c.steps) })
	}
}

// TestNICT covers RFC 3261 figure 6.
func TestNICT(t *testing.T) {
	startU := step{ev: start(), want: "SendRequest StartTimer(E,500ms) StartTimer(F,32s)", state: Trying}
	cases := map[string]struct {
		reliable bool
		steps    []step
	}{
		"trying: timer E doubles up to T2": {steps: []step{startU,
			{ev: fire(TimerE), want: "SendRequest StartTimer(E,1s)", state: Trying},
			{ev: fire(TimerE), want: "SendRequest StartTimer(E,2s)", state: Trying},
			{ev: fire(TimerE), want: "SendRequest StartTimer(E,4s)", state: Trying},
			{ev: fire(TimerE), want: "SendRequest StartTimer(E,4s)", state: Trying},
		}},
		"trying: timer F times out": {steps: []step{startU,
			{ev: fire(TimerF), want: "InformTimeout Terminate", state: Terminated},
		}},
		"trying: 1xx to proceeding, E then at T2": {steps: []step{startU,
			{ev: recv(100), want: "PassResponse", state: Proceeding},
			{ev: fire(TimerE), want: "SendRequest StartTimer(E,4s)", state: Proceeding},
			{ev: recv(180), want: "PassResponse", state: Proceeding},
			{ev: fire(TimerF), want: "InformTimeout Terminate", state: Terminated},
		}},
		"trying: final to completed, absorbs retransmissions": {steps: []step{startU,
			{ev: recv(200), want: "PassResponse StartTimer(K,5s)", state: Completed},
			{ev: recv(200), want: "", state: Completed},
			{ev: fire(TimerE), want: "", state: Completed},
			{ev: fire(TimerK), want: "Terminate", state: Terminated},
		}},
		"proceeding: final to completed": {steps: []step{startU,
			{ev: recv(100), want: "PassResponse", state: Proceeding},
			{ev: recv(404), want: "PassResponse StartTimer(K,5s)", state: Completed},
		}},
		"reliable: no E, K zero": {reliable: true, steps: []step{
			{ev: start(), want: "SendRequest StartTimer(F,32s)", state: Trying},
			{ev: recv(200), want: "PassResponse Terminate", state: Terminated},
		}},
		"trying: transport error": {steps: []step{startU,
			{ev: transportErr(), want: "InformTransportError Terminate", state: Terminated},
		}},
		"proceeding: transport error": {steps: []step{startU,
			{ev: recv(100), want: "PassResponse", state: Proceeding},
			{ev: transportErr(), want: "InformTransportError Terminate", state: Terminated},
		}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) { runSteps(t, ClientNonInvite, c.reliable, c.steps) })
	}
}

// TestIST covers RFC 3261 figure 7 with the RFC 6026 Accepted state.
func TestIST(t *testing.T) {
	startS := step{ev: start(), want: "PassRequest", state: Proceeding}
	cases := map[string]struct {
		reliable bool
		steps    []step
	}{
		"proceeding: retransmission before any response is absorbed": {steps: []step{startS,
			{ev: retrans(), want: "", state: Proceeding},
		}},
		"proceeding: 1xx sent, retransmission resends it": {steps: []step{startS,
			{ev: send(100), want: "SendResponse", state: Proceeding},
			{ev: retrans(), want: "ResendResponse", state: Proceeding},
			{ev: send(180), want: "SendResponse", state: Proceeding},
		}},
		"proceeding: 2xx to accepted (RFC 6026)": {steps: []step{startS,
			{ev: send(200), want: "SendResponse StartTimer(L,32s)", state: Accepted},
			{ev: retrans(), want: "", state: Accepted},
			{ev: send(200), want: "SendResponse", state: Accepted},
			{ev: send(486), want: "", state: Accepted},
			{ev: ack(), want: "PassAck", state: Accepted},
			{ev: fire(TimerL), want: "Terminate", state: Terminated},
		}},
		"proceeding: 3xx-6xx to completed, G doubles to T2, H times out": {steps: []step{startS,
			{ev: send(486), want: "SendResponse StartTimer(G,500ms) StartTimer(H,32s)", state: Completed},
			{ev: fire(TimerG), want: "ResendResponse StartTimer(G,1s)", state: Completed},
			{ev: fire(TimerG), want: "ResendResponse StartTimer(G,2s)", state: Completed},
			{ev: fire(TimerG), want: "ResendResponse StartTimer(G,4s)", state: Completed},
			{ev: fire(TimerG), want: "ResendResponse StartTimer(G,4s)", state: Completed},
			{ev: retrans(), want: "ResendResponse", state: Completed},
			{ev: fire(TimerH), want: "InformTimeout Terminate", state: Terminated},
		}},
		"completed: ACK to confirmed, timer I": {steps: []step{startS,
			{ev: send(404), want: "SendResponse StartTimer(G,500ms) StartTimer(H,32s)", state: Completed},
			{ev: ack(), want: "StartTimer(I,5s)", state: Confirmed},
			{ev: ack(), want: "", state: Confirmed},
			{ev: fire(TimerG), want: "", state: Confirmed},
			{ev: fire(TimerI), want: "Terminate", state: Terminated},
		}},
		"reliable: no G, I zero": {reliable: true, steps: []step{startS,
			{ev: send(503), want: "SendResponse StartTimer(H,32s)", state: Completed},
			{ev: ack(), want: "Terminate", state: Terminated},
		}},
		"proceeding: transport error": {steps: []step{startS,
			{ev: transportErr(), want: "InformTransportError Terminate", state: Terminated},
		}},
		"completed: transport error": {steps: []step{startS,
			{ev: send(480), want: "SendResponse StartTimer(G,500ms) StartTimer(H,32s)", state: Completed},
			{ev: transportErr(), want: "InformTransportError Terminate", state: Terminated},
		}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) { runSteps(t, ServerInvite, c.reliable, c.steps) })
	}
}

// TestNIST covers RFC 3261 figure 8.
func TestNIST(t *testing.T) {
	startS := step{ev: start(), want: "PassRequest", state: Trying}
	cases := map[string]struct {
		reliable bool
		steps    []step
	}{
		"trying: retransmission absorbed": {steps: []step{startS,
			{ev: retrans(), want: "", state: Trying},
		}},
		"trying: 1xx to proceeding, retransmission resends": {steps: []step{startS,
			{ev: send(100), want: "SendResponse", state: Proceeding},
			{ev: retrans(), want: "ResendResponse", state: Proceeding},
			{ev: send(180), want: "SendResponse", state: Proceeding},
		}},
		"trying: final to completed, timer J": {steps: []step{startS,
			{ev: send(200), want: "SendResponse StartTimer(J,32s)", state: Completed},
			{ev: retrans(), want: "ResendResponse", state: Completed},
			{ev: send(500), want: "", state: Completed},
			{ev: fire(TimerJ), want: "Terminate", state: Terminated},
		}},
		"proceeding: final to completed": {steps: []step{startS,
			{ev: send(100), want: "SendResponse", state: Proceeding},
			{ev: send(404), want: "SendResponse StartTimer(J,32s)", state: Completed},
		}},
		"reliable: J zero": {reliable: true, steps: []step{startS,
			{ev: send(200), want: "SendResponse Terminate", state: Terminated},
		}},
		"trying: transport error": {steps: []step{startS,
			{ev: transportErr(), want: "InformTransportError Terminate", state: Terminated},
		}},
		"proceeding: transport error": {steps: []step{startS,
			{ev: send(100), want: "SendResponse", state: Proceeding},
			{ev: transportErr(), want: "InformTransportError Terminate", state: Terminated},
		}},
		"completed: transport error": {steps: []step{startS,
			{ev: send(200), want: "SendResponse StartTimer(J,32s)", state: Completed},
			{ev: transportErr(), want: "InformTransportError Terminate", state: Terminated},
		}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) { runSteps(t, ServerNonInvite, c.reliable, c.steps) })
	}
}

func TestTimersConfigurable(t *testing.T) {
	m := New(ClientNonInvite, false, Timers{T1: 100 * time.Millisecond, T2: 200 * time.Millisecond, T4: time.Second})
	got := describe(m.Step(time.Unix(0, 0), start()))
	if want := "SendRequest StartTimer(E,100ms) StartTimer(F,6.4s)"; got != want {
		t.Fatalf("got %q want %q", got, want)
	}
	m.Step(time.Unix(0, 0), fire(TimerE))
	if got := describe(m.Step(time.Unix(0, 0), fire(TimerE))); got != "SendRequest StartTimer(E,200ms)" {
		t.Fatalf("E not capped at T2: %q", got)
	}
}
