// Package sanity is the request route's first check (Kamailio's REQINIT): RFC 3261 §16.3
// validation and answering the OPTIONS pings addressed to the proxy itself.
package sanity

import (
	"github.com/partysip/partysip/actors/plugin"
	"github.com/partysip/partysip/sipcore/base"
	"github.com/partysip/partysip/sipcore/proxy"
)

// Sanity rejects what §16.3 steps 1, 2, 4 and 5 refuse (400, 416, 482, 420) and answers an
// OPTIONS addressed to the proxy with 200 (§11.2), unless LeaveOwnOptions leaves it to the
// forward plugin, after authentication (auth.challenge_own_options).
type Sanity struct {
	Local           *base.Local
	LeaveOwnOptions bool
}

var _ plugin.Handler = (*Sanity)(nil)

// Name is "sanity".
func (*Sanity) Name() string { return "sanity" }

// Serve checks the request as received; the OPTIONS test looks at it after Route processing.
func (s *Sanity) Serve(r *plugin.Request) plugin.Result {
	if rej := proxy.Sanity(r.Received, s.Local, r.LoopHash); rej != nil {
		return r.ReplyWith(rej)
	}
	if own := proxy.AnswerOwn(r.Work, s.Local); own != nil && !s.LeaveOwnOptions {
		return r.ReplyWith(own)
	}
	return plugin.Continue
}
