// Package txn is the transaction room: the shards that own the transaction table, the server
// and client transactions (RFC 3261 §17 machines of sipcore/transaction driven by actors), and
// the parked waits. A server transaction hands its request to a relay proxy context; client
// transactions are started, CANCELled and stopped by the relay's messages. The engine tells it
// everything else through an Env.
package txn

import (
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/partysip/partysip/actors/internal/clock"
	"github.com/partysip/partysip/actors/relay"
	"github.com/partysip/partysip/actors/transport"
	"github.com/partysip/partysip/sipcore/base"
	"github.com/partysip/partysip/sipcore/proxy"
	"github.com/partysip/partysip/sipcore/transaction"
)

// Env is what the transaction room is given by the engine that wires it.
type Env struct {
	Clock  clock.Clock
	Log    *zap.Logger
	Local  *base.Local
	Wire   transport.Wire
	Timers transaction.Timers
	// Relay runs the proxy context a server transaction hands its request to, and forwards
	// statelessly what matches no transaction.
	Relay    *relay.Env
	DeadHops *relay.DeadHops
	Signer   proxy.DialogSigner
	Stats    *Stats
	Observer Observer
	// Fault is asked once per transaction actor, as it starts; true makes it panic (drills).
	Fault func(kind transaction.Kind, req *sip.Request) bool
	// StallFor is how long a new server transaction sits still (the stall drill; 0: none).
	StallFor func() time.Duration
	// Draining says new calls are turned away; OverCap that req must be refused now
	// (limits.transactions, limits.memory_mib).
	Draining func() bool
	OverCap  func(req *sip.Request) bool
	// HoldTx takes one of a source's limits.source_transactions places; release gives it back
	// when the transaction ends.
	HoldTx func(netip.Addr) (release func(), ok bool)
	// ShardFor is the shard that owns a key; Dequeued counts a message taken off shard i's queue.
	ShardFor func(transaction.Key) *actor.PID
	Dequeued func(i int)
	// Props are the props of a transaction-path actor (dispatcher, supervision).
	Props func(actor.Actor) *actor.Props
	// Ignored records a message an actor dropped on purpose, and why (causal traces); may be nil.
	Ignored func(self *actor.PID, msg any, why string)
}

// Stats are the transaction room's counters (the engine's Stats embeds them).
type Stats struct {
	LiveTx           atomic.Int64 // transaction actors alive
	Parked           atomic.Int64 // transactions waiting out their final timer without an actor (parked.go)
	Pending          atomic.Int64 // server transactions still owing their final response
	TxStarted        atomic.Int64
	TxPanics         atomic.Int64
	TxStalls         atomic.Int64 // server transactions held still by the stall drill
	RejectedDrain    atomic.Int64
	RejectedLimit    atomic.Int64 // new requests refused over limits.transactions
	RejectedSource   atomic.Int64 // new requests refused over limits.source_transactions
	SendErrors       atomic.Int64
	ResponsesSent5xx atomic.Int64
}

// Observer is told of transactions' moves for metrics.
type Observer interface {
	// TxMoved: a transaction of kind k went from one state to another after dwell in it (<0:
	// not known, as for Idle and the moves of parked waits).
	TxMoved(k transaction.Kind, from, to transaction.State, dwell time.Duration)
	TxGone(k transaction.Kind, s transaction.State)
	// Response: a server transaction sent a response; took is the time since its request
	// arrived (on the engine's clock), counted for the final one.
	Response(code int, took time.Duration, final bool)
}

// ignored records that self dropped msg on purpose (for causal traces; nothing without a tracer).
func (c *Env) ignored(self *actor.PID, msg any, why string) {
	if c.Ignored != nil {
		c.Ignored(self, msg, why)
	}
}
