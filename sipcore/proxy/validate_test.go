package proxy

import (
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

func reqFrom(t *testing.T, lines ...string) *sip.Request {
	t.Helper()
	return mustParse(t, []byte(strings.Join(lines, "\r\n")+"\r\n\r\n"))
}

func TestValidate(t *testing.T) {
	base := []string{
		"Via: SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bKv1",
		"To: <sip:bob@example.com>",
		"From: <sip:alice@example.org>;tag=1",
		"Call-ID: c1",
	}
	local := testLocal()
	mk := func(first string, extra ...string) *sip.Request {
		return reqFrom(t, append(append([]string{first}, base...), extra...)...)
	}
	loopReq := mk("OPTIONS sip:bob@example.com SIP/2.0", "CSeq: 1 OPTIONS")
	loopVia := "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=" + NewBranch(LoopHash(loopReq), "9")
	cases := []struct {
		name string
		req  *sip.Request
		code int
	}{
		{"ok", mk("OPTIONS sip:bob@example.com SIP/2.0", "CSeq: 1 OPTIONS", "Max-Forwards: 1"), 0},
		{"missing cseq", mk("OPTIONS sip:bob@example.com SIP/2.0"), 400},
		{"cseq method mismatch", mk("OPTIONS sip:bob@example.com SIP/2.0", "CSeq: 1 INVITE"), 400},
		{"tel uri", mk("OPTIONS tel:+123 SIP/2.0", "CSeq: 1 OPTIONS"), 416},
		{"max-forwards zero", mk("OPTIONS sip:bob@example.com SIP/2.0", "CSeq: 1 OPTIONS", "Max-Forwards: 0"), 483},
		{"proxy-require", mk("OPTIONS sip:bob@example.com SIP/2.0", "CSeq: 1 OPTIONS", "Proxy-Require: foo"), 420},
		{"loop", reqFrom(t, "OPTIONS sip:bob@example.com SIP/2.0", loopVia, base[0], base[1], base[2], base[3], "CSeq: 1 OPTIONS"), 482},
		{"spiral (request changed)", reqFrom(t, "OPTIONS sip:carol@example.com SIP/2.0", loopVia, base[0], base[1], base[2], base[3], "CSeq: 1 OPTIONS"), 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rej := Validate(c.req, local, LoopHash(c.req))
			got := 0
			if rej != nil {
				got = rej.Code
			}
			if got != c.code {
				t.Fatalf("got %d (%v), want %d", got, rej, c.code)
			}
			if got == 420 && (len(rej.Headers) != 1 || rej.Headers[0].Value() != "foo") {
				t.Fatalf("420 without Unsupported: foo: %v", rej.Headers)
			}
		})
	}
}

func TestBest(t *testing.T) {
	cases := []struct {
		codes    []int
		idx, out int
	}{
		{[]int{486, 603, 200}, 1, 603},
		{[]int{486, 404}, 1, 404},
		{[]int{500, 486}, 1, 486},
		{[]int{503}, 0, 500},
		{[]int{0, 480}, 1, 480},
		{[]int{0}, 0, 408},
		{[]int{404, 407}, 1, 407},
		{[]int{302, 486}, 0, 302},
		{nil, -1, 408},
	}
	for _, c := range cases {
		idx, out := Best(c.codes)
		if idx != c.idx || out != c.out {
			t.Errorf("Best(%v) = %d,%d want %d,%d", c.codes, idx, out, c.idx, c.out)
		}
	}
}

func TestRouterDecide(t *testing.T) {
	local := testLocal()
	r1, _ := ParseStaticRoute(`^100[0-9]@=sip:127.0.0.1:5070;transport=tcp`)
	router := &Router{Routes: []StaticRoute{r1}, Local: local}
	catchAll, _ := ParseStaticRoute(`.*=sip:127.0.0.1:5080`)
	cases := []struct {
		ruri    string
		toTag   string
		routes  []StaticRoute
		hop     string
		code    int
		comment string
	}{
		{"sip:1001@127.0.0.1:5060", "", nil, "TCP 127.0.0.1:5070", 0, "static route"},
		{"sip:alice@example.net", "", nil, "UDP example.net:5060", 0, "foreign domain: Request-URI"},
		{"sip:alice@example.com", "", nil, "", 404, "our domain, no route"},
		{"sip:bob@10.0.0.9:5062", ";tag=t1", []StaticRoute{catchAll}, "UDP 10.0.0.9:5062", 0, "in-dialog: remote target, not the catch-all"},
		{"sip:bob@127.0.0.1:5060", ";tag=t1", []StaticRoute{catchAll}, "UDP 127.0.0.1:5080", 0, "in-dialog addressed to us (SIPp): static route"},
		{"sip:bob@10.0.0.9:5062", "", []StaticRoute{catchAll}, "UDP 127.0.0.1:5080", 0, "new request: catch-all"},
	}
	for _, c := range cases {
		router := router
		if c.routes != nil {
			router = &Router{Routes: c.routes, Local: local}
		}
		req := reqFrom(t, "OPTIONS "+c.ruri+" SIP/2.0", "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx", "To: <sip:a@b>"+c.toTag, "From: <sip:c@d>;tag=1", "Call-ID: x", "CSeq: 1 OPTIONS")
		ts, rej := router.Decide(req)
		if c.code != 0 {
			if rej == nil || rej.Code != c.code {
				t.Errorf("%s: want %d, got %v", c.comment, c.code, rej)
			}
			continue
		}
		_, hop := Forward(req, ts[0], ForwardOptions{Branch: "z9hG4bK-1", Via: Outbound{Host: "127.0.0.1", Port: 5060, Transport: "UDP"}})
		if got := hop.Transport + " " + hop.Addr(); got != c.hop {
			t.Errorf("%s: hop %q want %q", c.comment, got, c.hop)
		}
	}
}

func TestParseStaticRouteErrors(t *testing.T) {
	for _, s := range []string{"nohop", "([=sip:1.2.3.4", ".*=sip:1.2.3.4;transport=sctp"} {
		if _, err := ParseStaticRoute(s); err == nil {
			t.Errorf("%q: expected error", s)
		}
	}
}

func TestAnswerOwn(t *testing.T) {
	local := testLocal()
	mk := func(first string, extra ...string) *sip.Request {
		return reqFrom(t, append([]string{first, "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKo", "To: <sip:x@y>",
			"From: <sip:a@b>;tag=1", "Call-ID: o1"}, extra...)...)
	}
	if rej := AnswerOwn(mk("OPTIONS sip:127.0.0.1:5060 SIP/2.0", "CSeq: 1 OPTIONS"), local); rej == nil || rej.Code != 200 {
		t.Fatalf("OPTIONS to the proxy: %v", rej)
	}
	for _, r := range []*sip.Request{
		mk("OPTIONS sip:bob@127.0.0.1:5060 SIP/2.0", "CSeq: 1 OPTIONS"),                    // to a user
		mk("OPTIONS sip:10.9.9.9 SIP/2.0", "CSeq: 1 OPTIONS"),                              // to another host
		mk("OPTIONS sip:127.0.0.1 SIP/2.0", "CSeq: 1 OPTIONS", "Route: <sip:10.9.9.9;lr>"), // routed on
		mk("INVITE sip:127.0.0.1:5060 SIP/2.0", "CSeq: 1 INVITE"),                          // not OPTIONS
	} {
		if rej := AnswerOwn(r, local); rej != nil {
			t.Errorf("%s answered locally", r.StartLine())
		}
	}
}
