// Package registrar answers REGISTER requests for the domains we serve (RFC 3261 §10.3) through
// the registrar service actor, which stores the bindings before the 200 OK goes out.
package registrar

import (
	"github.com/emiago/sipgo/sip"

	"github.com/partysip/partysip/actors/plugin"
	"github.com/partysip/partysip/actors/services"
	"github.com/partysip/partysip/sipcore/base"
	"github.com/partysip/partysip/sipcore/registrar"
)

// Registrar handles REGISTER whose Request-URI is one of our domains or addresses; a REGISTER
// for another domain goes on (§10.3 step 1: a registrar that is also a proxy forwards it).
type Registrar struct {
	Local  *base.Local
	Policy registrar.Policy
	// Register hands a parsed REGISTER to the registrar service (services.Services.Register);
	// the answer comes back through the request's ReplyTo.
	Register func(reg *registrar.Register, reply func(any))
}

var _ plugin.Waiter = (*Registrar)(nil)

// Name is "registrar".
func (*Registrar) Name() string { return "registrar" }

// Serve parses the REGISTER and hands it to the registrar service.
func (g *Registrar) Serve(r *plugin.Request) plugin.Result {
	if r.Work.Method != sip.REGISTER || !g.Local.IsDomain(r.Work.Recipient.Host) {
		return plugin.Continue
	}
	reg, rej := registrar.Parse(r.Work, g.Policy, g.Local, r.Source)
	if rej != nil {
		return r.ReplyWith(rej)
	}
	g.Register(reg, r.ReplyTo)
	return plugin.Wait
}

// Resume answers with what the registrar decided.
func (g *Registrar) Resume(r *plugin.Request, answer any) plugin.Result {
	if a, ok := answer.(*services.RegisterAnswered); ok {
		return r.ReplyWith(a.Answer)
	}
	return r.Reply(500, "Server Internal Error")
}
