package transport

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/partysip/partysip/config"
)

// The framing scanner follows a stream through keep-alives, headers (Content-Length long and
// compact, split anywhere across reads) and bodies.
func TestStreamPhases(t *testing.T) {
	msg := func(body string, compact bool) string {
		cl := "Content-Length: "
		if compact {
			cl = "l:"
		}
		return "MESSAGE sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bK1\r\n" + cl + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	}
	head := func(m string) string { h, _, _ := strings.Cut(m, "\r\n\r\n"); return h + "\r\n\r\n" }
	one, two, three := msg("hello", false), msg("", false), msg("0123456789", true)
	segments := []struct {
		bytes string
		after streamPhase
	}{
		{"\r\n\r\n", phaseIdle}, {head(one), phaseBody}, {"hello", phaseIdle}, {"\r\n\r\n", phaseIdle},
		{head(two)[:20], phaseHeader}, {head(two)[20:], phaseIdle},
		{head(three), phaseBody}, {"01234", phaseBody}, {"56789", phaseIdle},
	}
	for _, size := range []int{1, 2, 7, 64, 1000} {
		c := &timedConn{framed: true}
		for i, seg := range segments {
			for j := 0; j < len(seg.bytes); j += size {
				c.advance([]byte(seg.bytes[j:min(j+size, len(seg.bytes))]), time.Now())
			}
			if c.phase != seg.after {
				t.Fatalf("reads of %d bytes: after segment %d, phase %d, want %d", size, i, c.phase, seg.after)
			}
		}
	}
}

// The deadline of each phase: from the opening, the message's first byte, the header's end, the
// last byte; none when its setting is 0.
func TestStreamDeadlines(t *testing.T) {
	lim := &ConnLimits{}
	lim.Set(config.Limits{ConnectionIdle: time.Hour, HeaderTimeout: 10 * time.Second, BodyTimeout: 5 * time.Second}, nil)
	t0 := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	c := &timedConn{limits: lim, framed: true, since: t0}
	check := func(want time.Time, phase string) {
		t.Helper()
		if got, why := c.deadline(); !got.Equal(want) || !strings.Contains(why, phase) {
			t.Fatalf("deadline %v (%s), want %v (%s)", got, why, want, phase)
		}
	}
	check(t0.Add(10*time.Second), "header_timeout of connecting")
	c.advance([]byte("INVITE sip:a@b SIP/2.0\r\nContent-Len"), t0.Add(time.Second))
	check(t0.Add(11*time.Second), "header not complete")
	c.advance([]byte("gth: 4\r\n"), t0.Add(9*time.Second)) // bytes keep coming: the deadline stays
	check(t0.Add(11*time.Second), "header not complete")
	c.advance([]byte("\r\nab"), t0.Add(10*time.Second))
	check(t0.Add(15*time.Second), "body not complete")
	c.advance([]byte("cd"), t0.Add(12*time.Second))
	check(t0.Add(12*time.Second+time.Hour), "idle")
	c.advance([]byte("\r\n\r\n"), t0.Add(time.Minute)) // a keep-alive
	check(t0.Add(time.Minute+time.Hour), "idle")
	lim.Set(config.Limits{}, nil)
	if got, _ := c.deadline(); !got.IsZero() {
		t.Fatalf("deadline %v with every setting 0", got)
	}
}

// FuzzFraming: the connection deadlines' framing scanner ends where it ends however the stream
// is cut into reads.
func FuzzFraming(f *testing.F) {
	f.Add([]byte("INVITE sip:a@b SIP/2.0\r\nContent-Length: 4\r\n\r\nabcd\r\n\r\n"))
	f.Add([]byte("\r\n\r\nMESSAGE sip:a@b SIP/2.0\r\nl: 2\r\n\r\nhi"))
	f.Fuzz(func(t *testing.T, data []byte) {
		whole, split := &timedConn{framed: true}, &timedConn{framed: true}
		now := time.Now()
		whole.advance(data, now)
		split.advance(data[:len(data)/3], now)
		split.advance(data[len(data)/3:], now)
		if whole.phase != split.phase || whole.remaining != split.remaining || whole.length != split.length {
			t.Fatalf("framing scanner: whole %d/%d/%d, in two reads %d/%d/%d", whole.phase, whole.length, whole.remaining,
				split.phase, split.length, split.remaining)
		}
	})
}
