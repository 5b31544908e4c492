package redirect

import (
	"testing"

	"github.com/emiago/sipgo/sip"

	"github.com/partysip/partysip/actors/plugin"
	"github.com/partysip/partysip/actors/plugins/internal/plugintest"
	"github.com/partysip/partysip/sipcore/proxy"
)

func located(t *testing.T, uri string, contacts map[string]int) *plugin.Request {
	r := plugintest.Invite(t, uri)
	for c, q := range contacts {
		var u sip.Uri
		if err := sip.ParseUri(c, &u); err != nil {
			t.Fatal(err)
		}
		r.Targets = append(r.Targets, proxy.Target{URI: u, Q: q})
	}
	r.Located = true
	return r
}

func TestRedirectLocated(t *testing.T) {
	d := &Redirect{Router: &proxy.Router{Local: plugintest.Local}, Local: plugintest.Local}
	r := located(t, "sip:bob@example.com", map[string]int{"sip:bob@10.0.0.2:5062": 500})
	if d.Serve(r) != plugin.Answered || r.Answer.Code != 302 || len(r.Answer.Headers) != 1 ||
		r.Answer.Headers[0].Value() != "<sip:bob@10.0.0.2:5062>;q=0.5" {
		t.Fatalf("302: %+v", r.Answer)
	}
	// Only the listed domains are redirected.
	d.Domains = []string{"redirect.example.com"}
	r = located(t, "sip:bob@example.com", map[string]int{"sip:bob@10.0.0.2": 0})
	if d.Serve(r) != plugin.Continue {
		t.Fatalf("unlisted domain redirected: %+v", r.Answer)
	}
	// Not located (no binding, a foreign domain): nothing to redirect to.
	if r := plugintest.Invite(t, "sip:carol@example.net"); d.Serve(r) != plugin.Continue {
		t.Fatalf("unlocated: %+v", r.Answer)
	}
}

func TestRedirectRoute(t *testing.T) {
	route, err := proxy.ParseStaticRoute(`^9[0-9]+@=sip:gw.example.net:5070`)
	if err != nil {
		t.Fatal(err)
	}
	route.Redirect = true
	d := &Redirect{Router: &proxy.Router{Routes: []proxy.StaticRoute{route}, Local: plugintest.Local}, Local: plugintest.Local}
	r := plugintest.Invite(t, "sip:9001@example.com")
	if d.Serve(r) != plugin.Answered || r.Answer.Code != 302 || r.Answer.Headers[0].Value() != "<sip:9001@gw.example.net:5070>" {
		t.Fatalf("route redirect: %+v", r.Answer)
	}
	// Requests proven in-dialog are never redirected.
	r = plugintest.Invite(t, "sip:9001@example.com")
	r.Work.To().Params.Add("tag", "x")
	r.Dialog = true
	if d.Serve(r) != plugin.Continue {
		t.Fatal("in-dialog request redirected")
	}
}
