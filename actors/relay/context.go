package relay

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/partysip/partysip/actors/internal/clock"
	"github.com/partysip/partysip/actors/plugin"
	"github.com/partysip/partysip/actors/transport"
	"github.com/partysip/partysip/sipcore/base"
	"github.com/partysip/partysip/sipcore/proxy"
)

// proxyContext is the response context of RFC 3261 §16 for one request: it validates and
// routes the request, starts a client transaction per target, forwards provisional and 2xx
// responses at once and the best final response when every branch has ended (§16.7), and
// cancels pending branches on a 2xx/6xx or a CANCEL from upstream (§16.10).
type proxyContext struct {
	c      *Env
	rt     *Routing     // the routing in force when the request arrived, for its whole life
	req    *sip.Request // as received, never edited here; released once a final response went up
	method sip.RequestMethod
	callID string
	from   transport.Peer // where it came from
	server *actor.PID
	fork
	// createsDialog: an INVITE without To tag that we Record-Route: its 2xx creates a dialog.
	createsDialog bool
	final         bool // a final response went upstream
	// logged says its access-log line was written; answeredBy is the hop whose final response
	// went upstream ("" when we answered).
	logged     bool
	answeredBy string
	doneSent   bool // ContextDone went to the server transaction
	// run is the request's way through the plugin chain (its start, for the access log); r its
	// plugin request until the chain has decided. waiting is the index of the plugin awaiting a
	// service actor's answer (-1 when none), waitGen tells its timeout apart.
	run     *Run
	r       *plugin.Request
	waiting int
	waitGen uint32
	wait    clock.Timer
	// decided: the chain ran before the context started (a shard began answering a non-INVITE
	// itself, light.go in actors/txn) and decided this, from plugin at.
	decided *plugin.Result
	at      int
}

// pluginWaitTimeout bounds how long a plugin may wait for a service actor (the registrar, the
// location service): an actor that failed while holding the request never answers, and the
// caller then gets a 500 rather than silence.
const pluginWaitTimeout = 4 * time.Second

// pluginTimedOut is the wait timer of the plugin chain.
type pluginTimedOut struct{ Gen uint32 }

// NewContext is the proxy context of req, which arrived from from and is served by the server
// transaction server (its parent, to which every response goes).
func NewContext(c *Env, req *sip.Request, from transport.Peer, server *actor.PID) actor.Actor {
	return &proxyContext{c: c, rt: c.Routing(), req: req, method: req.Method, callID: base.CallID(req), from: from, server: server, waiting: -1}
}

// NewDecidedContext is the proxy context of a request whose run through the plugin chain
// already decided res (by plugin at): it carries that decision out.
func NewDecidedContext(c *Env, run *Run, res plugin.Result, at int, server *actor.PID) actor.Actor {
	req := run.R.Received
	return &proxyContext{c: c, rt: run.Routing, req: req, method: req.Method, callID: run.R.CallID, from: run.From,
		server: server, waiting: -1, run: run, r: run.R, decided: &res, at: at}
}

func (p *proxyContext) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		if p.decided != nil {
			p.decide(ctx, *p.decided, p.at)
			p.decided = nil
			break
		}
		p.start(ctx)
	case *BranchResponded:
		p.step(ctx, proxy.Event{Kind: proxy.BranchResponded, Branch: m.Index, Res: m.Res})
	case *BranchFailed:
		p.step(ctx, proxy.Event{Kind: proxy.BranchFailed, Branch: m.Index, Code: m.Code})
	case *CancelArrived:
		p.step(ctx, proxy.Event{Kind: proxy.CancelArrived})
	case *hopsLocated:
		p.onLocated(ctx, m)
	case *contextTimerFired:
		p.timerFired(ctx, m.ID)
	case *pluginTimedOut:
		if p.waiting >= 0 && m.Gen == p.waitGen {
			p.c.Log.Warn("plugin got no answer in time", zap.String("plugin", p.rt.Chain[p.waiting].Name()),
				zap.String("call_id", p.callID))
			p.stopWait()
			p.reject(ctx, base.NewAnswer(500))
		}
	case actor.SystemMessage, actor.AutoReceiveMessage:
		if _, stopping := m.(*actor.Stopping); stopping {
			p.stopWait()
			// Whatever branch still runs is stopped: none outlives its context.
			p.step(ctx, proxy.Event{Kind: proxy.Abandon})
			p.stopTimers()
		}
	default:
		// A service actor's answer to the waiting plugin.
		if p.waiting >= 0 {
			i := p.waiting
			p.stopWait()
			res, at := p.rt.Chain.Resume(p.r, i, m)
			p.decide(ctx, res, at)
		}
	}
	if p.final {
		p.req = nil // only further 2xx are relayed now; they need nothing of the request
		if !p.doneSent && (p.m == nil || p.m.Done()) {
			// Nothing more can come through this context: its server transaction may hand
			// its remaining wait to the shard (parked.go).
			p.doneSent = true
			ctx.Send(p.server, &ContextDone{})
		}
	}
}

// ContextDone tells a server transaction that its proxy context has nothing left to do.
type ContextDone struct{}

// start runs the request through the plugin chain (sanity, auth, registrar, location, ...,
// forward), after the §16.4 Route pre-processing every request gets.
func (p *proxyContext) start(ctx actor.Context) {
	req := p.req
	if req.Method == sip.INVITE {
		// §16.2: a stateful proxy sends 100 Trying for an INVITE without waiting.
		p.respond(ctx, sip.NewResponseFromRequest(req, 100, "Trying", nil))
	}
	p.createsDialog = p.rt.RecordRoute && req.Method == sip.INVITE && !base.HasToTag(req)
	self, root := ctx.Self(), ctx.ActorSystem().Root
	p.run = p.c.Begin(p.rt, req, p.callID, p.from, func(answer any) { root.Send(self, answer) })
	p.r = p.run.R
	res, at := p.rt.Chain.Run(p.r, 0)
	p.decide(ctx, res, at)
}

// decide carries out the chain's decision.
func (p *proxyContext) decide(ctx actor.Context, res plugin.Result, at int) {
	switch res {
	case plugin.Answered:
		p.reject(ctx, p.r.Answer)
		p.r = nil
	case plugin.Forward:
		p.startFork(ctx, p.r.Work, p.r.OwnsWork(), p.r.Targets, p.r.Fork, p.r.LoopHash)
		p.r = nil
	case plugin.Wait:
		p.waiting = at
		p.waitGen++
		p.wait = clock.SendAfter(p.c.Clock, ctx, pluginWaitTimeout, &pluginTimedOut{Gen: p.waitGen})
	}
}

func (p *proxyContext) stopWait() {
	p.waiting = -1
	if p.wait != nil {
		p.wait.Stop()
		p.wait = nil
	}
}

// forward sends a downstream response upstream without our Via (§16.7 step 3).
func (p *proxyContext) forward(ctx actor.Context, res *sip.Response) {
	out, ok := proxy.StripVia(res)
	if !ok {
		p.c.Log.Info("response with no Via left dropped", zap.String("call_id", p.callID))
		return
	}
	p.respond(ctx, out)
}

// reject answers the request itself, with a final response built from rej (an error, or a
// 200 for a request addressed to us).
func (p *proxyContext) reject(ctx actor.Context, rej *base.Answer) {
	if p.method == sip.ACK {
		return
	}
	res := Answer(p.req, rej)
	p.final = true
	p.respond(ctx, res)
}

func (p *proxyContext) respond(ctx actor.Context, res *sip.Response) {
	if res.StatusCode >= 200 && !p.logged {
		p.logged = true
		p.accessLog(res.StatusCode)
	}
	ctx.Send(p.server, &ResponseSent{Res: res})
}

// accessLog writes the request's access-log line (see Env.AccessLog).
func (p *proxyContext) accessLog(code int) {
	if p.run != nil {
		p.c.AccessLog(p.run, p.req, p.answeredBy, code)
	}
}
