package relay

import (
	"context"
	"time"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/partysip/partysip/actors/transport"
	"github.com/partysip/partysip/sipcore/base"
	"github.com/partysip/partysip/sipcore/dialog"
	"github.com/partysip/partysip/sipcore/digest"
	"github.com/partysip/partysip/sipcore/proxy"
)

// ForwardStateless forwards a request outside any transaction (§16.11): an ACK for a 2xx, or a
// CANCEL with no response context. The branch is a hash of the request, so a retransmission
// goes out with the same branch. Nothing is answered: an ACK never is, and such a CANCEL's
// response comes back from downstream. Stateless relaying takes the first target only: forking
// needs a response context.
// from is where it came from when nothing vetted it yet (the relay policy applies), nil when it
// belongs to an INVITE that was (an ACK matching a server transaction).
func (c *Env) ForwardStateless(req *sip.Request, from *transport.Peer) {
	c.relay(req, from, false)
}

// IsStateless says whether req is relayed in stateless mode: all requests, or those a
// stateless route matches.
func (c *Env) IsStateless(req *sip.Request) bool {
	rt := c.Routing()
	if rt.StatelessAll {
		return true
	}
	if !rt.StatelessRoutes {
		return false
	}
	sr := rt.Router.Match(req)
	return sr != nil && sr.Stateless
}

// RelayStateless is stateless mode (§16.11) for a request read from a transport: checked,
// answered when it cannot be forwarded (unless an ACK), else forwarded with a hashed branch.
// It runs on the read goroutine: no actor is involved.
func (c *Env) RelayStateless(req *sip.Request, from transport.Peer) {
	c.relay(req, &from, true)
}

// relay forwards req statelessly. With from set, the relay policy applies to where it goes;
// with answering (stateless mode), failures are answered.
func (c *Env) relay(req *sip.Request, from *transport.Peer, answering bool) {
	if req.Method == sip.ACK {
		c.Dialogs.Observe(req, dialog.AckSeen, "ACK")
	}
	answer := func(rej *base.Answer) {
		if answering && req.Method != sip.ACK {
			c.RespondStateless(req, *from, rej.Code, rej.Reason, rej.Headers...)
		}
	}
	loopHash := proxy.LoopHash(req)
	if rej := proxy.Validate(req, c.Local, loopHash); rej != nil {
		c.Log.Debug("stateless request refused", zap.String("method", string(req.Method)), zap.Int("code", rej.Code))
		answer(rej)
		return
	}
	work := req.Clone()
	proxy.PreprocessRoute(work, c.Local)
	if realm := c.Routing().AuthRealm; realm != "" && digest.HasCredentials(work, "Proxy-Authorization", realm) {
		// §22.3: the credentials for our realm were for us (an ACK for a 2xx repeats the
		// INVITE's), and go no further.
		digest.RemoveCredentials(work, "Proxy-Authorization", realm)
	}
	if own := proxy.AnswerOwn(work, c.Local); own != nil {
		answer(own)
		return
	}
	rt := c.Routing()
	routed, rej := rt.Router.Route(work)
	if rej != nil {
		answer(rej)
		return
	}
	targets := routed.Targets
	if routed.Foreign && from != nil && !rt.Relay.Allows(from.IP(), false, c.Signer.Proven(req, c.Local)) {
		c.Log.Info("relaying refused", callIDField(req), zap.String("method", string(req.Method)),
			zap.String("source", from.Transport+":"+from.Addr), zap.String("ruri", req.Recipient.String()))
		answer(&base.Answer{Code: 403, Reason: "Relaying Forbidden"})
		return
	}
	var inbound *proxy.Outbound
	if from != nil {
		inbound = c.Wire.Inbound(*from)
	}
	failed := func(err error) {
		c.SendErrors.Add(1)
		c.Log.Info("stateless forward failed", callIDField(req), zap.Error(err))
	}
	send := func(hop proxy.Hop) {
		ob, udp, err := c.Wire.Outbound(hop)
		if err != nil {
			failed(err)
			return
		}
		out, _ := proxy.Forward(work, targets[0], proxy.ForwardOptions{
			Branch:      proxy.StatelessBranch(req),
			RecordRoute: answering && rt.RecordRoute,
			Sig:         c.Signer.RecordRouteToken(req),
			Via:         ob,
			Inbound:     inbound,
			InPlace:     true, // work is our own copy
			Hop:         &hop,
		})
		c.StatelessFwd.Add(1)
		if err := c.Wire.SendRequest(out, hop, udp, failed); err != nil {
			failed(err)
		}
	}
	dest := proxy.NextHopURI(work, targets[0])
	if plan := proxy.PlanFor(dest); plan.Direct != nil {
		send(*plan.Direct)
		return
	}
	if c.Locator == nil {
		failed(transport.ErrConfined)
		return
	}
	// A name: RFC 3263 on a goroutine of its own (this may be a read loop); the first hop only,
	// as a stateless proxy keeps nothing to fail over with.
	uri := *dest.Clone()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
		defer cancel()
		hops, err := c.Locator.Locate(ctx, &uri)
		if err != nil {
			failed(err)
			return
		}
		send(hops[0])
	}()
}

// ForwardResponseStateless sends a response that matches no client transaction on to the next
// Via, if the top one is ours (§16.7 step 3, §18.1.2); other responses are dropped.
func (c *Env) ForwardResponseStateless(res *sip.Response) {
	via := res.Via()
	if via == nil || !c.Local.IsOurVia(via) {
		c.Log.Debug("stray response not for us dropped", zap.Int("code", res.StatusCode))
		return
	}
	out, ok := proxy.StripVia(res)
	if !ok {
		return
	}
	c.StatelessFwd.Add(1)
	if err := c.Wire.ForwardResponse(out); err != nil {
		c.SendErrors.Add(1)
		c.Log.Debug("stateless response forward failed", zap.Error(err))
	}
}
