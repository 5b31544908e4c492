package relay

import (
	"time"

	"github.com/partysip/partysip/actors/plugin"
	"github.com/partysip/partysip/sipcore/proxy"
)

// Routing is one configuration's way of routing requests. Built whole and never changed: a
// reload builds a new one and swaps the pointer.
type Routing struct {
	Router      *proxy.Router
	Chain       plugin.Chain
	RecordRoute bool
	// statelessAll relays every request statelessly; statelessRoutes says some route does.
	StatelessAll, StatelessRoutes bool
	// forkGroupTimeout moves a sequential fork to its next q group (0: wait for the finals).
	ForkGroupTimeout time.Duration
	// maxTransactions caps live transaction actors (0: no cap).
	MaxTransactions int64
	// relay says who may reach destinations that are not ours.
	Relay *proxy.RelayPolicy
	// access is the fraction of finished requests given an access-log line (log.access).
	Access float64
	// authRealm is the digest realm when auth is in the chain: the stateless path removes
	// credentials for it as the auth plugin does (RFC 3261 §22.3), "" otherwise.
	AuthRealm string
	// noResponse gives up a hop that sends nothing when the branch has an alternative;
	// deadFor is how long such a hop is then skipped (failover section).
	NoResponse, DeadFor time.Duration
}
