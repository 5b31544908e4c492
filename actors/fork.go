package actors

import (
	"context"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/partysip/partysip/sipcore/dialog"
	"github.com/partysip/partysip/sipcore/proxy"
	"github.com/partysip/partysip/sipcore/transaction"
)

// fork is a proxy context's branches (RFC 3261 §16.6–§16.7): the target set, the groups it is
// tried in (one for parallel forking, one per q value for sequential), and each branch's fate.
type fork struct {
	work      *sip.Request // the request branches are made from, until the last one started
	workOwned bool         // work is the proxy's copy (else the request as received)
	named     bool         // some branch needed DNS: work is kept until the end
	// dialogTags are the To tags of the 2xx that created dialogs (one per answering branch).
	dialogTags []string
	targets    []proxy.Target
	groups     [][]int
	group      int // the group running
	branches   []branch
	loopHash   string
	// groupGen and groupTimer move a sequential fork on when a group takes too long.
	groupGen   uint32
	groupTimer *time.Timer
}

type branch struct {
	started bool
	// hops are where this branch may go, in RFC 3263 order; hop is the one in use. A timeout or
	// a 503 moves the branch to the next one, with a new client transaction (§4.3).
	hops []proxy.Hop
	hop  int
	pid  *actor.PID
	code int           // final status, or the one we act as if received; 0 while pending
	res  *sip.Response // the final response received, nil if synthesized
	done bool
	// cancel: a CANCEL was wanted before the client transaction said who it is.
	cancel bool
}

// hopAddr is the branch's current hop as transport:host:port, "" before it has one.
func (b *branch) hopAddr() string {
	if b.hop >= len(b.hops) {
		return ""
	}
	h := b.hops[b.hop]
	return h.Transport + ":" + h.Addr()
}

// groupTimedOut is the sequential fork's timer for group Gen.
type groupTimedOut struct{ Gen uint32 }

// hopsLocated is the RFC 3263 answer for branch Index.
type hopsLocated struct {
	Index int
	Hops  []proxy.Hop
	Err   error
}

// startFork plans the branches and starts the first group.
func (p *proxyContext) startFork(ctx actor.Context, work *sip.Request, owned bool, targets []proxy.Target, mode proxy.ForkMode, loopHash string) {
	p.work, p.workOwned, p.targets, p.loopHash = work, owned, targets, loopHash
	p.groups = proxy.ForkPlan(targets, mode)
	p.branches = make([]branch, len(targets))
	p.startGroup(ctx, 0)
}

// sig is the signature of our Record-Route for this request's dialog, "" when it creates none.
func (p *proxyContext) sig() string {
	if !p.rt.recordRoute {
		return ""
	}
	return p.c.signer.RecordRouteToken(p.work)
}

// startGroup starts a branch for every target of group g.
func (p *proxyContext) startGroup(ctx actor.Context, g int) {
	p.group = g
	if g < len(p.groups)-1 && p.rt.forkGroupTimeout > 0 {
		p.groupGen++
		msg, self, root := &groupTimedOut{Gen: p.groupGen}, ctx.Self(), ctx.ActorSystem().Root
		p.groupTimer = time.AfterFunc(p.rt.forkGroupTimeout, func() { root.Send(self, msg) })
	}
	for _, i := range p.groups[g] {
		p.branches[i].started = true
		dest := proxy.NextHopURI(p.work, p.targets[i])
		if plan := proxy.PlanFor(dest); plan.Direct != nil {
			p.branches[i].hops = []proxy.Hop{*plan.Direct}
			p.sendBranch(ctx, i)
			continue
		}
		p.locate(ctx, i, dest)
	}
}

// locate resolves a name per RFC 3263 on a goroutine of its own; the answer comes back as
// hopsLocated.
func (p *proxyContext) locate(ctx actor.Context, i int, dest *sip.Uri) {
	p.named = true // work must stay ours: this branch is sent later
	if p.c.locator == nil {
		p.onBranchEnd(ctx, i, 503, nil)
		return
	}
	self, root, uri := ctx.Self(), ctx.ActorSystem().Root, *dest.Clone()
	go func() {
		dctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
		defer cancel()
		hops, err := p.c.locator.Locate(dctx, &uri)
		root.Send(self, &hopsLocated{Index: i, Hops: hops, Err: err})
	}()
}

func (p *proxyContext) onLocated(ctx actor.Context, m *hopsLocated) {
	b := &p.branches[m.Index]
	if b.done {
		return
	}
	if m.Err != nil || len(m.Hops) == 0 {
		p.c.log.Info("next hop not found", zap.String("call_id", p.callID), zap.Error(m.Err))
		p.onBranchEnd(ctx, m.Index, 503, nil)
		return
	}
	if p.canceled || p.final {
		p.onBranchEnd(ctx, m.Index, 487, nil)
		return
	}
	b.hops = m.Hops
	p.sendBranch(ctx, m.Index)
}

// sendBranch starts a client transaction for branch i to its current hop. A hop remembered as
// dead is skipped when the branch has somewhere else to go.
func (p *proxyContext) sendBranch(ctx actor.Context, i int) {
	b := &p.branches[i]
	hop := b.hops[b.hop]
	alternative := p.hasAlternative(i)
	if alternative && p.c.deadHops.dead(hop, time.Now()) {
		p.c.deadHops.skipped.Add(1)
		p.c.log.Debug("dead next hop skipped", zap.String("call_id", p.callID), zap.String("to", hop.Addr()))
		p.onBranchEnd(ctx, i, 503, nil)
		return
	}
	target := p.targets[i]
	ob, udp, err := p.c.tp.outbound(hop)
	if err != nil {
		p.onBranchEnd(ctx, i, 503, nil)
		return
	}
	// The very last branch may take the proxy's copy instead of cloning it, when nothing may
	// need it again: no other group, no branch waiting for DNS, no other hop to fail over to;
	// never the request as received, which other actors may read.
	inPlace := p.workOwned && !p.named && p.group == len(p.groups)-1 && len(b.hops) == 1 && i == p.groups[p.group][len(p.groups[p.group])-1]
	branchID := p.c.uniqueBranch(p.loopHash)
	out, _ := proxy.Forward(p.work, target, proxy.ForwardOptions{
		Branch:      branchID,
		RecordRoute: p.rt.recordRoute,
		Sig:         p.sig(),
		Via:         ob,
		Inbound:     p.c.tp.inbound(p.from),
		InPlace:     inPlace,
		Hop:         &hop,
	})
	if inPlace {
		p.work = nil
	}
	key := transaction.ClientKeyFor(branchID, out.Method)
	noResponse := time.Duration(0)
	if alternative {
		noResponse = p.rt.noResponse
		if target.NoResponse > 0 {
			noResponse = target.NoResponse // the route's own
		}
	}
	ctx.Send(p.c.shardFor(key), &clientTxRequested{Req: out, Hop: hop, UDP: udp, Key: key, Owner: ctx.Self(), Index: i, NoResponse: noResponse})
}

// hasAlternative reports whether branch i has somewhere else to go if its hop fails: another
// RFC 3263 hop, or a later group of a sequential fork.
func (p *proxyContext) hasAlternative(i int) bool {
	b := &p.branches[i]
	return b.hop+1 < len(b.hops) || p.group+1 < len(p.groups)
}

func (p *proxyContext) onResponse(ctx actor.Context, i int, res *sip.Response) {
	code := res.StatusCode
	switch {
	case code == 100:
		return // §16.7 step 5: 100 is not forwarded
	case code < 200:
		if !p.final {
			p.forward(ctx, res)
		}
	case code < 300:
		// §16.7 step 5/9: every 2xx is forwarded at once (a forked INVITE may have several),
		// and each creates its dialog.
		if !p.final {
			p.answeredBy = p.branches[i].hopAddr()
		}
		p.final = true
		p.forward(ctx, res)
		if p.createsDialog && p.newDialog(res) {
			p.c.observeDialog(res, dialog.Created, "")
		}
		p.branches[i].done, p.branches[i].code = true, code
		if p.method == sip.INVITE {
			// §16.7 step 10; the Reason tells the other phones not to show a missed call.
			p.cancelReason = proxy.ReasonCompletedElsewhere
			p.cancelPending(ctx, i)
		}
	default:
		if code >= 600 && p.method == sip.INVITE {
			p.cancelPending(ctx, i) // §16.7 step 10
		}
		p.onBranchEnd(ctx, i, code, res)
	}
}

// onBranchEnd records a branch's final outcome. Once every started branch has one, a sequential
// fork starts its next group (unless a 2xx, a 6xx or a CANCEL ended the fork); otherwise the
// best final response goes upstream (§16.7 step 6), with every challenge of the branches when
// it is a 401/407 (step 7).
func (p *proxyContext) onBranchEnd(ctx actor.Context, i, code int, res *sip.Response) {
	b := &p.branches[i]
	if b.done {
		return
	}
	// RFC 3263 §4.3: a timeout or a 503 sends the branch to the next hop DNS gave, with a new
	// transaction; a 503 that was answered is not forwarded when another hop remains.
	if (code == 503 || (code == 408 && res == nil)) && b.hop+1 < len(b.hops) && !p.canceled && !p.final {
		b.hop++
		b.pid, b.cancel = nil, false
		p.sendBranch(ctx, i)
		return
	}
	b.done, b.code, b.res = true, code, res
	if !p.allEnded() {
		return
	}
	p.stopGroupTimer()
	if p.final {
		return
	}
	if !p.canceled && p.group+1 < len(p.groups) {
		p.startGroup(ctx, p.group+1)
		return
	}
	var codes []int
	var index []int
	for j := range p.branches {
		if p.branches[j].started {
			codes = append(codes, p.branches[j].code)
			index = append(index, j)
		}
	}
	best, upstream := proxy.Best(codes)
	p.final = true
	if best >= 0 && p.branches[index[best]].res != nil {
		p.answeredBy = p.branches[index[best]].hopAddr()
		out := p.branches[index[best]].res
		if upstream != out.StatusCode {
			out = out.Clone()
			out.StatusCode, out.Reason = upstream, "Server Internal Error"
		}
		all := make([]*sip.Response, 0, len(p.branches))
		for j := range p.branches {
			all = append(all, p.branches[j].res)
		}
		p.forward(ctx, proxy.MergeChallenges(out, all))
		return
	}
	p.respond(ctx, sip.NewResponseFromRequest(p.req, upstream, reasonPhrase(upstream), nil))
}

// cancelPending CANCELs every branch still without a final response, except skip, and starts
// no further group.
func (p *proxyContext) cancelPending(ctx actor.Context, skip int) {
	p.cancelBranches(ctx, skip)
	p.canceled = true
}

func (p *proxyContext) cancelBranches(ctx actor.Context, skip int) {
	for j := range p.branches {
		b := &p.branches[j]
		switch {
		case j == skip || !b.started || b.done:
		case b.pid == nil:
			b.cancel = true
		default:
			ctx.Send(b.pid, &branchCancelRequested{Reason: p.cancelReason})
		}
	}
}

// onGroupTimeout moves a sequential fork on: the running group's branches are CANCELled, and
// their final responses (487) start the next group.
func (p *proxyContext) onGroupTimeout(ctx actor.Context, m *groupTimedOut) {
	if m.Gen != p.groupGen || p.final || p.canceled {
		return
	}
	p.groupTimer = nil
	p.cancelBranches(ctx, -1)
}

func (p *proxyContext) stopGroupTimer() {
	p.groupGen++
	if p.groupTimer != nil {
		p.groupTimer.Stop()
		p.groupTimer = nil
	}
}

// newDialog reports whether a 2xx is the first of its dialog (its To tag) seen by this context:
// a retransmitted 2xx relayed after the BYE ended the dialog must not create it again.
func (p *proxyContext) newDialog(res *sip.Response) bool {
	to := res.To()
	if to == nil {
		return false
	}
	tag, _ := to.Params.Get("tag")
	if slices.Contains(p.dialogTags, tag) {
		return false
	}
	p.dialogTags = append(p.dialogTags, tag)
	return true
}
