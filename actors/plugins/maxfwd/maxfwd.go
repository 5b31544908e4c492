// Package maxfwd enforces Max-Forwards (RFC 3261 §16.3 step 3) and optionally caps it.
package maxfwd

import (
	"github.com/emiago/sipgo/sip"

	"github.com/partysip/partysip/actors/plugin"
	"github.com/partysip/partysip/sipcore/proxy"
)

// MaxFwd answers 483 to a request with Max-Forwards 0 and lowers a larger value to Limit.
type MaxFwd struct {
	// Limit: 0 leaves Max-Forwards alone.
	Limit int
}

var _ plugin.Handler = (*MaxFwd)(nil)

// Name is "maxfwd".
func (*MaxFwd) Name() string { return "maxfwd" }

// Serve checks and caps Max-Forwards on the proxy's copy.
func (m *MaxFwd) Serve(r *plugin.Request) plugin.Result {
	if rej := proxy.CheckMaxForwards(r.Work); rej != nil {
		return r.ReplyWith(rej)
	}
	if m.Limit > 0 {
		if mf := r.Work.MaxForwards(); mf != nil && int(mf.Val()) > m.Limit {
			// sipgo shares header values between clones: replace, never edit in place.
			v := sip.MaxForwardsHeader(m.Limit)
			r.Edit().ReplaceHeader(&v)
		}
	}
	return plugin.Continue
}
