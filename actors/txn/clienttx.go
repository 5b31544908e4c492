package txn

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/partysip/partysip/actors/relay"
	"github.com/partysip/partysip/actors/transport"
	"github.com/partysip/partysip/sipcore/base"
	"github.com/partysip/partysip/sipcore/proxy"
	"github.com/partysip/partysip/sipcore/transaction"
)

// clientTx runs one client transaction (ICT or NICT, RFC 3261 §17.1) for one branch of a
// proxied request, and reports to the proxy context that owns the branch.
type clientTx struct {
	c      *Env
	key    transaction.Key
	req    *sip.Request // released in Accepted, and in Completed for non-INVITE (see release)
	callID string
	hop    proxy.Hop
	udp    *transport.Socket
	owner  *actor.PID
	index  int
	m      transaction.Machine
	timers timerSet
	last   *sip.Response
	// reportedTag is the To tag of the final response reported to the context.
	reportedTag string
	// started is when the transaction began, entered when the machine entered its state (Unix
	// ns, for listings and the time-in-state metric).
	started, entered int64
	// cancelWanted: a CANCEL was asked for before any provisional response; §9.1 says wait.
	cancelWanted, cancelSent, reported, ended bool
	// cancelReason is the Reason header of that CANCEL (RFC 3326), "" for none.
	cancelReason string
	// waitUntil is when the final wait (Timer M, D or K) ends; parking: handed to the shard.
	waitUntil time.Time
	parking   bool
	// ackWire is the ACK for a non-2xx as sent over UDP, for a parked wait (Timer D) to resend.
	ackWire *transport.Sent
	// noResponse is how long to wait for any response before giving the hop up (0: Timer B/F).
	noResponse time.Duration
}

// timerNoResponse gives a branch up when its hop sends nothing at all within
// failover.no_response (and the branch has somewhere else to go); it lives beside the §17
// machine's timers in the same timerSet, in a slot the machine does not use. (Timer C, §16.8,
// is the response context's: sipcore/proxy.Context.)
const timerNoResponse transaction.Timer = 14

func newClientTx(c *Env, r *relay.ClientTxRequested) actor.Actor {
	kind := transaction.ClientNonInvite
	if r.Req.Method == sip.INVITE {
		kind = transaction.ClientInvite
	}
	return &clientTx{
		c: c, key: r.Key, req: r.Req, callID: base.CallID(r.Req), hop: r.Hop, udp: r.UDP, owner: r.Owner, index: r.Index,
		m: transaction.New(kind, r.Hop.Transport != "UDP", c.Timers), noResponse: r.NoResponse,
	}
}

func (t *clientTx) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		if t.c.Fault(t.m.Kind(), t.req) {
			panic("fault injected into " + t.m.Kind().String() + " " + t.callID)
		}
		t.started = t.c.Clock.Now().UnixNano()
		t.step(ctx, transaction.Event{Kind: transaction.Start})
		if t.noResponse > 0 && !t.ended {
			t.timers.start(t.c.Clock, ctx, timerNoResponse, t.noResponse)
		}
	case *MessageReceived:
		res := m.Msg.(*sip.Response)
		if t.last == nil {
			t.c.DeadHops.Alive(t.hop) // it answers
		}
		t.last = res
		t.step(ctx, transaction.Event{Kind: transaction.ResponseReceived, Code: res.StatusCode})
		if res.StatusCode < 200 && t.cancelWanted {
			t.sendCancel(ctx) // the provisional response §9.1 waits for
		}
	case *sendFailed:
		t.sendFailed(m.Err)
		t.step(ctx, transaction.Event{Kind: transaction.TransportFailed})
	case *StateRequested:
		ctx.Respond(&Info{Kind: t.m.Kind().String(), State: t.m.State().String(), Method: string(t.key.Method),
			CallID: t.callID, Branch: t.key.Branch, Since: unixTime(t.started), StateSince: unixTime(t.entered),
			Timers: t.timers.running(t.c.Clock.Now())})
	case *relay.BranchCancelRequested:
		// The response context asks only once a provisional response came (§9.1); should the
		// request still be Calling, the CANCEL waits for one all the same.
		t.cancelReason = m.Reason
		switch t.m.State() {
		case transaction.Proceeding:
			t.sendCancel(ctx)
		case transaction.Calling:
			t.cancelWanted = true
		default:
			t.c.ignored(ctx.Self(), m, "CANCEL asked for a branch already answered ("+t.m.State().String()+")")
		}
	case *relay.BranchAbandoned:
		// Its response context gave the branch up (Timer C, 64·T1 after its CANCEL, or the
		// context ended): nobody is left to report to.
		t.reported, t.ended = true, true
		ctx.Stop(ctx.Self())
	case *timerFired:
		switch {
		case !t.timers.current(m):
			t.c.ignored(ctx.Self(), m, "timer "+timerName(m.Timer)+" fired after it was re-armed or stopped")
		case m.Timer == timerNoResponse:
			t.onNoResponse(ctx)
		default:
			t.step(ctx, transaction.Event{Kind: transaction.TimerFired, Timer: m.Timer})
		}
	case *actor.Stopping:
		t.timers.stopAll()
		t.c.Observer.TxGone(t.m.Kind(), t.m.State())
		if !t.ended && !t.reported {
			// Stopped by a fault before finishing: the branch failed.
			t.report(ctx, &relay.BranchFailed{Index: t.index, Code: 500})
		}
		t.ended = true
	}
}

func (t *clientTx) step(ctx actor.Context, ev transaction.Event) {
	defer t.park(ctx)
	defer t.release()
	before := t.m.State()
	acts := t.m.Step(t.c.Clock.Now(), ev)
	t.c.traceTransition(&t.m, before, ev, t.key, t.callID, t, &t.entered)
	for _, a := range acts {
		switch a.Kind {
		case transaction.SendRequest:
			self, root := ctx.Self(), ctx.ActorSystem().Root
			err := t.c.Wire.SendRequest(t.req, t.hop, t.udp, func(err error) { root.Send(self, &sendFailed{Err: err}) })
			if err != nil {
				t.sendFailed(err)
				defer t.step(ctx, transaction.Event{Kind: transaction.TransportFailed})
			}
		case transaction.SendAck:
			ack := proxy.NewAckForNon2xx(t.req, t.last)
			if t.hop.Transport == "UDP" {
				if w, err := t.c.Wire.SendRequestKept(ack, t.hop, t.udp); err == nil {
					t.ackWire = w
				}
			} else {
				_ = t.c.Wire.SendRequest(ack, t.hop, t.udp, nil)
			}
		case transaction.PassResponse:
			code := t.last.StatusCode
			tag, _ := t.last.To().Params.Get("tag")
			if code >= 200 && code < 300 && t.reported && tag == t.reportedTag {
				// A retransmission of the 2xx already reported goes upstream at once, by its
				// Via (RFC 6026: Accepted passes 2xx on; the context would only relay it): the
				// context may have ended meanwhile, parking this transaction, and a report to it
				// would be lost.
				t.c.Relay.ForwardResponseStateless(t.last)
				break
			}
			if code >= 200 {
				t.reported, t.reportedTag = true, tag
			}
			t.report(ctx, &relay.BranchResponded{Index: t.index, Res: t.last})
		case transaction.StartTimer:
			t.timers.start(t.c.Clock, ctx, a.Timer, a.After)
			if a.Timer == transaction.TimerM || a.Timer == transaction.TimerD || a.Timer == transaction.TimerK {
				t.waitUntil = t.c.Clock.Now().Add(a.After)
			}
		case transaction.InformTimeout:
			if t.last == nil {
				t.hopDead() // not one response in Timer B/F
			}
			t.reported = true
			t.report(ctx, &relay.BranchFailed{Index: t.index, Code: 408})
		case transaction.InformTransportError:
			t.hopDead()
			t.reported = true
			t.report(ctx, &relay.BranchFailed{Index: t.index, Code: 503})
		case transaction.Terminate:
			t.ended = true
			ctx.Stop(ctx.Self())
		}
	}
}

// onNoResponse gives the branch up when its hop has sent nothing at all in failover.no_response:
// the hop is remembered as dead and the proxy context tries the branch's next hop or group, as
// for a timeout (RFC 3263 §4.3), instead of waiting Timer B's 32 s. With no response there is
// nothing to CANCEL (§9.1); a late answer from a hop that was only slow is relayed like any
// stray response.
func (t *clientTx) onNoResponse(ctx actor.Context) {
	st := t.m.State()
	if st != transaction.Calling && st != transaction.Trying {
		return
	}
	t.hopDead()
	t.c.Log.Info("next hop sent no response: trying the next", zap.String("call_id", t.callID),
		zap.String("to", t.hop.Addr()), zap.Duration("after", t.noResponse))
	t.reported = true
	t.report(ctx, &relay.BranchFailed{Index: t.index, Code: 408})
	t.ended = true
	ctx.Stop(ctx.Self())
}

func (t *clientTx) traceParties() (*sip.Request, string, string) {
	return t.req, "next_hop", t.hop.Transport + ":" + t.hop.Addr()
}

// hopDead remembers this branch's hop as dead for failover.dead_for.
func (t *clientTx) hopDead() {
	t.c.DeadHops.Mark(t.hop, t.c.Clock.Now(), t.c.Relay.Routing().DeadFor)
}

// release drops the request and response once they cannot be needed again: an INVITE in
// Accepted only passes 2xx up; a non-INVITE in Completed only absorbs retransmissions. An INVITE
// in Completed keeps both, to ACK a retransmitted final response.
func (t *clientTx) release() {
	t.timers.prune(func(tm transaction.Timer) bool {
		if tm == timerNoResponse {
			st := t.m.State()
			return st == transaction.Calling || st == transaction.Trying
		}
		return t.m.Live(tm)
	})
	switch st := t.m.State(); {
	case st == transaction.Accepted, st == transaction.Completed && t.m.Kind() == transaction.ClientNonInvite:
		t.req, t.last = nil, nil
	}
}

// park hands the final wait to the shard once the machine only absorbs responses: an INVITE
// in Accepted (Timer M: a retransmitted 2xx goes upstream), an INVITE over UDP in Completed
// (Timer D: a retransmitted final response gets the ACK again, from its bytes), a non-INVITE
// over UDP in Completed (Timer K). Over a reliable transport D and K are zero: no such wait.
func (t *clientTx) park(ctx actor.Context) {
	if t.parking || t.ended || !t.reported || t.waitUntil.IsZero() {
		return
	}
	r, ok := t.m.Residual()
	if !ok || (r.Kind() == transaction.ClientInvite && r.State() == transaction.Completed && t.ackWire == nil) {
		return // still more to do, or no ACK kept as sent for a retransmitted final response
	}
	e := newParked(r, t.key, t.callID, t.waitUntil, t.ackWire)
	if e == nil {
		return // a key too long to pack: the actor waits itself (its timer runs)
	}
	t.parking = true
	ctx.Send(ctx.Parent(), &txParking{Key: t.key, PID: ctx.Self(), Entry: e})
}

func (t *clientTx) sendFailed(err error) {
	t.c.Stats.SendErrors.Add(1)
	t.c.Log.Info("request not sent", zap.String("call_id", t.callID),
		zap.String("branch", t.key.Branch), zap.String("to", t.hop.Addr()), zap.Error(err))
}

func (t *clientTx) report(ctx actor.Context, msg any) {
	if t.owner != nil {
		ctx.Send(t.owner, msg)
	}
}

// sendCancel starts a CANCEL client transaction for this branch (§9.1): same branch, so it goes
// to this shard, with a key of its own (method CANCEL). Nobody waits for its response.
func (t *clientTx) sendCancel(ctx actor.Context) {
	if t.cancelSent || t.req == nil || t.req.Method != sip.INVITE {
		return
	}
	t.cancelSent, t.cancelWanted = true, false
	cancel := proxy.NewCancel(t.req)
	if t.cancelReason != "" {
		cancel.AppendHeader(sip.NewHeader("Reason", t.cancelReason))
	}
	ctx.Send(t.c.ShardFor(t.key), &relay.ClientTxRequested{
		Req: cancel, Hop: t.hop, UDP: t.udp, Key: transaction.ClientKeyFor(t.key.Branch, sip.CANCEL),
	})
}
