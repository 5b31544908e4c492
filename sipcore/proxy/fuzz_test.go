package proxy

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzBadRequest answers any bytes as a rejected request would be: BadRequest and TooLarge never
// panic, and what they answer is one status line and whole header lines ending the header, no
// body, with the Via lines it came with.
func FuzzBadRequest(f *testing.F) {
	f.Add([]byte("INVITE sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bK1\r\nFrom: <sip:x@example.org>;tag=1\r\n" +
		"To: <sip:a@example.com>\r\nCall-ID: c\r\nCSeq: x INVITE\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("INVITE tel:+1555 SIP/2.0\r\nv: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bK2\r\ni: c\r\n\r\n"))
	f.Add([]byte("ACK sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, answer := range []func([]byte) ([]byte, bool){
			func(b []byte) ([]byte, bool) { return BadRequest(b, errors.New("fuzz")) }, TooLarge,
		} {
			out, ok := answer(data)
			if !ok {
				continue
			}
			if !bytes.HasPrefix(out, []byte("SIP/2.0 4")) && !bytes.HasPrefix(out, []byte("SIP/2.0 5")) {
				t.Fatalf("not a 4xx/5xx: %q", out)
			}
			head, rest, found := bytes.Cut(out, []byte("\r\n\r\n"))
			if !found || len(rest) != 0 {
				t.Fatalf("not one header ending in an empty line: %q", out)
			}
			if !bytes.Contains(head, []byte("\r\nContent-Length: 0")) {
				t.Fatalf("no Content-Length: 0: %q", out)
			}
			if bytes.Count(head, []byte("\n")) != bytes.Count(head, []byte("\r\n")) {
				t.Fatalf("a bare line feed in the answer: %q", out)
			}
		}
	})
}
