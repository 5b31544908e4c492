// Package location resolves a Request-URI in one of our domains to the contacts registered
// for it (RFC 3261 §16.5 "location service"), with configured aliases.
package location

import (
	"time"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/partysip/partysip/actors/plugin"
	"github.com/partysip/partysip/sipcore/base"
	"github.com/partysip/partysip/sipcore/proxy"
	"github.com/partysip/partysip/sipcore/registrar"
)

// Location looks up the contacts of the Request-URI's address-of-record in the location
// service's published table (no actor is asked: the lookup runs on the request's own actor).
// Found: they become the targets, best q first. Not found: a static route matching the request
// still applies; otherwise 480 for a known user without a live binding and 404 for an unknown
// one.
type Location struct {
	Local  *base.Local
	Router *proxy.Router
	// Lookup is the location service (services.Services.Lookup): the live bindings of an AOR or
	// of those it is an alias of, and whether the AOR is known.
	Lookup func(aor string, now time.Time) ([]registrar.Binding, bool)
	// Fork is how the contacts of one AOR are tried (forking.mode).
	Fork proxy.ForkMode
	// Conceal answers an unauthenticated request for a known user with no binding 404, as for
	// one that does not exist, so that strangers cannot list our users (svwar reads 480 as
	// "exists"). Set when auth is in the chain: without it anyone may register anyway.
	Conceal bool
}

// Name is "location".
func (*Location) Name() string { return "location" }

// Serve turns the contacts of a new request to a user in one of our domains into targets, or
// answers.
func (l *Location) Serve(r *plugin.Request) plugin.Result {
	w := r.Work
	if r.InDialog() || proxy.TopRoute(w) != nil || w.Method == sip.ACK || w.Method == sip.CANCEL || w.Method == sip.REGISTER ||
		w.Recipient.User == "" || !l.Local.IsDomain(w.Recipient.Host) {
		return plugin.Continue
	}
	bindings, known := l.Lookup(registrar.LocalAOR(&w.Recipient, l.Local), r.Now)
	for _, b := range bindings {
		t, err := Target(&b)
		if err != nil {
			r.Log.Warn("stored contact unusable", zap.String("call_id", r.CallID), zap.String("contact", b.Contact), zap.Error(err))
			continue
		}
		r.Targets = append(r.Targets, t)
	}
	if len(r.Targets) > 0 {
		r.Located, r.Fork = true, l.Fork
		return plugin.Continue
	}
	if l.Router.Match(r.Work) != nil {
		return plugin.Continue
	}
	if known && !(l.Conceal && r.Identity == "") {
		return r.Reply(480, "Temporarily Unavailable")
	}
	return r.Reply(404, "Not Found")
}

// Target is the branch for one binding: its contact as Request-URI, its Path as routes, and for
// a UA behind a NAT the address its REGISTER came from as the next hop.
func Target(b *registrar.Binding) (proxy.Target, error) {
	t := proxy.Target{Q: max(b.Q, 0)} // QUnset (-1) becomes "none"
	if err := sip.ParseUri(b.Contact, &t.URI); err != nil {
		return t, err
	}
	if b.Received != "" {
		var hop sip.Uri
		if err := sip.ParseUri(b.Received, &hop); err != nil {
			return t, err
		}
		t.Hop = &hop
	}
	for _, p := range b.Path {
		var u sip.Uri
		params := sip.NewParams()
		if _, err := sip.ParseAddressValue(p, &u, &params); err != nil {
			return t, err
		}
		t.Routes = append(t.Routes, u)
	}
	return t, nil
}
