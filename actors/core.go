package actors

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/partysip/partysip/actors/dialogs"
	"github.com/partysip/partysip/actors/internal/causal"
	"github.com/partysip/partysip/actors/internal/clock"
	"github.com/partysip/partysip/actors/internal/supervise"
	"github.com/partysip/partysip/actors/relay"
	"github.com/partysip/partysip/actors/transport"
	"github.com/partysip/partysip/actors/txn"
	"github.com/partysip/partysip/sipcore/base"
	"github.com/partysip/partysip/sipcore/proxy"
	"github.com/partysip/partysip/sipcore/transaction"
)

// FaultFunc lets tests (and later an operator's fault-injection switch) make a transaction actor
// panic: it is asked once per transaction actor, as it starts, with its kind and its request.
type FaultFunc func(kind transaction.Kind, req *sip.Request) bool

// core is what every actor of one engine shares. It is built once at start and read-only after,
// except for the atomic counters and the draining flag.
type core struct {
	// clock is the time of every protocol timer and machine step (clock.Wall in the daemon).
	clock clock.Clock
	log   *zap.Logger
	local *base.Local
	// locator finds next hops by RFC 3263; nil when DNS could not be set up.
	locator *relay.Locator
	timers  transaction.Timers
	timerC  time.Duration
	// tp is what the transaction layer sends through (the transport room's port); net is the
	// network behind it, for the engine (sockets, shutdown).
	tp     transport.Wire
	net    *transport.Transports
	shards []*actor.PID
	// shardQueue counts the messages from the transports sent to each shard and not yet taken
	// (its mailbox depth for those messages, which are nearly all of them).
	shardQueue []atomic.Int64
	// txn is the transaction room's environment (shards, transactions, parked waits).
	txn *txn.Env
	// relay is the relay room's environment (proxy contexts, stateless forwarding).
	relay *relay.Env
	// dialogs is the dialog room (the dialog shards and their actors).
	dialogs *dialogs.Room
	root    *actor.RootContext
	fault   FaultFunc
	// faults is the configured (and run-time) fault injection.
	faults *Faults
	// dispatcher runs the mailboxes of the transaction-path actors; txStrategy stops and counts
	// a failed transaction actor (both shared, built once).
	dispatcher actor.Dispatcher
	pool       *workerPool // the daemon's dispatcher (nil when Options.Dispatcher replaced it)
	txStrategy actor.SupervisorStrategy

	draining atomic.Bool
	// rt is what a reload replaces (routes, plugin chain and their settings): read once per
	// request with an atomic load; a request keeps the snapshot it started with.
	rt      atomic.Pointer[relay.Routing]
	stats   Stats
	metrics *metrics

	// signer signs our Record-Route entries and recognises them on in-dialog requests.
	signer proxy.DialogSigner
	// sources limits and bans source addresses (request rate, failed authentications).
	sources *sources
	// mem refuses new work while memory is over limits.memory_mib.
	mem *memGuard
	// deadHops remembers next hops that did not answer (failover).
	deadHops relay.DeadHops
	// bad logs malformed input a few lines a second (every one is counted in Stats.Malformed).
	bad *transport.SampledLog
	// conns caps the stream connections, in total and per source.
	conns *transport.ConnLimits

	branchPrefix string
	branchSeq    atomic.Uint64
	// tracer records actor-level causal events (Options.Trace, or the debug log); nil: none.
	tracer *causal.Tracer
}

// Stats are the engine's counters.
type Stats struct {
	// txn.Stats are the transaction room's counters (LiveTx, Parked, Pending, ...).
	txn.Stats
	RequestsIn       atomic.Int64
	ResponsesIn      atomic.Int64
	Malformed        atomic.Int64
	ListenerRestarts atomic.Int64
	StatelessFwd     atomic.Int64
	Shed             atomic.Int64 // new requests dropped unanswered: their shard was maxShardBacklog behind
	Dialogs          atomic.Int64 // dialogs live (created through us, not yet ended)
	DialogsCreated   atomic.Int64
	DialogPanics     atomic.Int64
	// Races counts the races response contexts resolved, by proxy.Race.
	Races [proxy.NumRaces]atomic.Int64
}

// Races returns how many times each race was resolved, by name (proxy.Race's String).
func (e *Engine) Races() map[string]int64 {
	out := map[string]int64{}
	for _, r := range proxy.Races() {
		out[r.String()] = e.c.stats.Races[r].Load()
	}
	return out
}

func newBranchPrefix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// uniqueBranch returns a fresh stateful branch carrying the request's loop hash.
func (c *core) uniqueBranch(loopHash string) string {
	n := c.branchSeq.Add(1)
	return proxy.NewBranch(loopHash, c.branchPrefix+strconv.FormatUint(n, 36))
}

// shardFor returns the shard actor that owns a key.
func (c *core) shardFor(k transaction.Key) *actor.PID {
	return c.shards[k.Shard(len(c.shards))]
}

// maxShardBacklog is how many messages a shard may have waiting before new requests for it are
// shed: about 100 ms of a shard's work under a flood, 4096 parsed messages of a few KB each.
const maxShardBacklog = 4096

// route is the transports' entry point: it computes the transaction key of a parsed message
// and sends it to the owning shard. It runs on a read goroutine and never blocks.
func (c *core) route(msg sip.Message, from transport.Peer) {
	var key transaction.Key
	var err error
	switch m := msg.(type) {
	case *sip.Request:
		c.stats.RequestsIn.Add(1)
		c.metrics.request(m.Method)
		if ok, banned := c.sources.admit(from.IP(), c.clock.Now()); !ok {
			if banned {
				c.log.Warn("source banned: request rate", zap.String("source", from.Addr),
					zap.Int("per_second", c.sources.policy.Load().Requests), zap.Duration("for", c.sources.policy.Load().Ban))
			}
			return // dropped unanswered: an answer would feed the flood
		}
		if c.relay.IsStateless(m) {
			c.relay.RelayStateless(m, from)
			return
		}
		key, err = transaction.ServerKey(m)
	case *sip.Response:
		c.stats.ResponsesIn.Add(1)
		if via := m.Via(); via != nil {
			if b, _ := via.Params.Get("branch"); proxy.IsStatelessBranch(b) {
				c.relay.ForwardResponseStateless(m) // §16.11: by Via alone, no transaction
				return
			}
		}
		key, err = transaction.ClientKey(m)
	}
	if err != nil {
		c.stats.Malformed.Add(1)
		c.bad.Info("message without transaction identity dropped", zap.String("from", from.Addr), zap.Error(err))
		return
	}
	i := key.Shard(len(c.shards))
	if req, ok := msg.(*sip.Request); ok && c.shardQueue[i].Load() >= maxShardBacklog && !base.HasToTag(req) &&
		req.Method != sip.ACK && req.Method != sip.CANCEL {
		// The shard is this far behind: a new request is shed here, before it holds memory in a
		// queue and a 503 costs a write (over UDP its sender retransmits; the socket buffer
		// would drop it too). Responses and requests of calls in progress always queue.
		c.stats.Shed.Add(1)
		return
	}
	c.shardQueue[i].Add(1)
	c.root.Send(c.shards[i], &txn.MessageReceived{Msg: msg, Key: key, From: from})
}

// respondStateless answers a request outside any transaction (drain, errors before a
// transaction exists).
func (c *core) respondStateless(req *sip.Request, from transport.Peer, code int, reason string, hdrs ...sip.Header) {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	if err := c.tp.SendResponse(res, from); err != nil {
		c.stats.SendErrors.Add(1)
		c.log.Debug("stateless response not sent", zap.Error(err))
	}
}

// callIDField is the call_id log field of a message; a message without Call-ID (a malformed one
// may reach a log line before validation) logs an empty one instead of panicking.
func callIDField(m interface{ CallID() *sip.CallIDHeader }) zap.Field {
	return zap.String("call_id", base.CallID(m))
}

// txProps are the props of a transaction-path actor: our worker pool, and the stop-and-count
// strategy for its own children. The producer hands out the actor value built by the caller:
// a closure over the first message would keep that message alive as long as the actor (props
// are kept for restarts), whereas the actor releases what it no longer needs. Transaction
// actors are stopped on failure, never restarted, so the value is never reused; a shard
// restarted with the same value would keep its table, which is what it needs anyway.
//
// The mailbox is protoactor's lock-free one (a linked queue) rather than its default ring
// behind a mutex: shards take messages from every read loop and transaction at once, and
// REGISTER at 20k/s on 2 cores ran with a third fewer retransmissions (bench register, A/B).
func (c *core) txProps(a actor.Actor) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor { return a }, append([]actor.PropsOption{
		actor.WithDispatcher(c.dispatcher), actor.WithSupervisor(c.txStrategy), actor.WithMailbox(actor.UnboundedLockfree())},
		c.tracer.Options()...)...)
}

// traceIDs names the call and branch a message between actors is about, for causal traces.
func traceIDs(msg any) (callID, branch string) {
	switch m := msg.(type) {
	case *txn.MessageReceived:
		return base.CallID(m.Msg), m.Key.Branch
	case *relay.ClientTxRequested:
		return base.CallID(m.Req), m.Key.Branch
	case *relay.BranchResponded:
		b := ""
		if via := m.Res.Via(); via != nil {
			b, _ = via.Params.Get("branch")
		}
		return base.CallID(m.Res), b
	case *relay.ToClientTx:
		return "", m.Key.Branch
	}
	return "", ""
}

func (c *core) routing() *relay.Routing { return c.rt.Load() }

// txSupervisor stops a failed transaction actor (or a failed proxy context under a server
// transaction) and counts the failure: its state dies with it, so it is never restarted. It is
// set on the props of the supervising actor: the shard spawns with it, and so does a server
// transaction for its proxy context.
func txSupervisor(c *core) actor.SupervisorStrategy {
	return supervise.OneForOne(0, 0, actor.StopDirective, &c.stats.TxPanics, c.log, "transaction actor failed; stopping it")
}

// overCap reports whether req must be refused over limits.transactions or limits.memory_mib:
// every request but those proven to continue a call we Record-Routed. A To tag alone proves
// nothing (anyone writes one, and it used to get past the cap).
func (c *core) overCap(req *sip.Request) bool {
	limit, live := c.routing().MaxTransactions, c.stats.LiveTx.Load()
	if (limit <= 0 || live < limit) && (c.mem == nil || !c.mem.full(live)) {
		return false
	}
	return !base.HasToTag(req) || !c.signer.Proven(req, c.local)
}
