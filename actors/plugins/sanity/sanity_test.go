package sanity

import (
	"testing"

	"github.com/partysip/partysip/actors/plugin"
	"github.com/partysip/partysip/actors/plugins/internal/plugintest"
)

func TestSanity(t *testing.T) {
	s := &Sanity{Local: plugintest.Local}
	base := []string{"Max-Forwards: 70", "From: <sip:a@example.org>;tag=1", "To: <sip:b@example.com>"}
	cases := []struct {
		name string
		line string
		hdrs []string
		code int // 0: continue
	}{
		{"fine", "INVITE sip:b@example.com SIP/2.0", append(base, "CSeq: 1 INVITE"), 0},
		{"CSeq method mismatch", "INVITE sip:b@example.com SIP/2.0", append(base, "CSeq: 1 BYE"), 400},
		{"tel URI", "INVITE tel:+15551234 SIP/2.0", append(base, "CSeq: 1 INVITE"), 416},
		{"Proxy-Require", "INVITE sip:b@example.com SIP/2.0", append(base, "CSeq: 1 INVITE", "Proxy-Require: foo"), 420},
		{"OPTIONS to us", "OPTIONS sip:127.0.0.1:5060 SIP/2.0", append(base, "CSeq: 1 OPTIONS"), 200},
		{"OPTIONS to a user", "OPTIONS sip:b@example.com SIP/2.0", append(base, "CSeq: 1 OPTIONS"), 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, _ := plugintest.Request(t, c.line, c.hdrs...)
			res := s.Serve(r)
			switch {
			case c.code == 0 && res != plugin.Continue:
				t.Fatalf("want continue, got %v %+v", res, r.Answer)
			case c.code != 0 && (res != plugin.Answered || r.Answer.Code != c.code):
				t.Fatalf("want %d, got %v %+v", c.code, res, r.Answer)
			}
		})
	}
	// auth.challenge_own_options: the OPTIONS ping to us goes on to be authenticated.
	s.LeaveOwnOptions = true
	r, _ := plugintest.Request(t, "OPTIONS sip:127.0.0.1:5060 SIP/2.0", append(base, "CSeq: 1 OPTIONS")...)
	if res := s.Serve(r); res != plugin.Continue {
		t.Fatalf("OPTIONS to us left to auth: %v %+v", res, r.Answer)
	}
}
