package proxy

import (
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// A 400 names the problem in SIP terms, never in Go's: the header whose number is malformed,
// or the parser's words when they are about SIP.
func TestBadRequestReason(t *testing.T) {
	base := "INVITE sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bK1\r\nFrom: <sip:x@example.org>;tag=1\r\n" +
		"To: <sip:a@example.com>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	cases := []struct{ from, to, want string }{
		{"CSeq: 1 INVITE", "CSeq: x INVITE", "SIP/2.0 400 Bad Request (malformed CSeq)\r\n"},
		{"Content-Length: 0", "Content-Length: abc", "SIP/2.0 400 Bad Request (malformed Content-Length)\r\n"},
		{"Max-Forwards: 70", "Max-Forwards: zz", "SIP/2.0 400 Bad Request (malformed Max-Forwards)\r\n"},
		{"From: <sip:x@example.org>;tag=1", "From: <<<", "SIP/2.0 400 Bad Request (invalid uri, missing end bracket)\r\n"},
	}
	for _, c := range cases {
		raw := []byte(strings.Replace(base, c.from, c.to, 1))
		_, err := sip.NewParser().ParseSIP(raw)
		if err == nil {
			t.Fatalf("%q parsed", c.to)
		}
		out, ok := BadRequest(raw, err)
		if !ok || !strings.HasPrefix(string(out), c.want) {
			t.Errorf("%q (%v): %q, want it to start %q", c.to, err, firstLineOf(out), c.want)
		}
		if strings.Contains(string(out), "strconv") {
			t.Errorf("%q: Go's error text on the wire: %q", c.to, firstLineOf(out))
		}
	}
}

func firstLineOf(b []byte) string {
	line, _, _ := strings.Cut(string(b), "\r\n")
	return line
}

// A request too large to read is answered 513 with what matches it to its transaction; a
// response or an ACK too large is not answered.
func TestTooLarge(t *testing.T) {
	req := "MESSAGE sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bK1\r\nFrom: <sip:x@example.org>;tag=1\r\n" +
		"To: <sip:a@example.com>\r\nCall-ID: big\r\nCSeq: 7 MESSAGE\r\nMax-Forwards: 70\r\nContent-Length: 70000\r\n\r\n" + strings.Repeat("x", 70000)
	out, ok := TooLarge([]byte(req))
	if !ok || firstLineOf(out) != "SIP/2.0 513 Message Too Large" {
		t.Fatalf("%v %q", ok, firstLineOf(out))
	}
	for _, h := range []string{"Via: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bK1", "Call-ID: big", "CSeq: 7 MESSAGE", "Content-Length: 0"} {
		if !strings.Contains(string(out), h+"\r\n") {
			t.Errorf("the 513 lacks %q:\n%s", h, out)
		}
	}
	for _, raw := range []string{strings.Replace(req, "MESSAGE sip:a@example.com SIP/2.0", "SIP/2.0 200 OK", 1),
		strings.Replace(req, "MESSAGE sip:", "ACK sip:", 1)} {
		if _, ok := TooLarge([]byte(raw)); ok {
			t.Errorf("answered: %q", firstLineOf([]byte(raw)))
		}
	}
}
