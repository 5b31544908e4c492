package sipp

import (
	"os"
	"testing"
)

// SlowTierEnv turns the slow tier on.
const SlowTierEnv = "PARTYSIP_SLOW"

// SlowTier skips t unless the slow tier runs (PARTYSIP_SLOW=1, as ./test.sh sets it). A plain
// `go test ./...` is the fast tier: unit, table and short loopback tests, in under a minute;
// the slow tier adds SIPp load runs, floods, the soak, the attack tools and daemon restarts.
func SlowTier(t testing.TB) {
	t.Helper()
	if os.Getenv(SlowTierEnv) == "" {
		t.Skip("slow tier (load, floods, soak, attacks, restarts): set " + SlowTierEnv + "=1 or run ./test.sh")
	}
}
