// Package relay is the relay room: the proxy context of each request (the plugin chain, then
// carrying out the pure response context machine of sipcore/proxy), stateless forwarding
// (§16.11), the RFC 3263 locator and the memory of dead next hops. It reaches the transaction
// layer only through the shards' addresses and the messages of messages.go, and the network
// only through transport.Wire.
package relay

import (
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/partysip/partysip/actors/dialogs"
	"github.com/partysip/partysip/actors/internal/clock"
	"github.com/partysip/partysip/actors/transport"
	"github.com/partysip/partysip/sipcore/base"
	"github.com/partysip/partysip/sipcore/proxy"
	"github.com/partysip/partysip/sipcore/transaction"
)

// Env is what the relay room is given by the engine that wires it.
type Env struct {
	Clock clock.Clock
	Log   *zap.Logger
	Local *base.Local
	Wire  transport.Wire
	// Locator finds next hops by RFC 3263; nil when DNS could not be set up.
	Locator  *Locator
	DeadHops *DeadHops
	// Signer signs our Record-Route entries and recognises them on in-dialog requests.
	Signer  proxy.DialogSigner
	Dialogs *dialogs.Room
	// T1 is the transactions' (for the 64·T1 give-up after a CANCEL); TimerC is §16.8's.
	T1, TimerC time.Duration
	// Routing is the routing in force (a reload swaps it; a request keeps the one it started with).
	Routing func() *Routing
	// ShardFor is the transaction shard that owns a key: client transactions are asked for,
	// CANCELled and stopped through it.
	ShardFor func(transaction.Key) *actor.PID
	// NewBranch returns a fresh stateful branch carrying a request's loop hash.
	NewBranch func(loopHash string) string
	// RespondStateless answers a request outside any transaction.
	RespondStateless func(req *sip.Request, from transport.Peer, code int, reason string, hdrs ...sip.Header)
	// SendErrors and StatelessFwd count failed sends and messages forwarded statelessly.
	SendErrors, StatelessFwd *atomic.Int64
	// Races, when set, counts the races the response contexts resolved (partysip_races_total),
	// indexed by proxy.Race.
	Races []atomic.Int64
}

// Raced counts a race resolved (by a context, or by the transaction layer for a CANCEL that
// came after its INVITE's context was gone).
func (c *Env) Raced(r proxy.Race) {
	if int(r) < len(c.Races) {
		c.Races[r].Add(1)
	}
}

// callIDField is a request's Call-ID as a log field.
func callIDField(m interface{ CallID() *sip.CallIDHeader }) zap.Field {
	return zap.String("call_id", base.CallID(m))
}
