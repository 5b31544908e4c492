package forward

import (
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
	// One of ours that nothing resolves: 404.
	r = plugintest.Invite(t, "sip:nobody@example.com")
	if f.Serve(r) != plugin.Answered || r.Answer.Code != 404 {
		t.Fatalf("unresolved: %+v", r.Answer)
	}
}
