package proxy

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// inDialog builds a request of the dialog of Call-ID "c1" between tags "caller" and "callee",
// sent by the caller (fromCaller) or the callee, with the given Route header (none when "").
func inDialog(t *testing.T, method, ruri, route string, fromCaller bool) *sip.Request {
	t.Helper()
	return inCall(t, "c1", method, ruri, route, fromCaller)
}

// inCall is inDialog with another Call-ID.
func inCall(t *testing.T, callID, method, ruri, route string, fromCaller bool) *sip.Request {
	t.Helper()
	from, to := "<sip:alice@example.com>;tag=caller", "<sip:bob@example.com>;tag=callee"
	if !fromCaller {
		from, to = "<sip:bob@example.com>;tag=callee", "<sip:alice@example.com>;tag=caller"
	}
	raw := method + " " + ruri + " SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKd1\r\n" +
		"From: " + from + "\r\nTo: " + to + "\r\nCall-ID: " + callID + "\r\nCSeq: 2 " + method + "\r\nMax-Forwards: 70\r\n"
	if route != "" {
		raw += "Route: " + route + "\r\n"
	}
	return mustParse(t, []byte(raw+"Content-Length: 0\r\n\r\n"))
}

// recordRouteOf forwards the dialog's INVITE through Forward with signer's token and returns
// the Record-Route URI we put in, as the parties will send it back in their Route.
func recordRouteOf(t *testing.T, signer DialogSigner) string {
	t.Helper()
	invite := mustParse(t, []byte("INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKi1\r\n"+
		"From: <sip:alice@example.com>;tag=caller\r\nTo: <sip:bob@example.com>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n"+
		"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"))
	var target sip.Uri
	if err := sip.ParseUri("sip:bob@10.0.0.2", &target); err != nil {
		t.Fatal(err)
	}
	out, _ := Forward(invite, Target{URI: target}, ForwardOptions{Branch: "z9hG4bKo1", RecordRoute: true,
		Sig: signer.RecordRouteToken(invite), Via: Outbound{Host: "127.0.0.1", Port: 5060, Transport: "UDP"}})
	rr := out.GetHeader("Record-Route")
	if rr == nil || !strings.Contains(rr.Value(), ";"+SigParam+"=") {
		t.Fatalf("Record-Route not signed: %v", rr)
	}
	return rr.Value()
}

// A To tag is proof of nothing: only a Route that we signed for this dialog is, from either
// party, and never for a REGISTER.
func TestDialogProven(t *testing.T) {
	signer := DialogSigner{Secret: []byte("node secret")}
	rr := recordRouteOf(t, signer)
	otherNode := recordRouteOf(t, DialogSigner{Secret: []byte("another secret")})
	unsigned := "<sip:127.0.0.1:5060;lr>"
	forged := strings.Replace(rr, SigParam+"=", SigParam+"=x", 1)
	local := testLocal()
	cases := []struct {
		name string
		req  *sip.Request
		want bool
	}{
		{"caller's BYE through our signed Record-Route", inDialog(t, "BYE", "sip:bob@10.0.0.2", rr, true), true},
		{"callee's BYE (tags swapped)", inDialog(t, "BYE", "sip:alice@10.0.0.1", rr, false), true},
		{"re-INVITE, then a foreign hop", inDialog(t, "INVITE", "sip:bob@10.0.0.2", rr+", <sip:127.0.0.2;lr>", true), true},
		{"strict router: our URI in the Request-URI", inDialog(t, "BYE", strings.Trim(rr, "<>"), "<sip:bob@10.0.0.2>", true), true},
		{"To tag, no Route", inDialog(t, "INVITE", "sip:bob@127.0.0.2", "", true), false},
		{"Route to a foreign hop", inDialog(t, "INVITE", "sip:bob@127.0.0.2", "<sip:127.0.0.2;lr>", true), false},
		{"our Route, unsigned, then foreign", inDialog(t, "INVITE", "sip:bob@127.0.0.2", unsigned+", <sip:127.0.0.2;lr>", true), false},
		{"our Route, forged signature", inDialog(t, "MESSAGE", "sip:bob@127.0.0.2", forged, true), false},
		{"signed by another secret", inDialog(t, "BYE", "sip:bob@10.0.0.2", otherNode, true), false},
		{"REGISTER with our signed Route", inDialog(t, "REGISTER", "sip:example.com", rr, true), false},
	}
	for _, c := range cases {
		if got := signer.Proven(c.req, local); got != c.want {
			t.Errorf("%s: proven %v, want %v", c.name, got, c.want)
		}
	}
	// The same signed Route on another call (another Call-ID) proves nothing.
	if signer.Proven(inCall(t, "c2", "BYE", "sip:bob@10.0.0.2", rr, true), local) {
		t.Error("a signature replayed on another Call-ID was accepted")
	}
	if (DialogSigner{}).Proven(inDialog(t, "BYE", "sip:bob@10.0.0.2", rr, true), local) {
		t.Error("a signer without a secret proved a dialog")
	}
}

// Route says which destinations are foreign (named by the request itself) and which are ours
// to choose (a configured route).
func TestRouteForeign(t *testing.T) {
	route, err := ParseStaticRoute(`^carol@example\.com$=sip:127.0.0.1:5070`)
	if err != nil {
		t.Fatal(err)
	}
	router := &Router{Routes: []StaticRoute{route}, Local: testLocal()}
	cases := []struct {
		name    string
		req     *sip.Request
		foreign bool
		code    int
	}{
		{"static route", inDialog(t, "INVITE", "sip:carol@example.com", "", true), false, 0},
		{"Route set", inDialog(t, "INVITE", "sip:carol@example.com", "<sip:127.0.0.2;lr>", true), true, 0},
		{"in-dialog Request-URI", inDialog(t, "BYE", "sip:bob@127.0.0.2", "", true), true, 0},
		{"in-dialog to us (SIPp's built-in UAC): a static route", inDialog(t, "BYE", "sip:carol@example.com", "", true), false, 0},
		{"domain we do not serve", inDialog(t, "INVITE", "sip:x@elsewhere.example", "", true), true, 0},
		{"our domain, no route", inDialog(t, "INVITE", "sip:nobody@example.com", "", true), false, 404},
	}
	for _, c := range cases {
		rt, rej := router.Route(c.req)
		code := 0
		if rej != nil {
			code = rej.Code
		}
		if code != c.code || (rej == nil && rt.Foreign != c.foreign) {
			t.Errorf("%s: foreign %v code %d, want foreign %v code %d", c.name, rt.Foreign, code, c.foreign, c.code)
		}
	}
}

func TestRelayPolicy(t *testing.T) {
	stranger, trusted := netip.MustParseAddr("127.0.0.3"), netip.MustParseAddr("10.1.2.3")
	closed := &RelayPolicy{Trusted: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}}
	cases := []struct {
		name           string
		p              *RelayPolicy
		src            netip.Addr
		authed, dialog bool
		want           bool
	}{
		{"stranger, closed", closed, stranger, false, false, false},
		{"authenticated user", closed, stranger, true, false, true},
		{"proven dialog", closed, stranger, false, true, true},
		{"trusted source", closed, trusted, false, false, true},
		{"trusted source as IPv4-mapped IPv6", closed, netip.MustParseAddr("::ffff:10.1.2.3"), false, false, true},
		{"open relay", &RelayPolicy{Open: true}, stranger, false, false, true},
	}
	for _, c := range cases {
		if got := c.p.Allows(c.src, c.authed, c.dialog); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
