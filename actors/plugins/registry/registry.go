// Package registry is where plugins set themselves up: each plugin package registers its
// builder under its name in an init function, and the request route is built from the names
// the configuration lists (config.Plugins is the one declared order). Adding a plugin is its
// folder (code, README, tests, Register, and config.RegisterSection with its defaults.yaml if it
// has settings), its name in config.Plugins and one import line in actors/plugins/all.go.
package registry

import (
	"fmt"
	"net/netip"
	"sort"
	"sync"

	"github.com/partysip/partysip/actors/plugin"
	"github.com/partysip/partysip/actors/services"
	"github.com/partysip/partysip/config"
	"github.com/partysip/partysip/sipcore/base"
	"github.com/partysip/partysip/sipcore/proxy"
)

// Env is what every plugin is built from.
type Env struct {
	// Config is the whole configuration (validated); a plugin reads its own section.
	Config *config.Config
	// Local is who we are; Router the static routes.
	Local  *base.Local
	Router *proxy.Router
	// Services are the registrar, the location table, the nonce and user services.
	Services *services.Services
	// NonceSecret signs digest nonces (one per daemon run, so a reload keeps them valid).
	NonceSecret []byte
	// Relay says who may reach destinations that are not ours.
	Relay *proxy.RelayPolicy
	// AuthFailed counts wrong credentials from a source for a user ("": not one of ours) and
	// says whether the source is banned for it.
	AuthFailed func(netip.Addr, string) bool
}

// Builder makes a plugin's handler for one configuration.
type Builder func(Env) (plugin.Handler, error)

var (
	mu       sync.Mutex
	builders = map[string]Builder{}
)

// Register makes b the builder of the plugin called name. Registering a name twice is a
// programming error and panics at start.
func Register(name string, b Builder) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := builders[name]; dup {
		panic("plugin " + name + " registered twice")
	}
	builders[name] = b
}

// Build builds the handler of the plugin called name.
func Build(name string, env Env) (plugin.Handler, error) {
	mu.Lock()
	b, ok := builders[name]
	mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("plugin %q is not available in this build", name)
	}
	return b(env)
}

// Names lists the registered plugins, sorted.
func Names() []string {
	mu.Lock()
	defer mu.Unlock()
	out := make([]string, 0, len(builders))
	for n := range builders {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
