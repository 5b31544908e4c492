package txn

import (
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/emiago/sipgo/sip"
	"github.com/gammazero/deque"

	"github.com/partysip/partysip/actors/internal/clock"
	"github.com/partysip/partysip/actors/transport"
	"github.com/partysip/partysip/sipcore/transaction"
)

// Parking: a transaction whose machine has made its last decision and only waits out its final
// timer, absorbing retransmissions meanwhile, hands that wait to its shard and its actor stops.
// The waits are long over UDP — 64*T1 (32 s) for Timer J (a non-INVITE server transaction in
// Completed), Timer L (an INVITE server transaction in Accepted, RFC 6026), Timer M (an INVITE
// client transaction in Accepted) and Timer D (one in Completed: every CANCELled branch of a
// forked call ends there) — and at a few thousand requests a second most
// transactions alive are in them. An actor with its mailbox, timers and parsed messages costs
// kilobytes and work for the collector; a parked entry costs the bytes of one response.
//
// What each parked wait does is what its machine does — the entry keeps the machine's residual
// (transaction.Residual), which runs the machine's own rules (RFC 3261 §17, RFC 6026):
//
//	NIST Completed: a retransmitted request gets the final response again (from its bytes)
//	NICT Completed: retransmitted responses are absorbed
//	IST  Accepted:  a retransmitted INVITE is absorbed, an ACK passes on (statelessly, like
//	                any ACK for a 2xx), a CANCEL gets 200 (§16.10: the context exists)
//	ICT  Accepted:  a retransmitted 2xx passes on upstream, by Via, as its context would
//	ICT  Completed: a retransmitted final response gets the ACK again (from its bytes)
//
// When the wait is over, the entry goes (the machine's Terminated), and the trace says so.
type parked struct {
	key    transaction.Key
	m      transaction.Residual
	callID string
	until  time.Time
	// resend is what a retransmission gets again, as sent and where it went: a NIST's final
	// response, an ICT's ACK for a non-2xx.
	resend *transport.Sent
}

// txParking is a transaction actor handing its wait to its shard. The shard takes it only
// from the actor it knows under that key, then stops the actor after what it has queued.
type txParking struct {
	Key   transaction.Key
	PID   *actor.PID
	Entry *parked
}

// parkSweep asks a shard to drop the parked entries whose wait is over.
type parkSweep struct{}

// parkSweepEvery batches expiries: a sweep runs at most this often.
const parkSweepEvery = 250 * time.Millisecond

// newParked builds a parked entry; resend is what a retransmission gets again (a NIST's final
// response, an ICT Completed's ACK) as it went out over UDP, nil for the other waits.
func newParked(m transaction.Residual, callID string, until time.Time, resend *transport.Sent) *parked {
	return &parked{m: m, callID: strings.Clone(callID), until: until, resend: resend}
}

// park takes a transaction's wait from its actor.
func (s *shard) park(ctx actor.Context, m *txParking) {
	if pid, ok := s.txs.Get(m.Key); !ok || pid.Id != m.PID.Id {
		ctx.Poison(m.PID) // not ours to track (cannot happen): it gave up its wait anyway
		return
	}
	s.txs.Forget(m.Key) // still our child until Terminated, which counts the actor gone
	// The key's strings may share memory with the parsed request; keep only their bytes.
	e := m.Entry
	e.key = m.Key
	e.key.Branch, e.key.Host = strings.Clone(e.key.Branch), strings.Clone(e.key.Host)
	s.parked[e.key] = e
	s.parkedPeak = max(s.parkedPeak, len(s.parked))
	// Every wait on one timer lasts the same, so its entries expire in the order they came:
	// each timer's queue is a FIFO checked from its head (a ring buffer: no copying as it
	// moves). One queue for all would hold a 5 s Timer K behind a 32 s Timer D.
	tm := e.m.Timer()
	q := s.parkQueues[tm]
	if q == nil {
		q = new(deque.Deque[*parked])
		s.parkQueues[tm] = q
	}
	q.PushBack(e)
	s.c.Stats.Parked.Add(1)
	s.c.Observer.TxMoved(e.m.Kind(), transaction.Idle, e.m.State(), -1)
	ctx.Poison(m.PID)
	s.armSweep(ctx)
}

// armSweep schedules a sweep for when the earliest parked wait ends, unless one is due by then.
func (s *shard) armSweep(ctx actor.Context) {
	var next time.Time
	for _, q := range s.parkQueues {
		if q.Len() > 0 && (next.IsZero() || q.Front().until.Before(next)) {
			next = q.Front().until
		}
	}
	if next.IsZero() {
		return
	}
	now := s.c.Clock.Now()
	at := next
	if soonest := now.Add(parkSweepEvery); at.Before(soonest) {
		at = soonest
	}
	if !s.sweepAt.IsZero() && !at.Before(s.sweepAt) {
		return // the sweep already armed comes soon enough
	}
	s.sweepAt = at
	clock.SendAfter(s.c.Clock, ctx, at.Sub(now), &parkSweep{})
}

// sweep ends the parked waits that are over.
func (s *shard) sweep(ctx actor.Context) {
	s.sweepAt = time.Time{}
	now := s.c.Clock.Now()
	for tm, q := range s.parkQueues {
		for q.Len() > 0 && !q.Front().until.After(now) {
			e := q.PopFront()
			if s.parked[e.key] != e {
				continue // gone already (cannot happen today: a parked key is never parked again)
			}
			delete(s.parked, e.key)
			s.c.Stats.Parked.Add(-1)
			before, ev := e.m.State(), transaction.Event{Kind: transaction.TimerFired, Timer: tm}
			e.m.Step(ev)
			s.c.Observer.TxMoved(e.m.Kind(), before, e.m.State(), -1)
			s.c.logTransition(e.m.Kind(), e.callID, e.key.Branch, before, ev, e.m.State(), true)
		}
	}
	if len(s.parked) == 0 && s.parkedPeak > 4096 {
		s.parked, s.parkedPeak = make(map[transaction.Key]*parked), 0
	}
	s.armSweep(ctx)
}

// parkedRequest handles a request matching a parked server transaction, as its machine says.
func (s *shard) parkedRequest(e *parked, req *sip.Request) {
	ev := transaction.Event{Kind: transaction.RequestRetransmitted}
	if req.Method == sip.ACK {
		ev.Kind = transaction.AckReceived
	}
	switch act, _ := e.m.Step(ev); act {
	case transaction.ResendResponse:
		if e.resend != nil {
			s.resend(e.resend)
		}
	case transaction.PassAck:
		s.c.Relay.ForwardStateless(req, nil) // like any ACK for a 2xx
	}
}

// parkedResponse handles a response matching a parked client transaction, as its machine says.
func (s *shard) parkedResponse(e *parked, res *sip.Response) {
	switch act, _ := e.m.Step(transaction.Event{Kind: transaction.ResponseReceived, Code: res.StatusCode}); act {
	case transaction.PassResponse:
		s.c.Relay.ForwardResponseStateless(res) // upstream by Via, as its context would
	case transaction.SendAck:
		if e.resend != nil {
			s.resend(e.resend)
		}
	}
}

// parkedInfo describes the parked entries for an operator's listing.
func (s *shard) parkedInfo() []Info {
	out := make([]Info, 0, len(s.parked))
	for k, e := range s.parked {
		out = append(out, Info{Kind: e.m.Kind().String(), State: e.m.State().String(), Method: string(k.Method),
			CallID: e.callID, Branch: k.Branch, Parked: true, Timers: []TimerInfo{{Name: e.m.Timer().String(), Due: e.until}}})
	}
	return out
}

// resend writes a kept message again.
func (s *shard) resend(w *transport.Sent) {
	if err := w.Resend(); err != nil {
		s.c.Stats.SendErrors.Add(1)
	}
}
