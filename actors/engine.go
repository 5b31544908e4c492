package actors

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"
	"go.uber.org/zap/exp/zapslog"
	"go.uber.org/zap/zapcore"

	"github.com/partysip/partysip/actors/dialogs"
	"github.com/partysip/partysip/actors/internal/causal"
	"github.com/partysip/partysip/actors/internal/clock"
	"github.com/partysip/partysip/actors/plugins/auth"
	"github.com/partysip/partysip/actors/plugins/location"
	"github.com/partysip/partysip/actors/plugins/registrar"
	"github.com/partysip/partysip/actors/relay"
	"github.com/partysip/partysip/actors/services"
	"github.com/partysip/partysip/actors/transport"
	"github.com/partysip/partysip/actors/txn"
	"github.com/partysip/partysip/config"
	"github.com/partysip/partysip/sipcore/base"
	"github.com/partysip/partysip/sipcore/proxy"
	"github.com/partysip/partysip/sipcore/transaction"
)

// Options configure an Engine.
type Options struct {
	Config *config.Config
	Logger *zap.Logger
	// Fault, when set, is asked for each new transaction actor whether it should panic.
	Fault FaultFunc
	// LoopbackOnly refuses to send anywhere but loopback and never resolves names: for tests
	// that feed foreign-looking messages (torture cases, fuzzing).
	LoopbackOnly bool
	// ServiceFault, when set, is asked before a service actor serves a request (kind "aor"
	// with the AOR before a REGISTER, "location" with the AOR before a lookup); true makes
	// that actor panic (supervision tests).
	ServiceFault func(kind, id string) bool
	// Clock, when set, replaces the wall clock for every protocol timer and every "now" the
	// machines are stepped with (tests advance a clock.Fake instead of sleeping).
	Clock clock.Clock
	// Network, when set, replaces the sockets (a simulator's in-memory network): the engine opens
	// no listener, sends through Network.Wire, is handed what arrives by Deliver, and runs
	// nothing on goroutines of its own (no source sweep, no memory guard).
	Network *Network
	// Dispatcher, when set, runs every actor's mailbox instead of the engine's worker pool (a
	// simulator's single-threaded scheduler).
	Dispatcher actor.Dispatcher
	// BranchPrefix, when set, replaces the random per-run prefix of the branches we make, so
	// that a simulated run sends the same bytes every time.
	BranchPrefix string
	// Trace, when set, is given every actor-level causal event (a message an actor handled, one
	// it dropped on purpose) as it happens; without it, a debug-level log writes them.
	Trace func(ActorEvent)
	// Intercept, when set, is called before a transaction-path, dialog or service actor handles a
	// message, with the actor's name in causal traces (relay.proxyContext#1) and the count of
	// messages it has handled with this one; a panic in it fails that actor (a simulator's
	// "crash this actor on its Nth message").
	Intercept func(actor string, n int, msg any)
}

// ActorEvent is one actor-level event of a causal trace: who handled what, caused by which
// send (Lamport clocks), or dropped on purpose and why.
type ActorEvent = causal.Event

// Network is what replaces the sockets: the port messages leave by and the listeners that
// stand for the bound ones (our addresses).
type Network struct {
	Wire      transport.Wire
	Listeners []config.Listener
}

// Engine is a running proxy: transports, the sharded transaction table and the actors under it.
type Engine struct {
	c          *core
	system     *actor.ActorSystem
	addrs      []config.Listener
	transports *actor.PID
	services   *services.Services
	// nonceSecret signs digest nonces; kept across reloads so clients keep theirs.
	nonceSecret []byte
	// cfg is the configuration in force (replaced by Reload); started is the one the engine
	// started with, which the keys that need a restart still follow.
	cfgMu   sync.Mutex
	cfg     *config.Config
	started *config.Config
	// stopSweep ends the goroutine that sweeps the source table.
	stopSweep chan struct{}
}

// Start opens the listeners and starts the actor tree. It returns once every listener is bound.
func Start(opts Options) (*Engine, error) {
	cfg := opts.Config
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	// Libraries log through slog: route them into zap, at warn and above only, except the peer
	// faults libHandler recognises.
	var stats *Stats
	bad := transport.NewSampledLog(log, 5) // malformed input: a few lines a second, every one counted
	lib := transport.NewLibHandler(zapslog.NewHandler(log.WithOptions(zap.IncreaseLevel(zapcore.WarnLevel)).Core(), zapslog.WithName("lib")),
		log, bad, func() { stats.Malformed.Add(1) })
	slogger := slog.New(lib)
	transport.UseLibHandler(lib)

	tlsConf, err := cfg.TLSConfig()
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	users, err := auth.Users(cfg)
	if err != nil {
		return nil, err
	}
	clientTLS, err := cfg.TLSClientConfig()
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	if !cfg.TLS.Verify {
		log.Warn("tls.verify is false: the certificates of TLS and WSS next hops are not checked")
	}
	conns := transport.NewConnLimits(cfg.Limits, cfg.RelayPolicy().TrustedSource, bad)
	// What a failure further on must release, last acquired first.
	var undo []func()
	var tp *transport.Transports
	var wire transport.Wire
	var addrs []config.Listener
	if opts.Network != nil {
		wire, addrs = opts.Network.Wire, opts.Network.Listeners
	} else {
		if tp, err = transport.Open(cfg.Listeners(), tlsConf, clientTLS, conns, cfg.Limits.MessageSize, opts.LoopbackOnly, log, slogger); err != nil {
			return nil, err
		}
		wire, addrs = tp, tp.LocalAddrs()
		undo = append(undo, tp.Close)
	}
	fail := func(err error) (*Engine, error) {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
		return nil, err
	}
	local := &base.Local{Domains: cfg.Domains}
	local.Addrs = ourAddrs(addrs)
	system := actor.NewActorSystem(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slogger }),
		actor.WithDeadLetterThrottleCount(3),
		actor.WithDeadLetterThrottleInterval(10*time.Second),
	)
	clk := opts.Clock
	if clk == nil {
		clk = clock.Wall
	}
	c := &core{
		clock: clk,
		log:   log,
		local: local,
		timers: transaction.Timers{
			T1: cfg.Timers.T1, T2: cfg.Timers.T2, T4: cfg.Timers.T4,
			D: max(32*time.Second, 64*cfg.Timers.T1),
		},
		timerC:       cfg.Timers.C,
		tp:           wire,
		net:          tp,
		root:         system.Root,
		fault:        opts.Fault,
		branchPrefix: cmp.Or(opts.BranchPrefix, newBranchPrefix()),
		metrics:      newMetrics(),
		faults:       &Faults{},
		dispatcher:   opts.Dispatcher,
	}
	if c.dispatcher == nil {
		// Workers: enough that a rare slow call (a DNS lookup) does not stall the others.
		pool := newWorkerPool(max(16, 4*runtime.GOMAXPROCS(0)), 1<<16, 300)
		c.dispatcher, c.pool = pool, pool
		undo = append(undo, pool.stop)
	}
	c.txStrategy = txSupervisor(c)
	switch {
	case opts.Trace != nil:
		c.tracer = causal.New(opts.Trace, traceIDs)
	case opts.Intercept != nil:
		c.tracer = causal.New(func(causal.Event) {}, traceIDs)
	case log.Core().Enabled(zapcore.DebugLevel):
		c.tracer = causal.New(func(ev causal.Event) {
			log.Debug("actor", zap.Uint64("seq", ev.Seq), zap.Uint64("lamport", ev.Lamport), zap.String("kind", ev.Kind),
				zap.String("actor", ev.Actor), zap.String("pid", ev.PID), zap.String("msg", ev.Msg), zap.Uint64("cause", ev.Cause),
				zap.String("call_id", ev.CallID), zap.String("branch", ev.Branch), zap.String("detail", ev.Detail))
		}, traceIDs)
	}
	if c.tracer != nil {
		c.tracer.Before = opts.Intercept
	}
	c.faults.Set(faultRates(cfg))
	// In loopback-only mode names are looked up only on name servers that are on loopback
	// themselves (a test's); the addresses they give are confined like any other.
	if !opts.LoopbackOnly || relay.LoopbackServers(cfg.DNS.Servers) {
		if c.locator, err = relay.NewLocator(cfg.DNS.Servers, cfg.DNS.Timeout); err != nil {
			log.Warn("next hops named by a domain will fail", zap.Error(err))
		}
	}
	st, err := openStore(cfg)
	if err != nil {
		return fail(err)
	}
	secret, secretPath, err := nodeSecret(cfg)
	if err != nil {
		_ = st.Close()
		return fail(err)
	}
	c.signer = proxy.DialogSigner{Secret: secret}
	if secretPath == "" {
		log.Info("node secret is new for this run (memory store): calls set up before a restart lose their Record-Route proof")
	}
	if cfg.Relay.Mode == "open" {
		log.Warn("relay: open — anyone may use this proxy to reach any destination (an open relay)")
	}
	if exposed := exposedListeners(addrs); len(exposed) > 0 && slices.Contains(cfg.Plugins, "registrar") && !slices.Contains(cfg.Plugins, "auth") {
		log.Warn("registrar without auth on listeners other peers can reach: anyone who reaches them may register any address-of-record of our domains; put auth in plugins (actors/plugins/auth/README.md)",
			zap.Strings("listen", exposed))
	}
	undo = append(undo, func() { _ = st.Close() })
	svc, err := services.Start(system.Root, services.Options{
		Store:      st,
		Policy:     registrar.PolicyOf(cfg),
		Aliases:    location.Aliases(cfg, local),
		Users:      userHA1(users, auth.Realm(cfg)),
		Realm:      auth.Realm(cfg),
		NonceTTL:   auth.Settings(cfg).NonceTTL,
		Log:        log,
		Dispatcher: c.dispatcher,
		Trace:      c.tracer.Options(),
		Clock:      clk,
		Fault: func(kind, id string) bool {
			if kind == "aor" && roll(&c.faults.registration) {
				return true
			}
			return opts.ServiceFault != nil && opts.ServiceFault(kind, id)
		},
	})
	if err != nil {
		return fail(err)
	}
	undo[len(undo)-1] = func() { _ = svc.Stop() } // stops the services, then closes the store
	e := &Engine{c: c, system: system, addrs: addrs, services: svc, nonceSecret: randomSecret()}
	rt, err := e.newRouting(cfg)
	if err != nil {
		return fail(err)
	}
	c.rt.Store(rt)
	c.sources = newSources(sourcePolicy(cfg))
	e.stopSweep = make(chan struct{})
	c.mem = newMemGuard(cfg.Limits.MemoryMiB, c.stats.LiveTx.Load, log)
	if opts.Network == nil {
		go c.sources.sweepEvery(30*time.Second, e.stopSweep)
		go c.mem.run(50*time.Millisecond, e.stopSweep)
	}
	stats = &c.stats
	n := cfg.Transactions.Shards
	if n == 0 {
		n = 4 * runtime.NumCPU()
	}
	c.shardQueue = make([]atomic.Int64, n)
	c.dialogs = dialogs.Start(system.Root, n, dialogs.Env{
		Clock: clk, Log: log, Dispatcher: c.dispatcher, Trace: c.tracer.Options(),
		AckWait: 64 * c.timers.T1, Lifetime: cfg.Dialogs.Lifetime,
		Fault: func() bool { return roll(&c.faults.dialog) },
		Live:  &c.stats.Dialogs, Created: &c.stats.DialogsCreated, Panics: &c.stats.DialogPanics,
	})
	c.relay = &relay.Env{
		Clock: clk, Log: log, Local: local, Wire: wire, Locator: c.locator, DeadHops: &c.deadHops,
		Signer: c.signer, Dialogs: c.dialogs, T1: c.timers.T1, TimerC: c.timerC,
		Routing: c.routing, ShardFor: c.shardFor, NewBranch: c.uniqueBranch, RespondStateless: c.respondStateless,
		SendErrors: &c.stats.SendErrors, StatelessFwd: &c.stats.StatelessFwd, Races: c.stats.Races[:],
	}
	c.txn = &txn.Env{
		Clock: clk, Log: log, Local: local, Wire: wire, Timers: c.timers,
		Relay: c.relay, DeadHops: &c.deadHops, Signer: c.signer, Stats: &c.stats.Stats, Observer: c.metrics,
		Fault: func(kind transaction.Kind, req *sip.Request) bool {
			return (opts.Fault != nil && opts.Fault(kind, req)) || roll(&c.faults.transaction)
		},
		StallFor: c.faults.stallFor, Draining: c.draining.Load, OverCap: c.overCap,
		HoldTx: func(a netip.Addr) (func(), bool) {
			src, ok := c.sources.holdTx(a)
			if src == nil {
				return nil, ok
			}
			return src.releaseTx, ok
		},
		ShardFor: c.shardFor, Dequeued: func(i int) { c.shardQueue[i].Add(-1) }, Props: c.txProps, Ignored: c.tracer.Ignored,
	}
	for i := 0; i < n; i++ {
		c.shards = append(c.shards, system.Root.Spawn(c.txProps(txn.NewShard(c.txn, i))))
	}
	c.bad, c.conns = bad, conns
	if tp != nil {
		tp.SetHandlers(c.route, func() { c.stats.Malformed.Add(1) }, bad, func(a netip.Addr) bool { return c.sources.isBanned(a, c.clock.Now()) })
		e.transports = system.Root.Spawn(actor.PropsFromProducer(
			func() actor.Actor { return tp.Actor(&c.stats.ListenerRestarts) },
			actor.WithSupervisor(transport.Supervisor())))
	}
	e.cfg, e.started = cfg, cfg
	log.Info("partysip listening", zap.Stringers("listen", addrs), zap.Int("shards", n),
		zap.Int("routes", len(rt.Router.Routes)), zap.Strings("domains", cfg.Domains),
		zap.Strings("plugins", rt.Chain.Names()))
	return e, nil
}

// exposedListeners are the listeners bound to an address other than loopback: those that peers
// on other machines can reach.
func exposedListeners(ls []config.Listener) []string {
	var out []string
	for _, l := range ls {
		if ip, err := netip.ParseAddr(l.Host); err != nil || !ip.IsLoopback() {
			out = append(out, l.String())
		}
	}
	return out
}

// ourAddrs are the addresses a Request-URI or Route names us by: each listener's advertised
// address and bound address, and for a wildcard listener every address of the machine's
// interfaces, with its port.
func ourAddrs(ls []config.Listener) []base.HostPort {
	var out []base.HostPort
	var ifaces []net.Addr
	for _, l := range ls {
		host, port := l.Public()
		out = append(out, base.HostPort{Host: host, Port: port})
		ip, err := netip.ParseAddr(l.Host)
		if err != nil || !ip.IsUnspecified() {
			out = append(out, base.HostPort{Host: l.Host, Port: l.Port})
			continue
		}
		if ifaces == nil {
			ifaces, _ = net.InterfaceAddrs()
		}
		for _, a := range ifaces {
			// 0.0.0.0 is every IPv4 address; :: every address (Linux sockets are dual-stack).
			if p, ok := a.(*net.IPNet); ok && (!ip.Is4() || p.IP.To4() != nil) {
				out = append(out, base.HostPort{Host: p.IP.String(), Port: l.Port})
			}
		}
	}
	return out
}

// Addrs returns the bound listeners, with real ports where 0 was configured.
func (e *Engine) Addrs() []config.Listener { return e.addrs }

// Stats returns the live counters.
func (e *Engine) Stats() *Stats { return &e.c.stats }

// Draining reports whether Drain was called: new calls are refused.
func (e *Engine) Draining() bool { return e.c.draining.Load() }

// Services returns the registrar and location service.
func (e *Engine) Services() *services.Services { return e.services }

// System returns the actor system (admin requests to the service actors go through it).
func (e *Engine) System() *actor.ActorSystem { return e.system }

// ErrDrainTimeout is returned by Drain when transactions or calls were still live at the
// deadline.
var ErrDrainTimeout = errors.New("drain: transactions or calls still in progress at the deadline")

// Drain stops taking new calls (initial requests get 503 with Retry-After) and waits until no
// server transaction owes a final response and no dialog is live (every answered call sent its
// BYE), or ctx ends. In-dialog requests keep flowing so live calls can end. Transactions that
// only absorb retransmissions (Completed, Accepted, Confirmed) do not hold the drain up.
func (e *Engine) Drain(ctx context.Context) error {
	e.c.draining.Store(true)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if e.c.stats.Pending.Load() == 0 && e.c.stats.Dialogs.Load() == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ErrDrainTimeout
		case <-tick.C:
		}
	}
}

// Stop closes the listeners and stops every actor: transports first, so nothing new arrives,
// then the transaction shards and everything under them.
func (e *Engine) Stop() {
	close(e.stopSweep)
	if e.transports != nil {
		_ = e.system.Root.StopFuture(e.transports).Wait()
		e.c.net.Close()
	}
	for _, s := range e.c.shards {
		_ = e.system.Root.StopFuture(s).Wait()
	}
	e.c.dialogs.Stop()
	if err := e.services.Stop(); err != nil {
		e.c.log.Error("closing the store", zap.Error(err))
	}
	e.system.Shutdown()
	if e.c.pool != nil {
		e.c.pool.stop()
	}
}

// Deliver hands the engine a message that arrived from a peer, as a listener does: for a
// Network that replaces the sockets. It must be called from the one goroutine that runs the
// simulated actors.
func (e *Engine) Deliver(msg sip.Message, from transport.Peer) { e.c.route(msg, from) }
