package actors

import (
	"fmt"
	"slices"
	"testing"

	"github.com/partysip/partysip/config"
)

// A reload names the keys that need a restart by comparing with what runs: a change reverted by
// a later reload needs nothing (it used to warn about listen for ever after).
func TestReloadRestartKeysFollowWhatRuns(t *testing.T) {
	e, port := startEngineWith(t, "sip:127.0.0.1:9")
	reload := func(tune func(*config.Config)) []string {
		t.Helper()
		cfg := testConfig(t, port, "sip:127.0.0.1:9")
		tune(cfg)
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		keys, err := e.Reload(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return keys
	}
	moved := func(c *config.Config) { c.Listen = []string{fmt.Sprintf("udp:127.0.0.1:%d", port+1)} }
	if keys := reload(moved); !slices.Contains(keys, "listen") {
		t.Fatalf("changed listen: %v", keys)
	}
	if keys := reload(moved); !slices.Contains(keys, "listen") {
		t.Fatalf("still changed: %v, want listen again (it is not in force)", keys)
	}
	if keys := reload(func(*config.Config) {}); len(keys) != 0 {
		t.Fatalf("reverted: %v, want nothing", keys)
	}
}
