package actors

import (
	"crypto/rand"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/partysip/partysip/actors/plugins"
	"github.com/partysip/partysip/actors/plugins/auth"
	"github.com/partysip/partysip/actors/plugins/location"
	"github.com/partysip/partysip/actors/relay"
	"github.com/partysip/partysip/config"
	"github.com/partysip/partysip/sipcore/proxy"
)

func randomSecret() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return b
}

// newRouting builds the routing of cfg: static routes and the plugin chain with their settings.
func (e *Engine) newRouting(cfg *config.Config) (*relay.Routing, error) {
	router := &proxy.Router{Routes: cfg.StaticRoutes(), Local: e.c.local}
	policy := cfg.RelayPolicy()
	chain, err := plugins.Build(cfg, plugins.Deps{Local: e.c.local, Router: router, Services: e.services, NonceSecret: e.nonceSecret, Relay: policy,
		AuthFailed: e.authFailed})
	if err != nil {
		return nil, err
	}
	rt := &relay.Routing{
		Router: router, Chain: chain, RecordRoute: cfg.RecordRoute, StatelessAll: cfg.Stateless,
		ForkGroupTimeout: cfg.Forking.GroupTimeout, MaxTransactions: int64(cfg.Limits.Transactions),
		Relay: policy, NoResponse: cfg.Failover.NoResponse, DeadFor: cfg.Failover.DeadFor, Access: cfg.Log.Access,
	}
	if slices.Contains(cfg.Plugins, "auth") {
		rt.AuthRealm = auth.Realm(cfg)
	}
	for _, r := range router.Routes {
		rt.StatelessRoutes = rt.StatelessRoutes || r.Stateless
	}
	return rt, nil
}

// Reload applies a new, validated configuration without dropping anything in progress: the
// routes, the plugin chain and its sections, the users file, aliases, record_route, stateless,
// forking, limits and fault injection take effect for new requests (a request in progress keeps
// the routing it started with). Keys that need a restart (listeners, domains, timers, store,
// admin, dns, tls, shards, dialogs, limits.message_size) are kept as they are and named in the
// returned list. On error (the users file does not load) nothing changes.
func (e *Engine) Reload(cfg *config.Config) (needRestart []string, err error) {
	e.cfgMu.Lock()
	defer e.cfgMu.Unlock()
	users, err := auth.Users(cfg)
	if err != nil {
		return nil, err
	}
	rt, err := e.newRouting(cfg)
	if err != nil {
		return nil, err
	}
	// Keys that need a restart are compared with what runs: the configuration of the start (a
	// change reverted by a later reload needs nothing).
	old := e.started
	for key, same := range map[string]bool{
		"listen":              slices.Equal(old.Listen, cfg.Listen),
		"domains":             slices.Equal(old.Domains, cfg.Domains),
		"timers":              old.Timers == cfg.Timers,
		"store":               old.Store == cfg.Store,
		"admin":               old.Admin == cfg.Admin,
		"dns":                 slices.Equal(old.DNS.Servers, cfg.DNS.Servers) && old.DNS.Timeout == cfg.DNS.Timeout,
		"tls":                 old.TLS == cfg.TLS,
		"transactions":        old.Transactions == cfg.Transactions,
		"dialogs":             old.Dialogs == cfg.Dialogs,
		"limits.message_size": old.Limits.MessageSize == cfg.Limits.MessageSize,
	} {
		if !same {
			needRestart = append(needRestart, key)
		}
	}
	slices.Sort(needRestart)
	e.services.ReplaceFileUsers(userHA1(users, auth.Realm(e.cfg)))
	e.services.ReplaceAliases(location.Aliases(cfg, e.c.local))
	e.c.faults.Set(faultRates(cfg))
	e.c.rt.Store(rt)
	e.c.sources.policy.Store(ptr(sourcePolicy(cfg)))
	e.c.conns.Set(cfg.Limits, cfg.RelayPolicy().TrustedSource)
	e.c.mem.set(cfg.Limits.MemoryMiB)
	e.cfg = cfg
	e.c.log.Info("configuration reloaded", zap.Int("routes", len(rt.Router.Routes)), zap.Strings("plugins", rt.Chain.Names()),
		zap.Int("users", len(users)))
	if len(needRestart) > 0 {
		e.c.log.Warn("configuration changes that take effect at the next restart only",
			zap.String("keys", strings.Join(needRestart, ", ")))
	}
	return needRestart, nil
}

func faultRates(cfg *config.Config) FaultRates {
	f := cfg.Faults
	return FaultRates{Transaction: f.Transaction, Dialog: f.Dialog, Registration: f.Registration, Stall: f.Stall, StallFor: f.StallFor}
}
