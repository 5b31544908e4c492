package txn

import (
	"hash/maphash"
	"math"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/emiago/sipgo/sip"
	"github.com/gammazero/deque"
	"go.uber.org/zap"

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
//
// An entry is one allocation of fixed size plus one buffer holding, back to back, the key's
// strings, the Call-ID and the bytes a retransmission gets again; the shard's table maps a
// 64-bit hash of the key to it (entries whose keys hash alike are chained), and the timer's
// queue holds a pointer. Nothing of the parsed message, of the actor or of its timers stays.
type parked struct {
	next  *parked // the next entry whose key has the same hash (almost always nil)
	until int64   // when the wait ends, Unix ns on the engine clock
	// buf: the key's branch, host and method, the Call-ID, then the kept bytes; ends says
	// where each of the four strings ends (the kept bytes follow the last).
	buf  []byte
	ends [4]uint16
	// to is where the kept bytes went (a NIST's final response, an ICT's ACK for a non-2xx);
	// none are kept for the other waits.
	to     transport.Dest
	port   int32
	client bool
	m      transaction.Residual
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

// newParked builds the parked entry of the transaction key (callID's) waiting until until;
// resend is what a retransmission gets again (a NIST's final response, an ICT Completed's
// ACK) as it went out over UDP, nil for the other waits. It returns nil when the key's
// strings are too long to pack (a wait the actor then keeps).
func newParked(m transaction.Residual, key transaction.Key, callID string, until time.Time, resend *transport.Sent) *parked {
	parts := [4]string{key.Branch, key.Host, string(key.Method), callID}
	n := 0
	e := &parked{until: until.UnixNano(), port: int32(key.Port), client: key.Client, m: m}
	for i, p := range parts {
		n += len(p)
		if n > math.MaxUint16 {
			return nil
		}
		e.ends[i] = uint16(n)
	}
	var kept []byte
	if resend != nil {
		kept, e.to = resend.Bytes(), resend.Dest
	}
	// Copied, never shared: the key's strings may point into the parsed request.
	e.buf = make([]byte, 0, n+len(kept))
	for _, p := range parts {
		e.buf = append(e.buf, p...)
	}
	e.buf = append(e.buf, kept...)
	return e
}

// part is the ith string of the entry's buffer (0 branch, 1 host, 2 method, 3 Call-ID; 4 the
// kept bytes), without copying.
func (e *parked) part(i int) []byte {
	from := 0
	if i > 0 {
		from = int(e.ends[i-1])
	}
	if i == len(e.ends) {
		return e.buf[from:]
	}
	return e.buf[from:e.ends[i]]
}

// is reports whether the entry is key's.
func (e *parked) is(k transaction.Key) bool {
	return k.Client == e.client && k.Port == int(e.port) && string(e.part(0)) == k.Branch &&
		string(e.part(1)) == k.Host && string(e.part(2)) == string(k.Method)
}

// key rebuilds the entry's key (its strings copied: for listings and traces).
func (e *parked) key() transaction.Key {
	return transaction.Key{Client: e.client, Branch: string(e.part(0)), Host: string(e.part(1)),
		Port: int(e.port), Method: sip.RequestMethod(e.part(2))}
}

// keyHash hashes a key's fields as parked entries are hashed (entryHash): the same bytes in
// the same order, each string closed by a zero byte.
func (s *shard) keyHash(k transaction.Key) uint64 {
	var h maphash.Hash
	h.SetSeed(s.seed)
	for _, p := range [3]string{k.Branch, k.Host, string(k.Method)} {
		h.WriteString(p)
		h.WriteByte(0)
	}
	return finishHash(&h, k.Port, k.Client)
}

func (s *shard) entryHash(e *parked) uint64 {
	var h maphash.Hash
	h.SetSeed(s.seed)
	for i := range 3 {
		h.Write(e.part(i))
		h.WriteByte(0)
	}
	return finishHash(&h, int(e.port), e.client)
}

func finishHash(h *maphash.Hash, port int, client bool) uint64 {
	var tail [5]byte
	tail[0], tail[1], tail[2], tail[3] = byte(port), byte(port>>8), byte(port>>16), byte(port>>24)
	if client {
		tail[4] = 1
	}
	h.Write(tail[:])
	return h.Sum64()
}

// parkedGet is the parked entry of key k, or nil.
func (s *shard) parkedGet(k transaction.Key) *parked {
	for e := s.parked[s.keyHash(k)]; e != nil; e = e.next {
		if e.is(k) {
			return e
		}
	}
	return nil
}

// parkedDrop takes e out of the table; false if it was not in it.
func (s *shard) parkedDrop(e *parked) bool {
	h := s.entryHash(e)
	head := s.parked[h]
	if head == e {
		if e.next == nil {
			delete(s.parked, h)
		} else {
			s.parked[h] = e.next
		}
		return true
	}
	for p := head; p != nil; p = p.next {
		if p.next == e {
			p.next = e.next
			return true
		}
	}
	return false
}

// park takes a transaction's wait from its actor.
func (s *shard) park(ctx actor.Context, m *txParking) {
	if pid, ok := s.txs.Get(m.Key); !ok || pid.Id != m.PID.Id {
		ctx.Poison(m.PID) // not ours to track (cannot happen): it gave up its wait anyway
		return
	}
	s.txs.Forget(m.Key) // still our child until Terminated, which counts the actor gone
	e := m.Entry
	h := s.keyHash(m.Key)
	e.next = s.parked[h]
	s.parked[h] = e
	s.parkedCount++
	s.parkedPeak = max(s.parkedPeak, s.parkedCount)
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
	var next int64
	for _, q := range s.parkQueues {
		if q.Len() > 0 && (next == 0 || q.Front().until < next) {
			next = q.Front().until
		}
	}
	if next == 0 {
		return
	}
	now := s.c.Clock.Now()
	at := time.Unix(0, next)
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
	now := s.c.Clock.Now().UnixNano()
	for tm, q := range s.parkQueues {
		for q.Len() > 0 && q.Front().until <= now {
			e := q.PopFront()
			if !s.parkedDrop(e) {
				continue // gone already (cannot happen today: a parked key is never parked again)
			}
			s.parkedCount--
			s.c.Stats.Parked.Add(-1)
			before, ev := e.m.State(), transaction.Event{Kind: transaction.TimerFired, Timer: tm}
			e.m.Step(ev)
			s.c.Observer.TxMoved(e.m.Kind(), before, e.m.State(), -1)
			if s.c.Log.Core().Enabled(zap.DebugLevel) {
				s.c.logTransition(e.m.Kind(), string(e.part(3)), string(e.part(0)), before, ev, e.m.State(), true)
			}
		}
	}
	if s.parkedCount == 0 && s.parkedPeak > 4096 {
		s.parked, s.parkedPeak = make(map[uint64]*parked), 0
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
		s.resend(e)
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
		s.resend(e)
	}
}

// parkedInfo describes the parked entries for an operator's listing.
func (s *shard) parkedInfo() []Info {
	out := make([]Info, 0, s.parkedCount)
	for _, head := range s.parked {
		for e := head; e != nil; e = e.next {
			out = append(out, Info{Kind: e.m.Kind().String(), State: e.m.State().String(), Method: string(e.part(2)),
				CallID: string(e.part(3)), Branch: string(e.part(0)), Parked: true,
				Timers: []TimerInfo{{Name: e.m.Timer().String(), Due: time.Unix(0, e.until)}}})
		}
	}
	return out
}

// resend writes an entry's kept message again (none kept: nothing to write).
func (s *shard) resend(e *parked) {
	if kept := e.part(len(e.ends)); len(kept) > 0 {
		if err := e.to.Write(kept); err != nil {
			s.c.Stats.SendErrors.Add(1)
		}
	}
}
