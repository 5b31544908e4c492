package txn

import (
	"hash/maphash"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/emiago/sipgo/sip"
	"github.com/gammazero/deque"

	"github.com/partysip/partysip/actors/internal/children"
	"github.com/partysip/partysip/actors/internal/protofix"
	"github.com/partysip/partysip/actors/relay"
	"github.com/partysip/partysip/sipcore/base"
	"github.com/partysip/partysip/sipcore/proxy"
	"github.com/partysip/partysip/sipcore/transaction"
)

// shard owns one slice of the transaction table: a map from transaction key to the actor that
// runs that transaction. It spawns server transactions for new requests and client transactions
// for forwarded ones, and supervises them: a transaction that panics is stopped (its state is
// gone; restarting it would replay nothing), never restarted.
type shard struct {
	c     *Env
	index int // in core.shards, and in core.shardQueue
	txs   children.Registry[transaction.Key]
	// parked holds the transactions waiting out their final timer without an actor
	// (parked.go); parkQueues the same entries, one FIFO per timer waited out (see park).
	// parked is keyed by the hash of a transaction key (seed: seed); parkedCount counts the
	// entries, chains included.
	parked      map[uint64]*parked
	parkedCount int
	seed        maphash.Seed
	parkQueues  map[transaction.Timer]*deque.Deque[*parked]
	sweepAt     time.Time // when the next sweep is armed for; zero: none
	// parkedPeak is the most entries parked held since it was last made anew: Go maps never
	// shrink, so once a flood has passed and the table is empty again, it is remade (as the
	// transaction registry does).
	parkedPeak int
	// held give back, by the transaction's PID id, the limits.source_transactions places the
	// server transactions hold, when they end.
	held map[string]func()
}

// NewShard is shard number index of the transaction table.
func NewShard(c *Env, index int) actor.Actor {
	return &shard{c: c, index: index,
		parked: make(map[uint64]*parked), seed: maphash.MakeSeed(), parkQueues: make(map[transaction.Timer]*deque.Deque[*parked]),
		held: make(map[string]func())}
}

// ListRequested asks a shard (through a future, for operators) for its live transactions.
type ListRequested struct{}

// List is a shard's answer: its transaction actors, and its parked transactions described.
type List struct {
	PIDs   []*actor.PID
	Parked []Info
}

func (s *shard) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *MessageReceived:
		s.c.Dequeued(s.index)
		switch msg := m.Msg.(type) {
		case *sip.Request:
			s.request(ctx, msg, m)
		case *sip.Response:
			s.response(ctx, msg, m)
		}
	case *relay.ClientTxRequested:
		s.spawn(ctx, m.Key, newClientTx(s.c, m))
	case *relay.ToClientTx:
		if pid, ok := s.txs.Get(m.Key); ok {
			ctx.Send(pid, m.Msg)
		} else {
			s.c.ignored(ctx.Self(), m, "for a client transaction that has ended")
		}
	case *ListRequested:
		pids := make([]*actor.PID, 0, s.txs.Len())
		s.txs.Each(func(_ transaction.Key, pid *actor.PID) { pids = append(pids, pid) })
		ctx.Respond(&List{PIDs: pids, Parked: s.parkedInfo()})
	case *txParking:
		s.park(ctx, m)
	case *parkSweep:
		s.sweep(ctx)
	case *actor.Terminated:
		protofix.ReleaseChild(ctx)
		if release, ok := s.held[m.Who.Id]; ok {
			release()
			delete(s.held, m.Who.Id)
		}
		if _, ok := s.txs.Gone(m.Who.Id); ok {
			s.c.Stats.LiveTx.Add(-1)
		}
	}
}

func (s *shard) request(ctx actor.Context, req *sip.Request, m *MessageReceived) {
	if pid, ok := s.txs.Get(m.Key); ok {
		ctx.Send(pid, m) // retransmission, or ACK for a non-2xx (§17.2.3)
		return
	}
	if e := s.parkedGet(m.Key); e != nil {
		s.parkedRequest(e, req)
		return
	}
	inv, invPID := proxy.NoInvite, (*actor.PID)(nil)
	if req.Method == sip.CANCEL {
		if pid, ok := s.txs.Get(transaction.InviteKey(m.Key)); ok {
			inv, invPID = proxy.InviteLive, pid
		} else if e := s.parkedGet(transaction.InviteKey(m.Key)); e != nil && e.m.Kind() == transaction.ServerInvite {
			inv = proxy.InviteAnswered
		}
	}
	switch proxy.DispatchUnmatched(req.Method, inv) {
	case proxy.ForwardStateless:
		s.c.Relay.ForwardStateless(req, &m.From)
		return
	case proxy.Answer200:
		s.c.Relay.Raced(proxy.RaceCancelAfterFinal) // the INVITE was answered and is parked
		s.c.Relay.RespondStateless(req, m.From, 200, "OK")
		return
	case proxy.CancelContext:
		s.spawn(ctx, m.Key, newServerTx(s.c, m, invPID))
		return
	}
	if s.c.Draining() && isInitial(req) {
		// Draining: live dialogs go on, new ones are turned away (RFC 3261 §21.5.4).
		s.c.Stats.RejectedDrain.Add(1)
		s.c.Relay.RespondStateless(req, m.From, 503, "Service Unavailable", sip.NewHeader("Retry-After", "5"))
		return
	}
	if s.c.OverCap(req) {
		// Over the cap: a new call waits rather than the daemon growing without bound; requests
		// of calls in progress still pass so they can end.
		s.c.Stats.RejectedLimit.Add(1)
		s.c.Relay.RespondStateless(req, m.From, 503, "Service Unavailable", sip.NewHeader("Retry-After", "2"))
		return
	}
	release, ok := s.c.HoldTx(m.From.IP())
	if !ok && (isInitial(req) || !s.c.Signer.Proven(req, s.c.Local)) {
		// One address holds limits.source_transactions already: its new work waits, others'
		// does not.
		s.c.Stats.RejectedSource.Add(1)
		s.c.Relay.RespondStateless(req, m.From, 503, "Service Unavailable", sip.NewHeader("Retry-After", "2"))
		return
	}
	pid := s.spawn(ctx, m.Key, newServerTx(s.c, m, nil))
	if release != nil {
		s.held[pid.Id] = release
	}
}

func (s *shard) response(ctx actor.Context, res *sip.Response, m *MessageReceived) {
	if pid, ok := s.txs.Get(m.Key); ok {
		ctx.Send(pid, m)
		return
	}
	if e := s.parkedGet(m.Key); e != nil {
		s.parkedResponse(e, res)
		return
	}
	// A stray response: a 2xx retransmission after our client transaction ended, or a response
	// for a request we forwarded statelessly. Forward it on by Via (§16.7, §16.11).
	s.c.Relay.ForwardResponseStateless(res)
}

func (s *shard) spawn(ctx actor.Context, key transaction.Key, a actor.Actor) *actor.PID {
	// Counted before it starts: its first send may be answered before Spawn returns.
	s.c.Stats.LiveTx.Add(1)
	s.c.Stats.TxStarted.Add(1)
	pid := ctx.Spawn(s.c.Props(a))
	s.txs.Add(key, pid)
	return pid
}

// isInitial reports whether a request starts something new (no To tag): during drain only
// those are refused, so calls in progress can still end, theirs with or without our Record-Route.
func isInitial(req *sip.Request) bool {
	return !base.HasToTag(req)
}
