package forward

import (
	"net/netip"
	"testing"

	"github.com/emiago/sipgo/sip"

	"github.com/partysip/partysip/actors/plugin"
	"github.com/partysip/partysip/actors/plugins/internal/plugintest"
	"github.com/partysip/partysip/sipcore/proxy"
)

func TestForward(t *testing.T) {
	route, err := proxy.ParseStaticRoute(`^9[0-9]+@=sip:10.0.0.9:5070`)
	if err != nil {
		t.Fatal(err)
	}
	f := &Forward{Router: &proxy.Router{Routes: []proxy.StaticRoute{route}, Local: plugintest.Local}}

	// Targets found earlier are kept.
	r := plugintest.Invite(t, "sip:bob@example.com")
	var contact sip.Uri
	_ = sip.ParseUri("sip:bob@192.168.0.7:5062", &contact)
	r.Targets = []proxy.Target{{URI: contact}}
	if f.Serve(r) != plugin.Forward || len(r.Targets) != 1 || r.Targets[0].URI.Host != "192.168.0.7" {
		t.Fatalf("located targets: %+v", r.Targets)
	}
	// A static route: the hop is the route's, the Request-URI stays.
	r = plugintest.Invite(t, "sip:9001@example.com")
	if f.Serve(r) != plugin.Forward || r.Targets[0].Hop == nil || r.Targets[0].Hop.Port != 5070 || r.Targets[0].URI.User != "9001" {
		t.Fatalf("static route: %+v", r.Targets)
	}
	// Another domain: its Request-URI.
	r = plugintest.Invite(t, "sip:carol@example.net")
	if f.Serve(r) != plugin.Forward || r.Targets[0].Hop != nil || r.Targets[0].URI.Host != "example.net" {
		t.Fatalf("foreign domain: %+v", r.Targets)
	}
	// An OPTIONS ping to us that reached it (sanity left it to after auth): 200 with Allow.
	r, _ = plugintest.Request(t, "OPTIONS sip:127.0.0.1:5060 SIP/2.0", "Max-Forwards: 70", "From: <sip:alice@example.com>;tag=1",
		"To: <sip:127.0.0.1:5060>", "CSeq: 1 OPTIONS")
	if f.Serve(r) != plugin.Answered || r.Answer.Code != 200 {
		t.Fatalf("OPTIONS to us: %+v", r.Answer)
	}
	// One of ours that nothing resolves: 404.
	r = plugintest.Invite(t, "sip:nobody@example.com")
	if f.Serve(r) != plugin.Answered || r.Answer.Code != 404 {
		t.Fatalf("unresolved: %+v", r.Answer)
	}
}

// The relay policy, closed: a destination the request names itself (a Route set, an in-dialog
// Request-URI, a domain we do not serve) is only for our authenticated users, proven dialogs
// and trusted sources; a stranger (127.0.0.3) gets 403 and no target. Static routes and located
// contacts are ours to use for anyone.
func TestRelayPolicy(t *testing.T) {
	route, err := proxy.ParseStaticRoute(`^9[0-9]+@=sip:127.0.0.1:5070`)
	if err != nil {
		t.Fatal(err)
	}
	relay := &proxy.RelayPolicy{Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.4/32")}}
	f := &Forward{Router: &proxy.Router{Routes: []proxy.StaticRoute{route}, Local: plugintest.Local}, Relay: relay}
	stranger, trusted := netip.MustParseAddr("127.0.0.3"), netip.MustParseAddr("127.0.0.4")
	inDialog := func() *plugin.Request {
		r, _ := plugintest.Request(t, "BYE sip:carol@127.0.0.2 SIP/2.0", "From: <sip:alice@example.org>;tag=a1",
			"To: <sip:carol@127.0.0.2>;tag=x", "CSeq: 2 BYE", "Max-Forwards: 70")
		return r
	}
	cases := []struct {
		name     string
		r        *plugin.Request
		src      netip.Addr
		identity string
		dialog   bool
		want     int // 0: forwarded
	}{
		{"foreign domain, stranger", plugintest.Invite(t, "sip:carol@127.0.0.2"), stranger, "", false, 403},
		{"Route to a foreign hop, stranger", plugintest.Invite(t, "sip:9001@example.com", "Route: <sip:127.0.0.2;lr>"), stranger, "", false, 403},
		{"our Route then a foreign one, stranger", plugintest.Invite(t, "sip:9001@example.com", "Route: <sip:127.0.0.1:5060;lr>, <sip:127.0.0.2;lr>"), stranger, "", false, 403},
		{"in-dialog Request-URI, unproven", inDialog(), stranger, "", false, 403},
		{"in-dialog Request-URI, proven", inDialog(), stranger, "", true, 0},
		{"foreign domain, authenticated user", plugintest.Invite(t, "sip:carol@127.0.0.2"), stranger, "alice", false, 0},
		{"foreign domain, trusted source", plugintest.Invite(t, "sip:carol@127.0.0.2"), trusted, "", false, 0},
		{"static route, stranger", plugintest.Invite(t, "sip:9001@example.com"), stranger, "", false, 0},
	}
	for _, c := range cases {
		c.r.SourceIP, c.r.Identity, c.r.Dialog = c.src, c.identity, c.dialog
		res := f.Serve(c.r)
		switch {
		case c.want == 0 && res != plugin.Forward:
			t.Errorf("%s: %v %+v, want forwarded", c.name, res, c.r.Answer)
		case c.want != 0 && (res != plugin.Answered || c.r.Answer.Code != c.want || len(c.r.Targets) != 0):
			t.Errorf("%s: %v %+v targets %v, want %d", c.name, res, c.r.Answer, c.r.Targets, c.want)
		}
	}
	// Located contacts are our users': anyone may call them.
	r := plugintest.Invite(t, "sip:bob@example.com")
	var contact sip.Uri
	_ = sip.ParseUri("sip:bob@127.0.0.5:5062", &contact)
	r.Targets, r.SourceIP = []proxy.Target{{URI: contact}}, stranger
	if f.Serve(r) != plugin.Forward {
		t.Fatalf("located contact refused: %+v", r.Answer)
	}
}
