package relay

import (
	"math/rand/v2"
	"time"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/partysip/partysip/actors/plugin"
	"github.com/partysip/partysip/actors/transport"
	"github.com/partysip/partysip/sipcore/base"
	"github.com/partysip/partysip/sipcore/dialog"
	"github.com/partysip/partysip/sipcore/proxy"
)

// Run is one request's way through the plugin chain of the routing in force when it began. It
// is not an actor and starts none: a proxy context runs one, and so does a transaction shard
// answering a non-INVITE request itself (actors/txn/light.go), which hands it to a proxy context
// only if the chain decides to forward (NewDecidedContext).
type Run struct {
	Routing *Routing
	R       *plugin.Request
	Started time.Time
	From    transport.Peer
}

// Begin starts req's run through rt's chain: the request is a sign of life of its dialog, if it has one (a BYE its
// end), and the plugin request is made. replyTo is how a service answers a waiting plugin.
func (c *Env) Begin(rt *Routing, req *sip.Request, callID string, from transport.Peer, replyTo func(any)) *Run {
	switch {
	case req.Method == sip.BYE:
		c.Dialogs.Observe(req, dialog.ByeSeen, "BYE")
	case req.Method != sip.CANCEL:
		// Any other request with a To tag is a sign of life of its dialog (no tag: nothing).
		c.Dialogs.Observe(req, dialog.RequestSeen, string(req.Method))
	}
	now := c.Clock.Now()
	return &Run{Routing: rt, Started: now, From: from, R: &plugin.Request{
		Received: req,
		Work:     plugin.WorkOn(req, c.Local),
		CallID:   callID,
		Source:   from.Transport + ":" + from.Addr,
		SourceIP: from.IP(),
		Dialog:   c.Signer.Proven(req, c.Local),
		LoopHash: proxy.LoopHash(req),
		ReplyTo:  replyTo,
		Now:      now,
		Log:      c.Log,
	}}
}

// Answer is the final response to req that a plugin's answer (an error, or a 200 for a request
// addressed to us) makes.
func Answer(req *sip.Request, a *base.Answer) *sip.Response {
	res := sip.NewResponseFromRequest(req, a.Code, a.Reason, nil)
	for _, h := range a.Headers {
		res.AppendHeader(h)
	}
	return res
}

// AccessLog writes the request's access-log line (log.access of them): who asked for what,
// from where, who answered (answeredBy, "" when we did), how, and how long it took.
func (c *Env) AccessLog(r *Run, req *sip.Request, answeredBy string, code int) {
	if req == nil || r.Routing.Access <= 0 || (r.Routing.Access < 1 && rand.Float64() >= r.Routing.Access) {
		return
	}
	from, to := base.Parties(req)
	c.Log.Info("access", zap.String("method", string(req.Method)), zap.String("call_id", r.R.CallID),
		zap.String("from", from), zap.String("to", to),
		zap.String("ruri", req.Recipient.String()), zap.String("source", r.R.Source),
		zap.String("next_hop", answeredBy), zap.Int("code", code),
		zap.Float64("ms", float64(c.Clock.Now().Sub(r.Started).Microseconds())/1000))
}
