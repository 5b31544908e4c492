package location

import (
	"testing"

	"github.com/emiago/sipgo/sip"

	"github.com/partysip/partysip/actors/plugin"
	"github.com/partysip/partysip/actors/plugins/internal/plugintest"
	"github.com/partysip/partysip/actors/plugins/registrar"
	"github.com/partysip/partysip/actors/services"
	"github.com/partysip/partysip/sipcore/proxy"
	sipreg "github.com/partysip/partysip/sipcore/registrar"
)

func TestLocationPlugin(t *testing.T) {
	svc := plugintest.StartServices(t, services.Options{
		Users:   map[string]map[string]string{"carol": {"MD5": "00"}},
		Aliases: map[string][]string{"sip:team@example.com": {"sip:bob@example.com", "sip:dave@example.com"}},
	})
	g := &registrar.Registrar{Local: plugintest.Local, Policy: sipreg.DefaultPolicy, Register: svc.Register}
	for _, reg := range []struct{ user, contact string }{
		{"bob", "Contact: <sip:bob@10.0.0.2:5062>;q=0.5"},
		{"dave", "Contact: <sip:dave@10.0.0.4>;q=0.9"},
	} {
		r, _ := plugintest.Request(t, "REGISTER sip:example.com SIP/2.0", "Max-Forwards: 70",
			"From: <sip:"+reg.user+"@example.com>;tag=1", "To: <sip:"+reg.user+"@example.com>",
			"CSeq: 1 REGISTER", reg.contact, "Path: <sip:edge.example.com;lr>", "Supported: path")
		if svc.Run(t, g, r) != plugin.Answered || r.Answer.Code != 200 {
			t.Fatalf("register %s: %+v", reg.user, r.Answer)
		}
	}
	route, _ := proxy.ParseStaticRoute(`^9[0-9]+@=sip:10.0.0.9:5070`)
	l := &Location{Local: plugintest.Local, Router: &proxy.Router{Routes: []proxy.StaticRoute{route}, Local: plugintest.Local}, Lookup: svc.Lookup}

	// A port on one of our domains does not matter: one AOR per user of the domain.
	r := plugintest.Invite(t, "sip:bob@example.com:5080")
	if res := svc.Run(t, l, r); res != plugin.Continue || !r.Located || len(r.Targets) != 1 {
		t.Fatalf("bob: %v %+v %+v", res, r.Targets, r.Answer)
	}
	tg := r.Targets[0]
	if tg.URI.String() != "sip:bob@10.0.0.2:5062" || tg.Q != 500 || len(tg.Routes) != 1 || tg.Routes[0].Host != "edge.example.com" {
		t.Fatalf("bob's target: %+v", tg)
	}
	// An alias: both contacts, best q first.
	r = plugintest.Invite(t, "sip:team@example.com")
	if svc.Run(t, l, r); len(r.Targets) != 2 || r.Targets[0].URI.User != "dave" {
		t.Fatalf("alias: %+v", r.Targets)
	}
	// A configured user with no binding: 480; nobody: 404; nobody but a route matches: on.
	for uri, code := range map[string]int{"sip:carol@example.com": 480, "sip:zed@example.com": 404, "sip:9001@example.com": 0} {
		r = plugintest.Invite(t, uri)
		res := svc.Run(t, l, r)
		if (code == 0 && res != plugin.Continue) || (code != 0 && (res != plugin.Answered || r.Answer.Code != code)) {
			t.Errorf("%s: %v %+v, want %d", uri, res, r.Answer, code)
		}
	}
	// With auth in the chain (Conceal), a stranger cannot tell a known user with no binding from
	// nobody: 404 for both; our authenticated users still learn 480.
	l.Conceal = true
	for _, c := range []struct {
		uri, identity string
		code          int
	}{{"sip:carol@example.com", "", 404}, {"sip:zed@example.com", "", 404}, {"sip:carol@example.com", "alice", 480}} {
		r = plugintest.Invite(t, c.uri)
		r.Identity = c.identity
		if svc.Run(t, l, r); r.Answer == nil || r.Answer.Code != c.code {
			t.Errorf("conceal, %s as %q: %+v, want %d", c.uri, c.identity, r.Answer, c.code)
		}
	}
	l.Conceal = false
	// Requests proven in-dialog and requests for other domains are not looked up; a To tag
	// without the proof is a new request, looked up like one.
	r = plugintest.Invite(t, "sip:bob@example.com")
	r.Work.To().Params.Add("tag", "x")
	r.Dialog = true
	if res := svc.Run(t, l, r); res != plugin.Continue || len(r.Targets) != 0 {
		t.Fatalf("in-dialog looked up: %+v", r.Targets)
	}
	r = plugintest.Invite(t, "sip:bob@example.com")
	r.Work.To().Params.Add("tag", "x")
	if res := svc.Run(t, l, r); res != plugin.Continue || len(r.Targets) == 0 {
		t.Fatalf("unproven To tag not looked up: %v %+v", res, r.Targets)
	}
	if res := svc.Run(t, l, plugintest.Invite(t, "sip:bob@example.net")); res != plugin.Continue {
		t.Fatal("foreign domain looked up")
	}
}

// A binding of a UA behind a NAT is reached at the address its REGISTER came from; the
// Request-URI stays its contact. Without Received, the contact is the next hop.
func TestTargetBehindNAT(t *testing.T) {
	b := sipreg.Binding{Contact: "sip:bob@10.0.0.99:5060", Q: sipreg.QUnset, Received: "sip:203.0.113.5:40312"}
	tg, err := Target(&b)
	if err != nil {
		t.Fatal(err)
	}
	if tg.URI.Host != "10.0.0.99" || tg.Hop == nil || tg.Hop.Host != "203.0.113.5" || tg.Hop.Port != 40312 {
		t.Fatalf("target %+v hop %+v", tg.URI, tg.Hop)
	}
	if hop := proxy.NextHop(&sip.Request{}, tg); hop.Host != "203.0.113.5" || hop.Port != 40312 || hop.Transport != "UDP" {
		t.Fatalf("next hop %+v", hop)
	}
	b.Received = ""
	if tg, _ = Target(&b); tg.Hop != nil {
		t.Fatalf("hop without NAT: %+v", tg.Hop)
	}
}
