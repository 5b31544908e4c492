package plugins

import (
	"slices"
	"testing"

	"github.com/partysip/partysip/actors/plugins/registry"
	"github.com/partysip/partysip/config"
)

// Every plugin the configuration knows registered itself, and nothing else did: a plugin folder
// missing from all.go, or one config.Plugins does not declare, fails here.
func TestEveryPluginRegistered(t *testing.T) {
	declared := slices.Sorted(slices.Values(config.Plugins))
	if got := registry.Names(); !slices.Equal(got, declared) {
		t.Fatalf("registered %v, declared %v", got, declared)
	}
	if _, err := registry.Build("nope", registry.Env{}); err == nil {
		t.Fatal("an unknown plugin built")
	}
}
