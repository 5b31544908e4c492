package registrar

import (
	"strings"
	"testing"

	"github.com/partysip/partysip/actors/plugin"
	"github.com/partysip/partysip/actors/plugins/internal/plugintest"
	"github.com/partysip/partysip/actors/services"
	"github.com/partysip/partysip/sipcore/registrar"
)

func register(t *testing.T, uri, user string, cseq string, extra ...string) *plugin.Request {
	r, _ := plugintest.Request(t, "REGISTER "+uri+" SIP/2.0", append([]string{
		"Max-Forwards: 70", "From: <sip:" + user + "@example.com>;tag=1", "To: <sip:" + user + "@example.com>",
		"Call-ID: reg-" + user, "CSeq: " + cseq + " REGISTER"}, extra...)...)
	return r
}

func TestRegistrarPlugin(t *testing.T) {
	svc := plugintest.StartServices(t, services.Options{})
	g := &Registrar{Local: plugintest.Local, Policy: registrar.DefaultPolicy, Register: svc.Register}

	r := register(t, "sip:example.com", "bob", "1", "Contact: <sip:bob@10.0.0.2:5062>;expires=600")
	if res := svc.Run(t, g, r); res != plugin.Answered || r.Answer.Code != 200 {
		t.Fatalf("register: %v %+v", res, r.Answer)
	}
	var contacts []string
	for _, h := range r.Answer.Headers {
		if h.Name() == "Contact" {
			contacts = append(contacts, h.Value())
		}
	}
	if len(contacts) != 1 || !strings.HasPrefix(contacts[0], "<sip:bob@10.0.0.2:5062>;expires=") {
		t.Fatalf("200 contacts: %v", contacts)
	}
	// 423 comes from parsing, before the service is asked.
	r = register(t, "sip:example.com", "bob", "2", "Contact: <sip:bob@10.0.0.2:5062>;expires=5")
	if res := svc.Run(t, g, r); res != plugin.Answered || r.Answer.Code != 423 {
		t.Fatalf("too brief: %v %+v", res, r.Answer)
	}
	// A REGISTER for another domain is not ours to answer (§10.3 step 1): it goes on.
	r = register(t, "sip:example.net", "bob", "3", "Contact: <sip:bob@10.0.0.2:5062>")
	if res := svc.Run(t, g, r); res != plugin.Continue {
		t.Fatalf("foreign registrar: %v", res)
	}
	// Other methods go on.
	if res := svc.Run(t, g, plugintest.Invite(t, "sip:bob@example.com")); res != plugin.Continue {
		t.Fatalf("INVITE: %v", res)
	}
}
