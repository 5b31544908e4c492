// Package forward ends the request route: it forwards the request to the targets found so far
// (by location), or else where RFC 3261 §16.5 routing sends it.
package forward

import (
	"go.uber.org/zap"

	"github.com/partysip/partysip/actors/plugin"
	"github.com/partysip/partysip/sipcore/proxy"
)

// Forward sends the request on: to Request.Targets when a plugin set them, else by the Route
// set, the Request-URI of an in-dialog request, the static routes, or the Request-URI of a
// domain we do not serve; a request for one of our domains that nothing resolves gets 404.
// Destinations the request named itself (not a static route, not a located contact) are for
// those the relay policy allows; others get 403.
type Forward struct {
	Router *proxy.Router
	Relay  *proxy.RelayPolicy // nil: open
}

var _ plugin.Handler = (*Forward)(nil)

// Name is "forward".
func (*Forward) Name() string { return "forward" }

// Serve decides the targets if no plugin did, and forwards.
func (f *Forward) Serve(r *plugin.Request) plugin.Result {
	if own := proxy.AnswerOwn(r.Work, f.Router.Local); own != nil {
		return r.ReplyWith(own) // an OPTIONS ping to us the sanity plugin left to after auth
	}
	if len(r.Targets) == 0 {
		rt, rej := f.Router.Route(r.Work)
		if rej != nil {
			return r.ReplyWith(rej)
		}
		if rt.Foreign && f.Relay != nil && !f.Relay.Allows(r.SourceIP, r.Identity != "", r.InDialog()) {
			r.Log.Info("relaying refused", zap.String("call_id", r.CallID), zap.String("method", string(r.Work.Method)),
				zap.String("source", r.Source), zap.String("ruri", r.Work.Recipient.String()))
			return r.Reply(403, "Relaying Forbidden")
		}
		r.Targets, r.Fork = rt.Targets, rt.Fork
	}
	return plugin.Forward
}
