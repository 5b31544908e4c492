package services

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/partysip/partysip/actors/internal/clock"
)

// NonceUseRequested asks whether a digest nonce may be used with this nonce-count: the count
// must be higher than any seen before for the nonce (RFC 7616 §3.4: replay protection); a
// nonce used without qop (no count) may be used once.
type NonceUseRequested struct {
	Nonce string
	NC    int
	// Reply gets the *NonceUseAnswered; it must not block.
	Reply func(any)
}

// NonceUseAnswered answers NonceUseRequested.
type NonceUseAnswered struct {
	Fresh bool
}

// nonceActor remembers the highest nonce-count used with each nonce for TTL after its first use
// (a nonce older than TTL is refused as stale before it gets here). Two generations of the table
// turn over every TTL, so memory is bounded by what two TTLs of traffic use.
type nonceActor struct {
	ttl        time.Duration
	clock      clock.Clock
	cur, prev  map[string]int
	turnedOver time.Time
}

func newNonces(ttl time.Duration, clk clock.Clock) actor.Actor {
	return &nonceActor{ttl: ttl, clock: clk, cur: map[string]int{}, prev: map[string]int{}, turnedOver: clk.Now()}
}

func (n *nonceActor) Receive(ctx actor.Context) {
	m, ok := ctx.Message().(*NonceUseRequested)
	if !ok {
		return
	}
	if now := n.clock.Now(); now.Sub(n.turnedOver) > n.ttl {
		n.prev, n.cur, n.turnedOver = n.cur, map[string]int{}, now
	}
	last, seen := n.cur[m.Nonce]
	if !seen {
		last, seen = n.prev[m.Nonce]
	}
	fresh := !seen || m.NC > last
	if fresh {
		n.cur[m.Nonce] = m.NC
	}
	m.Reply(&NonceUseAnswered{Fresh: fresh})
}
