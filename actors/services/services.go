// Package services holds the long-lived service actors: the registrar (with one child actor per
// address-of-record) and the location service. Their state lives in a store; a restarted actor
// rebuilds it from there before serving again.
package services

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/partysip/partysip/actors/internal/clock"
	"github.com/partysip/partysip/actors/internal/supervise"
	"github.com/partysip/partysip/actors/store"
	"github.com/partysip/partysip/sipcore/registrar"
)

// Options configure the services.
type Options struct {
	Store  store.Store
	Policy registrar.Policy
	// Aliases map an address-of-record to others (canonical AORs, see registrar.AOR).
	Aliases map[string][]string
	// Users of the users file: name → HA1 by algorithm. With those stored at run time they are
	// the auth plugin's users, and a request for one of them with no binding gets 480, not 404.
	Users map[string]map[string]string
	// Realm is the digest realm, for the HA1 of users added at run time.
	Realm string
	// NonceTTL is how long a digest nonce is accepted (the nonce service remembers its counts
	// that long).
	NonceTTL time.Duration
	Log      *zap.Logger
	// Dispatcher runs the service actors' mailboxes (nil: protoactor's default).
	Dispatcher actor.Dispatcher
	// Trace are props options that trace the service actors (causal traces); none when nil.
	Trace []actor.PropsOption
	// Fault, when set, is asked before a service actor serves a request: by the registrar and
	// by an AOR actor before each REGISTER (kinds "registrar" and "aor", id the AOR), by the
	// location service before each lookup (kind "location", id the AOR looked up). True makes the actor panic: tests of
	// supervision, and later an operator's fault-injection switch.
	Fault func(kind, id string) bool
	// Clock is the time of expiries, retries and nonce turnover (nil: the wall clock).
	Clock clock.Clock
}

// Stats are the services' counters.
type Stats struct {
	AORRestarts     atomic.Int64 // AOR actors restarted after a failure
	ServiceRestarts atomic.Int64 // location service (or registrar) restarts after a failure
	StoreFailures   atomic.Int64 // saves that failed (the REGISTER got 500)
	Registers       atomic.Int64 // REGISTERs applied and stored
	Bindings        atomic.Int64 // bindings held, as the location service knows them
}

// Services is the running registrar and location service.
type Services struct {
	Registrar *actor.PID
	Location  *actor.PID
	Nonces    *actor.PID
	Users     *actor.PID
	// Credentials is the current user set (file and store).
	Credentials *Credentials
	opts        Options
	root        *actor.RootContext
	stats       Stats
	// aliases are the configured aliases in force (replaced by a reload).
	aliases atomic.Pointer[map[string][]string]
	// location is the published location table (see locationTable).
	location *locationTable
}

// Start spawns the location service and the registrar, which spawns an AOR actor for every
// stored address-of-record (each starts from its stored record and re-arms its expiry).
func Start(root *actor.RootContext, opts Options) (*Services, error) {
	if opts.Clock == nil {
		opts.Clock = clock.Wall
	}
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	// One pass over the store, however many records it holds: the location service starts
	// knowing every stored binding, so that the daemon, once it says it listens, routes calls to
	// users registered before it started, and each AOR actor starts with its record in hand.
	recs, err := store.ScanWait(opts.Store)
	if err != nil {
		return nil, fmt.Errorf("registrar: read stored bindings: %w", err)
	}
	stored, err := opts.Store.Users()
	if err != nil {
		return nil, fmt.Errorf("users: read the store: %w", err)
	}
	s := &Services{opts: opts, root: root, Credentials: &Credentials{}, location: newLocationTable()}
	for _, rec := range recs {
		s.publish(rec)
	}
	storedAORs := len(recs)
	set := &CredentialSet{HA1: map[string]map[string]string{}, FromFile: map[string]bool{}}
	for name, ha1 := range stored {
		set.HA1[name] = ha1
	}
	for name, ha1 := range opts.Users {
		set.HA1[name], set.FromFile[name] = ha1, true // the file wins over a stored namesake
	}
	s.Credentials.p.Store(set)
	al := opts.Aliases
	s.aliases.Store(&al)
	// Both live under a supervisor of the root's: they restart (the location table is not the
	// location actor's, so it survives; the registrar rebuilds from the store).
	s.Location = root.Spawn(s.props(func() actor.Actor { return &locationActor{s: s} }, actor.WithGuardian(s.serviceSupervisor())))
	if opts.NonceTTL <= 0 {
		opts.NonceTTL = 5 * time.Minute
	}
	s.Nonces = root.Spawn(s.props(func() actor.Actor { return newNonces(opts.NonceTTL, opts.Clock) }, actor.WithGuardian(s.serviceSupervisor())))
	s.Users = root.Spawn(s.props(func() actor.Actor { return &usersActor{s: s, pending: map[string]bool{}} }, actor.WithGuardian(s.serviceSupervisor())))
	first := true
	s.Registrar = root.Spawn(s.props(func() actor.Actor {
		if first {
			first = false
			r := newRegistrar(s, recs)
			recs = nil // a restarted registrar scans the store again
			return r
		}
		return restartedRegistrar(s)
	}, actor.WithSupervisor(s.aorSupervisor()), actor.WithGuardian(s.serviceSupervisor())))
	opts.Log.Info("registrar started", zap.Int("stored_aors", storedAORs), zap.Int("users", len(set.HA1)))
	return s, nil
}

// Register asks the registrar to apply reg: reply gets the *RegisterAnswered once the bindings
// are stored. reply must not block; it is called on a service actor's goroutine.
func (s *Services) Register(reg *registrar.Register, reply func(any)) {
	s.root.Send(s.Registrar, &RegisterRequested{Reg: reg, Reply: reply})
}

// UseNonce asks whether nc is a fresh nonce-count for nonce: reply gets the *NonceUseAnswered.
// reply must not block.
func (s *Services) UseNonce(nonce string, nc int, reply func(any)) {
	s.root.Send(s.Nonces, &NonceUseRequested{Nonce: nonce, NC: nc, Reply: reply})
}

// ReplaceAliases makes aliases the ones in force for new lookups (a reload).
func (s *Services) ReplaceAliases(aliases map[string][]string) { s.aliases.Store(&aliases) }

// ReplaceFileUsers replaces the users that came from the users file (a reload); users added at
// run time stay.
func (s *Services) ReplaceFileUsers(users map[string]map[string]string) {
	s.root.Send(s.Users, &fileUsersReplaced{Users: users})
}

// Stats returns the live counters.
func (s *Services) Stats() *Stats { return &s.stats }

// Stop stops the actors, then flushes and closes the store.
func (s *Services) Stop() error {
	_ = s.root.StopFuture(s.Registrar).Wait()
	_ = s.root.StopFuture(s.Location).Wait()
	_ = s.root.StopFuture(s.Nonces).Wait()
	_ = s.root.StopFuture(s.Users).Wait()
	return s.opts.Store.Close()
}

func (s *Services) props(p actor.Producer, o ...actor.PropsOption) *actor.Props {
	if s.opts.Dispatcher != nil {
		o = append(o, actor.WithDispatcher(s.opts.Dispatcher))
	}
	return actor.PropsFromProducer(p, append(o, s.opts.Trace...)...)
}

// Restart limits of the service actors' supervisors: past RestartLimit failures within
// RestartWindow the actor is stopped instead (and, for an AOR, started afresh by the next
// request for it).
const (
	RestartLimit  = 10
	RestartWindow = 10 * time.Second
)

// fault reports whether the test hook asks kind/id to fail now.
func (s *Services) fault(kind, id string) bool {
	return s.opts.Fault != nil && s.opts.Fault(kind, id)
}

// serviceSupervisor restarts a failed service actor (registrar, location, nonces) at once, up to
// 10 times in 10 s: the registrar and location read their state back from the store.
func (s *Services) serviceSupervisor() actor.SupervisorStrategy {
	return supervise.OneForOne(RestartLimit, RestartWindow, actor.RestartDirective, &s.stats.ServiceRestarts, s.opts.Log,
		"service actor failed; restarting it")
}

// aorSupervisor restarts a failed AOR actor at once (its state is in the store, which the new
// instance reads back), up to 10 times in 10 s; past that the actor is stopped and the next
// request for its address-of-record starts a fresh one. A failure never reaches another AOR.
func (s *Services) aorSupervisor() actor.SupervisorStrategy {
	return supervise.OneForOne(RestartLimit, RestartWindow, actor.RestartDirective, &s.stats.AORRestarts, s.opts.Log,
		"registration actor failed; restarting it from the store")
}

// scanFor queues a Scan of the store whose answer reaches ctx's actor as a *recordsScanned. A
// full queue is tried again shortly: the answer then comes later, still after every write queued
// before the scan that succeeded.
func (s *Services) scanFor(ctx actor.Context) {
	self, root := ctx.Self(), ctx.ActorSystem().Root
	var try func()
	try = func() {
		s.opts.Store.Scan(func(recs []registrar.Record, err error) {
			if errors.Is(err, store.ErrBusy) {
				s.opts.Clock.AfterFunc(retryDelay(), try)
				return
			}
			root.Send(self, &recordsScanned{Recs: recs, Err: err})
		})
	}
	try()
}

// retryDelay is how long to wait before asking a busy store again: 50–500 ms, spread so that
// many actors turned away together (a mass expiry at a restart) do not come back together.
func retryDelay() time.Duration {
	return 50*time.Millisecond + rand.N(450*time.Millisecond)
}
