package relay

import (
	"context"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/partysip/partysip/actors/internal/clock"
	"github.com/partysip/partysip/sipcore/base"
	"github.com/partysip/partysip/sipcore/dialog"
	"github.com/partysip/partysip/sipcore/proxy"
	"github.com/partysip/partysip/sipcore/transaction"
)

// fork carries out a proxy context's branches (RFC 3261 §16.6–§16.8): every decision — which
// branch starts, fails over, is CANCELled or given up, which response goes upstream — is the
// pure machine's (proxy.Context); this side builds and sends what it asks for, and feeds it
// what comes back: responses and failures of the client transactions, DNS answers, timers.
type fork struct {
	m         *proxy.Context
	work      *sip.Request // the request branches are made from, until the last one started
	workOwned bool         // work is the proxy's copy (else the request as received)
	targets   []proxy.Target
	loopHash  string
	// keys are the client transactions of the branches, by branch: CANCEL and stop go to them
	// through their shard, which knows them by key whether or not they have started yet.
	keys   []transaction.Key
	timers []ctxTimer
	queue  []proxy.Event // events the actions themselves produced (a dead hop skipped)
}

// ctxTimer is one timer the machine armed.
type ctxTimer struct {
	id proxy.TimerID
	t  clock.Timer
}

// contextTimerFired is a response-context timer's expiry.
type contextTimerFired struct{ ID proxy.TimerID }

// hopsLocated is the RFC 3263 answer for branch Index.
type hopsLocated struct {
	Index int
	Hops  []proxy.Hop
	Err   error
}

// ToClientTx asks a shard to hand Msg to the client transaction it runs under Key, if any (one
// that ended or parked has nothing left to be told).
type ToClientTx struct {
	Key transaction.Key
	Msg any
}

// BranchAbandoned stops a client transaction whose response context no longer waits for it.
type BranchAbandoned struct{}

// startFork hands the targets to the response context machine.
func (p *proxyContext) startFork(ctx actor.Context, work *sip.Request, owned bool, targets []proxy.Target, mode proxy.ForkMode, loopHash string) {
	p.work, p.workOwned, p.targets, p.loopHash = work, owned, targets, loopHash
	p.keys = make([]transaction.Key, len(targets))
	hops := make([][]proxy.Hop, len(targets))
	for i := range targets {
		if plan := proxy.PlanFor(proxy.NextHopURI(work, targets[i])); plan.Direct != nil {
			hops[i] = []proxy.Hop{*plan.Direct}
		}
	}
	rt := p.rt
	p.m = proxy.NewContext(proxy.ContextConfig{
		Invite:        p.method == sip.INVITE,
		CreatesDialog: p.createsDialog,
		TimerC:        p.c.TimerC,
		T1:            p.c.T1,
		GroupTimeout:  rt.ForkGroupTimeout,
		NoResponse:    rt.NoResponse,
	})
	p.step(ctx, proxy.Event{Kind: proxy.Fork, Targets: targets, Mode: mode, Hops: hops})
}

// step feeds ev to the machine and carries out its actions, then the events they produced.
func (p *proxyContext) step(ctx actor.Context, ev proxy.Event) {
	if p.m == nil {
		return
	}
	for {
		for _, a := range p.m.Step(p.c.Clock.Now(), ev) {
			p.act(ctx, a)
		}
		if len(p.queue) == 0 {
			return
		}
		ev = p.queue[0]
		p.queue = p.queue[1:]
	}
}

func (p *proxyContext) act(ctx actor.Context, a proxy.Action) {
	switch a.Kind {
	case proxy.Locate:
		p.locate(ctx, a.Branch)
	case proxy.StartBranch:
		p.sendBranch(ctx, a)
	case proxy.CancelBranch:
		ctx.Send(p.c.ShardFor(p.keys[a.Branch]), &ToClientTx{Key: p.keys[a.Branch], Msg: &BranchCancelRequested{Reason: a.Reason}})
	case proxy.StopBranch:
		ctx.Send(p.c.ShardFor(p.keys[a.Branch]), &ToClientTx{Key: p.keys[a.Branch], Msg: &BranchAbandoned{}})
	case proxy.Relay:
		if a.Final {
			p.final = true
			if _, h, ok := p.m.Branch(a.Branch); ok {
				p.answeredBy = h.Transport + ":" + h.Addr()
			}
		}
		p.forward(ctx, a.Res)
	case proxy.Respond:
		p.final = true
		p.respond(ctx, sip.NewResponseFromRequest(p.req, a.Code, base.ReasonPhrase(a.Code), nil))
	case proxy.ArmTimer:
		p.timers = append(p.timers, ctxTimer{id: a.Timer, t: clock.SendAfter(p.c.Clock, ctx, a.After, &contextTimerFired{ID: a.Timer})})
	case proxy.DialogCreated:
		p.c.Dialogs.Observe(a.Res, dialog.Created, "")
	case proxy.Done:
		p.stopTimers()
	case proxy.RaceSeen:
		p.c.Raced(a.Race)
		if ce := p.c.Log.Check(zap.DebugLevel, "race"); ce != nil {
			ce.Write(zap.String("call_id", p.callID), zap.Int("branch", a.Branch), zap.Stringer("race", a.Race))
		}
	}
}

// timerFired passes a timer's expiry to the machine, forgetting the timer.
func (p *proxyContext) timerFired(ctx actor.Context, id proxy.TimerID) {
	for i, t := range p.timers {
		if t.id == id {
			p.timers = append(p.timers[:i], p.timers[i+1:]...)
			break
		}
	}
	p.step(ctx, proxy.Event{Kind: proxy.TimerFired, Timer: id})
}

func (p *proxyContext) stopTimers() {
	for _, t := range p.timers {
		t.t.Stop()
	}
	p.timers = nil
}

// sig is the signature of our Record-Route for this request's dialog, "" when it creates none.
func (p *proxyContext) sig() string {
	if !p.rt.RecordRoute {
		return ""
	}
	return p.c.Signer.RecordRouteToken(p.work)
}

// locate resolves a name per RFC 3263 on a goroutine of its own; the answer comes back as
// hopsLocated.
func (p *proxyContext) locate(ctx actor.Context, i int) {
	if p.c.Locator == nil {
		p.queue = append(p.queue, proxy.Event{Kind: proxy.HopsLocated, Branch: i})
		return
	}
	self, root, uri := ctx.Self(), ctx.ActorSystem().Root, *proxy.NextHopURI(p.work, p.targets[i]).Clone()
	go func() {
		dctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
		defer cancel()
		hops, err := p.c.Locator.Locate(dctx, &uri)
		root.Send(self, &hopsLocated{Index: i, Hops: hops, Err: err})
	}()
}

func (p *proxyContext) onLocated(ctx actor.Context, m *hopsLocated) {
	ev := proxy.Event{Kind: proxy.HopsLocated, Branch: m.Index}
	if m.Err != nil || len(m.Hops) == 0 {
		p.c.Log.Info("next hop not found", zap.String("call_id", p.callID), zap.Error(m.Err))
	} else {
		ev.Hops = [][]proxy.Hop{m.Hops}
	}
	p.step(ctx, ev)
}

// sendBranch starts a client transaction for a branch to the hop the machine chose. A hop
// remembered as dead is skipped when the branch has somewhere else to go.
func (p *proxyContext) sendBranch(ctx actor.Context, a proxy.Action) {
	i, hop := a.Branch, a.Hop
	if a.Alternative && p.c.DeadHops.Dead(hop, p.c.Clock.Now()) {
		p.c.DeadHops.skipped.Add(1)
		p.c.Log.Debug("dead next hop skipped", zap.String("call_id", p.callID), zap.String("to", hop.Addr()))
		p.queue = append(p.queue, proxy.Event{Kind: proxy.BranchFailed, Branch: i, Code: 503})
		return
	}
	ob, udp, err := p.c.Wire.Outbound(hop)
	if err != nil {
		p.queue = append(p.queue, proxy.Event{Kind: proxy.BranchFailed, Branch: i, Code: 503})
		return
	}
	// The very last branch may take the proxy's copy instead of cloning it, when nothing may
	// need it again; never the request as received, which other actors may read.
	inPlace := p.workOwned && a.LastUse
	branchID := p.c.NewBranch(p.loopHash)
	out, _ := proxy.Forward(p.work, p.targets[i], proxy.ForwardOptions{
		Branch:      branchID,
		RecordRoute: p.rt.RecordRoute,
		Sig:         p.sig(),
		Via:         ob,
		Inbound:     p.c.Wire.Inbound(p.from),
		InPlace:     inPlace,
		Hop:         &hop,
	})
	if inPlace {
		p.work = nil
	}
	key := transaction.ClientKeyFor(branchID, out.Method)
	p.keys[i] = key
	ctx.Send(p.c.ShardFor(key), &ClientTxRequested{Req: out, Hop: hop, UDP: udp, Key: key, Owner: ctx.Self(), Index: i, NoResponse: a.NoResponse})
}
