package dialog

import (
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

var (
	t0     = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	timers = Timers{AckWait: 32 * time.Second, Lifetime: time.Hour}
)

func TestLifecycle(t *testing.T) {
	cases := []struct {
		name   string
		events []EventKind
		want   []State
		last   Action
	}{
		{"call and hang up", []EventKind{Created, AckSeen, RequestSeen, ByeSeen},
			[]State{Accepted, Confirmed, Confirmed, Terminated}, Action{Terminate: true}},
		{"no ACK", []EventKind{Created, TimerFired}, []State{Accepted, Terminated}, Action{Terminate: true}},
		{"lifetime", []EventKind{Created, AckSeen, TimerFired}, []State{Accepted, Confirmed, Terminated}, Action{Terminate: true}},
		{"BYE before ACK (a CANCEL race)", []EventKind{Created, ByeSeen}, []State{Accepted, Terminated}, Action{Terminate: true}},
		{"request before ACK keeps the ACK timer", []EventKind{Created, RequestSeen}, []State{Accepted, Accepted}, Action{}},
		{"nothing after the end", []EventKind{Created, ByeSeen, AckSeen}, []State{Accepted, Terminated, Terminated}, Action{}},
		{"a refresh re-arms the lifetime", []EventKind{Created, AckSeen, RequestSeen},
			[]State{Accepted, Confirmed, Confirmed}, Action{Arm: true, After: time.Hour}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := New(timers)
			var a Action
			for i, ev := range c.events {
				a = m.Step(t0.Add(time.Duration(i)*time.Second), ev, "")
				if m.State() != c.want[i] {
					t.Fatalf("after %v: %v, want %v", ev, m.State(), c.want[i])
				}
			}
			if a != c.last {
				t.Fatalf("last action %+v, want %+v", a, c.last)
			}
		})
	}
	m := New(timers)
	if a := m.Step(t0, Created, "INVITE"); !a.Arm || a.After != 32*time.Second {
		t.Fatalf("created: %+v", a)
	}
	m.Step(t0.Add(time.Second), AckSeen, "ACK")
	m.Step(t0.Add(2*time.Second), RequestSeen, "UPDATE")
	if m.Requests["ACK"] != 1 || m.Requests["UPDATE"] != 1 || m.LastActivity() != t0.Add(2*time.Second) || m.Created() != t0 {
		t.Fatalf("bookkeeping: %+v", m)
	}
}

func TestIDFromEitherSide(t *testing.T) {
	parse := func(raw string) *sip.Request {
		msg, err := sip.NewParser().ParseSIP([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		return msg.(*sip.Request)
	}
	fromCaller := parse("BYE sip:b@10.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\n" +
		"From: <sip:a@x>;tag=aaa\r\nTo: <sip:b@x>;tag=bbb\r\nCall-ID: c1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n")
	fromCallee := parse("BYE sip:a@10.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK2\r\n" +
		"From: <sip:b@x>;tag=bbb\r\nTo: <sip:a@x>;tag=aaa\r\nCall-ID: c1\r\nCSeq: 9 BYE\r\nContent-Length: 0\r\n\r\n")
	a, ok1 := IDOf(fromCaller)
	b, ok2 := IDOf(fromCallee)
	if !ok1 || !ok2 || a != b {
		t.Fatalf("%v %v", a, b)
	}
	initial := parse("INVITE sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK3\r\n" +
		"From: <sip:a@x>;tag=aaa\r\nTo: <sip:b@x>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")
	if _, ok := IDOf(initial); ok {
		t.Fatal("a request without To tag has no dialog")
	}
}

// The diagram is what the machine does: created on the 2xx, confirmed by the ACK, ended by BYE or
// its timer (the ACK wait, then the lifetime), and no timer edge out of Early, where none runs.
func TestExploreDialog(t *testing.T) {
	ts := Explore(Timers{AckWait: 32 * time.Second, Lifetime: time.Hour})
	var lines []string
	for _, tr := range ts {
		lines = append(lines, tr.String())
	}
	text := strings.Join(lines, "\n")
	for _, want := range []string{
		"Early --> Accepted: Created / arm timer (32s)",
		"Accepted --> Confirmed: AckSeen / arm timer (1h0m0s)",
		"Accepted --> Terminated: TimerFired / end",
		"Confirmed --> Terminated: ByeSeen / end",
		"Confirmed --> Confirmed: RequestSeen / arm timer (1h0m0s)",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("missing %q in:\n%s", want, text)
		}
	}
	if strings.Contains(text, "Early --> Terminated: TimerFired") {
		t.Errorf("a timer fired in Early, where none is armed:\n%s", text)
	}
}
