package txn

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/partysip/partysip/actors/internal/clock"
	"github.com/partysip/partysip/actors/internal/protofix"
	"github.com/partysip/partysip/actors/relay"
	"github.com/partysip/partysip/actors/transport"
	"github.com/partysip/partysip/sipcore/base"
	"github.com/partysip/partysip/sipcore/proxy"
	"github.com/partysip/partysip/sipcore/transaction"
)

// serverTx runs one server transaction (IST or NIST, RFC 3261 §17.2) around a sipcore machine.
// Its transaction user is a proxy context actor it spawns as its child. A CANCEL is a server
// transaction too: it answers 200 itself and tells the INVITE transaction (§16.10).
type serverTx struct {
	c      *Env
	key    transaction.Key
	req    *sip.Request // released once a final response is sent (see release)
	callID string
	method sip.RequestMethod
	from   transport.Peer
	m      transaction.Machine
	timers timerSet
	last   *sip.Response // the last response sent, for retransmissions
	// lastWire is a NIST's final response as sent over UDP, for a parked wait to resend.
	lastWire *transport.Sent
	// offered is the response the TU just handed over; it becomes last only if the machine
	// sends it (a response after the final one is dropped, §17.2.1/§17.2.2).
	offered *sip.Response
	tu      *actor.PID
	ack     *sip.Request // the ACK being stepped, for PassAck
	// cancels is the INVITE server transaction a CANCEL applies to (nil when not a CANCEL, or
	// when no such transaction exists and the CANCEL is proxied on its own).
	cancels *actor.PID
	ended   bool
	pending bool // counted in Stats.Pending until the final response is sent
	// stalled: a stall drill holds this transaction still (fault injection).
	stalled bool
	// started is when the request arrived; answered that its final response went (for the
	// latency histogram, measured once).
	started  time.Time
	answered bool
	// waitUntil is when the final wait (Timer J or L) ends; parking: this transaction has
	// handed that wait to its shard (parked.go); tuDone: its proxy context has nothing left to
	// do (every branch ended), so an accepted INVITE may park.
	waitUntil time.Time
	parking   bool
	tuDone    bool
	// lingering: the machine terminated (Timer L) while the proxy context still had branches
	// to end; the actor stays until the context is done, so that none outlives it.
	lingering bool
	// entered is when the machine entered its state (Unix ns, for the time-in-state metric).
	entered int64
	log     *zap.Logger
}

func newServerTx(c *Env, first *MessageReceived, cancels *actor.PID) actor.Actor {
	req := first.Msg.(*sip.Request)
	kind := transaction.ServerNonInvite
	if req.Method == sip.INVITE {
		kind = transaction.ServerInvite
	}
	return &serverTx{
		c:       c,
		key:     first.Key,
		req:     req,
		callID:  base.CallID(req),
		method:  req.Method,
		from:    first.From,
		m:       transaction.New(kind, first.From.Transport != "UDP", c.Timers),
		cancels: cancels,
		log:     c.Log,
	}
}

func (t *serverTx) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		if t.c.Fault(t.m.Kind(), t.req) {
			panic("fault injected into " + t.m.Kind().String() + " " + t.callID)
		}
		t.pending = true
		t.started = t.c.Clock.Now()
		t.c.Stats.Pending.Add(1)
		if d := t.c.StallFor(); d > 0 {
			// A stall drill: this transaction sits still (as if stuck behind something slow)
			// and drops what arrives meanwhile; the others must not notice.
			t.stalled = true
			t.c.Stats.TxStalls.Add(1)
			clock.SendAfter(t.c.Clock, ctx, d, &stallEnded{})
			return
		}
		t.step(ctx, transaction.Event{Kind: transaction.Start})
	case *stallEnded:
		t.stalled = false
		t.step(ctx, transaction.Event{Kind: transaction.Start})
	case *MessageReceived:
		if t.stalled {
			return
		}
		ev := transaction.RequestRetransmitted
		if t.ack = m.Msg.(*sip.Request); t.ack.Method == sip.ACK {
			ev = transaction.AckReceived
		}
		t.step(ctx, transaction.Event{Kind: ev})
		t.ack = nil
	case *relay.ResponseSent:
		t.offered = m.Res
		t.step(ctx, transaction.Event{Kind: transaction.ResponseSent, Code: m.Res.StatusCode})
		t.settle()
	case *StateRequested:
		ctx.Respond(&Info{Kind: t.m.Kind().String(), State: t.m.State().String(), Method: string(t.method),
			CallID: t.callID, Branch: t.key.Branch, Since: t.started, StateSince: unixTime(t.entered),
			Timers: t.timers.running(t.c.Clock.Now())})
	case *relay.ContextDone:
		t.tuDone = true
		if t.lingering {
			ctx.Stop(ctx.Self())
			return
		}
		t.park(ctx)
	case *relay.CancelArrived:
		if t.tu != nil {
			ctx.Send(t.tu, m)
		} else {
			t.c.Relay.Raced(proxy.RaceCancelAfterFinal) // answered; its context is gone
			t.c.ignored(ctx.Self(), m, "CANCEL for an INVITE already answered, whose context is gone")
		}
	case *timerFired:
		if t.timers.current(m) {
			t.step(ctx, transaction.Event{Kind: transaction.TimerFired, Timer: m.Timer})
		} else {
			t.c.ignored(ctx.Self(), m, "timer "+timerName(m.Timer)+" fired after it was re-armed or stopped")
		}
	case *actor.Terminated:
		protofix.ReleaseChild(ctx)
		// The proxy context died (a fault): whoever is still owed a response gets a 500.
		if m.Who.Equal(t.tu) && t.m.LastCode() < 200 && !t.ended {
			t.respondLocal(ctx, 500, "Server Internal Error")
		}
		if m.Who.Equal(t.tu) && t.lingering {
			ctx.Stop(ctx.Self())
		}
	case *actor.Stopping:
		t.timers.stopAll()
		t.c.Observer.TxGone(t.m.Kind(), t.m.State())
		if !t.ended && t.m.LastCode() < 200 && t.req.Method != sip.ACK {
			// Stopped without finishing (a panic, or shutdown): still owe a final response.
			t.sendDirect(sip.NewResponseFromRequest(t.req, 500, "Server Internal Error", nil))
		}
		t.ended = true
		t.settle()
	}
}

// release drops what a transaction in a wait state no longer needs, so the 64*T1 it may still
// live costs little memory: in Accepted (RFC 6026) nothing is retransmitted by the machine, in
// Completed only the final response is, in Confirmed nothing; after a non-2xx final response the
// proxy context has nothing left to do and is stopped.
func (t *serverTx) release(ctx actor.Context) {
	t.timers.prune(t.m.Live)
	switch t.m.State() {
	case transaction.Accepted:
		t.req, t.last, t.offered = nil, nil, nil
	case transaction.Completed, transaction.Confirmed:
		t.req, t.offered = nil, nil
		if t.m.State() == transaction.Confirmed {
			t.last = nil
		}
		if t.tu != nil {
			ctx.Stop(t.tu)
			t.tu = nil
		}
	}
	t.park(ctx)
}

// park hands the final wait to the shard once the machine only absorbs retransmissions: a
// non-INVITE over UDP in Completed (Timer J), an accepted INVITE whose proxy context is done
// (Timer L). A reliable non-INVITE has no such wait (Timer J is zero).
func (t *serverTx) park(ctx actor.Context) {
	if t.parking || t.ended || t.waitUntil.IsZero() {
		return
	}
	nist := t.m.Kind() == transaction.ServerNonInvite
	switch st := t.m.State(); {
	case nist && st == transaction.Completed && t.from.Transport == "UDP":
	case t.m.Kind() == transaction.ServerInvite && st == transaction.Accepted && t.tuDone:
	default:
		return
	}
	r, ok := t.m.Residual()
	if !ok {
		return
	}
	var e *parked
	if !nist || t.lastWire != nil { // a NIST's final response not kept as sent cannot happen: a failed send ends it
		e = newParked(r, t.key, t.callID, t.waitUntil, t.lastWire)
	}
	if e == nil {
		if nist && !t.timers.armed(transaction.TimerJ) {
			t.timers.start(t.c.Clock, ctx, transaction.TimerJ, t.waitUntil.Sub(t.c.Clock.Now())) // the actor waits itself
		}
		return // (an IST's Timer L runs in the actor already)
	}
	t.parking = true
	ctx.Send(ctx.Parent(), &txParking{Key: t.key, PID: ctx.Self(), Entry: e})
}

// settle takes the transaction out of Stats.Pending once it owes no final response.
func (t *serverTx) settle() {
	if t.pending && (t.ended || t.m.LastCode() >= 200) {
		t.pending = false
		t.c.Stats.Pending.Add(-1)
	}
}

// step feeds the machine and carries out its actions.
func (t *serverTx) traceParties() (*sip.Request, string, string) {
	return t.req, "source", t.from.Transport + ":" + t.from.Addr
}

func (t *serverTx) step(ctx actor.Context, ev transaction.Event) {
	defer t.release(ctx)
	before := t.m.State()
	// Copy the actions out of the machine's buffer (onto the stack): carrying one out may step
	// the machine again (a CANCEL's PassRequest answers 200 at once).
	var buf [8]transaction.Action
	acts := append(buf[:0], t.m.Step(t.c.Clock.Now(), ev)...)
	t.c.traceTransition(&t.m, before, ev, t.key, t.callID, t, &t.entered)
	for _, a := range acts {
		switch a.Kind {
		case transaction.PassRequest:
			t.passRequest(ctx)
		case transaction.PassAck:
			// RFC 6026 §7.1: an ACK matching an accepted INVITE goes on like any ACK for a 2xx.
			if t.ack != nil {
				t.c.Relay.ForwardStateless(t.ack, nil)
			}
		case transaction.SendResponse, transaction.ResendResponse:
			if a.Kind == transaction.SendResponse {
				t.last = t.offered
			}
			if t.last != nil && !t.sendDirect(t.last) {
				// §17.2.4: a transport error is the TU's to hear about; the machine terminates.
				defer t.step(ctx, transaction.Event{Kind: transaction.TransportFailed})
			}
		case transaction.StartTimer:
			if a.Timer == transaction.TimerJ || a.Timer == transaction.TimerL {
				t.waitUntil = t.c.Clock.Now().Add(a.After)
			}
			if a.Timer == transaction.TimerJ && a.After > 0 {
				// Parked at once (see park), so the shard runs this wait; armed there only
				// if parking is not possible.
				break
			}
			t.timers.start(t.c.Clock, ctx, a.Timer, a.After)
		case transaction.InformTimeout, transaction.InformTransportError:
			if ce := t.log.Check(zap.DebugLevel, "server transaction ended early"); ce != nil {
				ce.Write(zap.String("call_id", t.callID), zap.String("branch", t.key.Branch), zap.Stringer("action", a.Kind))
			}
		case transaction.Terminate:
			t.ended = true
			if t.tu != nil && !t.tuDone && t.m.Kind() == transaction.ServerInvite {
				// Timer L ended the wait of an accepted INVITE whose context still has branches
				// (CANCELled after the 2xx, each given up 64·T1 after its CANCEL at most):
				// stopping now would stop them, and their late final responses would be
				// forwarded as strays — a 487 upstream after the 2xx. Wait for the context.
				t.lingering = true
				break
			}
			ctx.Stop(ctx.Self())
		}
	}
}

// passRequest hands the request to its transaction user: a proxy context, or for a CANCEL
// that matched an INVITE transaction, the 200 and the news to that transaction.
func (t *serverTx) passRequest(ctx actor.Context) {
	if t.req.Method == sip.CANCEL && t.cancels != nil {
		// §16.10: answer the CANCEL at once, then cancel the pending branches.
		t.respondLocal(ctx, 200, "OK")
		ctx.Send(t.cancels, &relay.CancelArrived{})
		return
	}
	req, from, self := t.req, t.from, ctx.Self()
	t.tu = ctx.Spawn(t.c.Props(relay.NewContext(t.c.Relay, req, from, self)))
}

// respondLocal answers with a response generated here (not forwarded from downstream).
func (t *serverTx) respondLocal(ctx actor.Context, code int, reason string) {
	t.offered = sip.NewResponseFromRequest(t.req, code, reason, nil)
	t.step(ctx, transaction.Event{Kind: transaction.ResponseSent, Code: code})
	t.settle()
}

func (t *serverTx) sendDirect(res *sip.Response) bool {
	if res.StatusCode >= 500 {
		t.c.Stats.ResponsesSent5xx.Add(1)
	}
	final := res.StatusCode >= 200 && !t.answered
	t.answered = t.answered || final
	took := time.Duration(-1)
	if final && !t.started.IsZero() {
		took = t.c.Clock.Now().Sub(t.started)
	}
	t.c.Observer.Response(res.StatusCode, took, final)
	var err error
	if final && t.from.Transport == "UDP" && t.m.Kind() == transaction.ServerNonInvite {
		t.lastWire, err = t.c.Wire.SendResponseKept(res, t.from)
	} else {
		err = t.c.Wire.SendResponse(res, t.from)
	}
	if err != nil {
		t.c.Stats.SendErrors.Add(1)
		t.log.Info("response not sent", zap.String("call_id", t.callID), zap.Int("code", res.StatusCode), zap.Error(err))
		return false
	}
	return true
}
