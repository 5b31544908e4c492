// Package redirect makes partysip a redirect server (RFC 3261 §8.3): instead of proxying, it
// tells the caller where to go with a 302 and the contact list.
package redirect

import (
	"slices"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/partysip/partysip/actors/plugin"
	"github.com/partysip/partysip/sipcore/base"
	"github.com/partysip/partysip/sipcore/proxy"
	"github.com/partysip/partysip/sipcore/registrar"
)

// Redirect answers 302 Moved Temporarily to a request that location resolved (for a domain in
// Domains, or any when Domains is empty), listing the contacts with their q; and to a request
// matching a static route marked redirect, pointing at the route's hop.
type Redirect struct {
	Domains []string
	Router  *proxy.Router
	Local   *base.Local
}

var _ plugin.Handler = (*Redirect)(nil)

// Name is "redirect".
func (*Redirect) Name() string { return "redirect" }

// Serve redirects what it applies to and lets the rest go on.
func (d *Redirect) Serve(r *plugin.Request) plugin.Result {
	w := r.Work
	if r.InDialog() || w.Method == sip.ACK || w.Method == sip.CANCEL || w.Method == sip.REGISTER {
		return plugin.Continue
	}
	if r.Located && d.applies(w.Recipient.Host) {
		hdrs := make([]sip.Header, 0, len(r.Targets))
		for _, t := range r.Targets {
			v := "<" + t.URI.String() + ">"
			if t.Q > 0 {
				v += ";q=" + registrar.FormatQ(t.Q)
			}
			hdrs = append(hdrs, sip.NewHeader("Contact", v))
		}
		return r.Reply(302, "Moved Temporarily", hdrs...)
	}
	if !r.Located && proxy.TopRoute(w) == nil {
		if sr := d.Router.Match(w); sr != nil && sr.Redirect {
			u := sr.To
			u.User = w.Recipient.User
			return r.Reply(302, "Moved Temporarily", sip.NewHeader("Contact", "<"+u.String()+">"))
		}
	}
	return plugin.Continue
}

func (d *Redirect) applies(host string) bool {
	if len(d.Domains) == 0 {
		return true
	}
	return slices.ContainsFunc(d.Domains, func(x string) bool { return strings.EqualFold(x, host) })
}
