package actors

import (
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/emiago/sipgo/sip"

	"github.com/partysip/partysip/sipcore/transaction"
)

// Parking: a transaction whose machine has made its last decision and only waits out its final
// timer, absorbing retransmissions meanwhile, hands that wait to its shard and its actor stops.
// The waits are long over UDP — 64*T1 (32 s) for Timer J (a non-INVITE server transaction in
// Completed), Timer L (an INVITE server transaction in Accepted, RFC 6026) and Timer M (an
// INVITE client transaction in Accepted) — and at a few thousand requests a second most
// transactions alive are in them. An actor with its mailbox, timers and parsed messages costs
// kilobytes and work for the collector; a parked entry costs the bytes of one response.
//
// What each parked wait does is what its machine would do (RFC 3261 §17, RFC 6026):
//
//	NIST Completed: a retransmitted request gets the final response again (from its bytes)
//	NICT Completed: retransmitted responses are absorbed
//	IST  Accepted:  a retransmitted INVITE is absorbed, an ACK passes on (statelessly, like
//	                any ACK for a 2xx), a CANCEL gets 200 (§16.10: the context exists)
//	ICT  Accepted:  a retransmitted 2xx passes on upstream, by Via, as its context would
//
// When the wait is over, the entry goes (the machine's Terminated), and the trace says so.
type parked struct {
	key    transaction.Key
	kind   transaction.Kind
	state  transaction.State
	callID string
	until  time.Time
	// resend is the final response of a NIST, as sent, and where it went.
	resend *sentWire
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

// newParked builds a parked entry; resend is a NIST's final response as it went out over UDP
// (nil for the other kinds).
func newParked(kind transaction.Kind, state transaction.State, callID string, until time.Time, resend *sentWire) *parked {
	return &parked{kind: kind, state: state, callID: strings.Clone(callID), until: until, resend: resend}
}

// park takes a transaction's wait from its actor.
func (s *shard) park(ctx actor.Context, m *txParking) {
	if pid, ok := s.txs[m.Key]; !ok || pid.Id != m.PID.Id {
		ctx.Poison(m.PID) // not ours to track (cannot happen): it gave up its wait anyway
		return
	}
	delete(s.txs, m.Key) // byPID stays until Terminated, which counts the actor gone
	// The key's strings may share memory with the parsed request; keep only their bytes.
	e := m.Entry
	e.key = m.Key
	e.key.Branch, e.key.Host = strings.Clone(e.key.Branch), strings.Clone(e.key.Host)
	s.parked[e.key] = e
	// Every wait of one kind lasts the same, so entries expire nearly in the order they
	// came: the queue is a FIFO checked from its head (a ring buffer: no copying as it moves).
	s.parkQueue.PushBack(e)
	s.c.stats.Parked.Add(1)
	s.c.metrics.txMoved(m.Entry.kind, transaction.Idle, m.Entry.state)
	ctx.Poison(m.PID)
	s.armSweep(ctx)
}

func (s *shard) armSweep(ctx actor.Context) {
	if s.sweepArmed || s.parkQueue.Len() == 0 {
		return
	}
	s.sweepArmed = true
	d := max(time.Until(s.parkQueue.Front().until), parkSweepEvery)
	self, root := ctx.Self(), ctx.ActorSystem().Root
	time.AfterFunc(d, func() { root.Send(self, &parkSweep{}) })
}

// sweep ends the parked waits that are over.
func (s *shard) sweep(ctx actor.Context) {
	s.sweepArmed = false
	now := time.Now()
	for s.parkQueue.Len() > 0 && !s.parkQueue.Front().until.After(now) {
		e := s.parkQueue.PopFront()
		if s.parked[e.key] != e {
			continue // gone already (cannot happen today: a parked key is never parked again)
		}
		delete(s.parked, e.key)
		s.c.stats.Parked.Add(-1)
		s.c.metrics.txMoved(e.kind, e.state, transaction.Terminated)
		s.c.logTransition(e.kind, e.callID, e.key.Branch, e.state,
			transaction.Event{Kind: transaction.TimerFired, Timer: waitTimer(e.kind)}, transaction.Terminated, true)
	}
	s.armSweep(ctx)
}

// waitTimer is the timer a parked wait of kind k waits out.
func waitTimer(k transaction.Kind) transaction.Timer {
	switch k {
	case transaction.ServerNonInvite:
		return transaction.TimerJ
	case transaction.ServerInvite:
		return transaction.TimerL
	case transaction.ClientInvite:
		return transaction.TimerM
	}
	return transaction.TimerK
}

// parkedRequest handles a request matching a parked server transaction.
func (s *shard) parkedRequest(e *parked, req *sip.Request) {
	switch {
	case e.resend != nil:
		if err := e.resend.udp.write(e.resend.b, e.resend.dst); err != nil {
			s.c.stats.SendErrors.Add(1)
		}
	case e.kind == transaction.ServerInvite && req.Method == sip.ACK:
		s.c.forwardStateless(req)
	}
}

// parkedResponse handles a response matching a parked client transaction.
func (s *shard) parkedResponse(e *parked, res *sip.Response) {
	if e.kind == transaction.ClientInvite && res.StatusCode >= 200 && res.StatusCode < 300 {
		s.c.forwardResponseStateless(res)
	}
}

// parkedInfo describes the parked entries for an operator's listing.
func (s *shard) parkedInfo() []TransactionInfo {
	out := make([]TransactionInfo, 0, len(s.parked))
	for k, e := range s.parked {
		out = append(out, TransactionInfo{Kind: e.kind.String(), State: e.state.String(), Method: string(k.Method),
			CallID: e.callID, Branch: k.Branch, Parked: true})
	}
	return out
}
