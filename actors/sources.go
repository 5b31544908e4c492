package actors

import (
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/partysip/partysip/config"
)

// SourcePolicy bounds what one source address may do before it is banned (Kamailio's pike for the
// request rate, htable-style bans for failed authentications).
type SourcePolicy struct {
	// Requests is how many requests per second one address may send; 0 is no limit.
	Requests int
	// Ban is how long an address over Requests is ignored.
	Ban time.Duration
	// AuthFailures is how many wrong credentials one address may send within AuthWindow; the
	// next gets 403 and the address is ignored for AuthBan. 0 is no limit.
	AuthFailures int
	AuthWindow   time.Duration
	AuthBan      time.Duration
	// Transactions is how many live server transactions one address may hold; a new request
	// past it gets 503 + Retry-After. 0 is no limit.
	Transactions int
	// UserAuthFailures is how many wrong credentials for one of our users (from any addresses)
	// are let through within AuthWindow; past it, each address that fails for that user is
	// banned at once. 0 is no limit.
	UserAuthFailures int
	// Trusted addresses are never limited (relay.trusted: peers, gateways).
	Trusted func(netip.Addr) bool
}

// maxSources bounds the table: past it, new addresses are not tracked (a flood of spoofed UDP
// sources cannot exhaust memory through it) until the sweep frees idle ones.
const maxSources = 100_000

// sources is the per-source table, read on the transports' goroutines: a request's address is
// looked up without a global lock (sync.Map), each entry has its own.
type sources struct {
	policy  atomic.Pointer[SourcePolicy]
	entries sync.Map // netip.Addr → *source
	n       atomic.Int64
	// users counts wrong credentials by user name; only our users are counted, so it holds
	// at most one entry per user.
	users sync.Map // string → *userFailures
	// Counters for /metrics.
	bans, dropped atomic.Int64
}

type source struct {
	mu          sync.Mutex
	window      time.Time // start of the current one-second window
	requests    int
	failWindow  time.Time
	failures    int
	bannedUntil time.Time
	reason      string
	seen        time.Time
	live        atomic.Int64 // server transactions held (holdTx)
}

// Ban is one banned address as operators see it.
type Ban struct {
	Addr   string    `json:"addr"`
	Reason string    `json:"reason"`
	Until  time.Time `json:"until"`
}

func newSources(p SourcePolicy) *sources {
	s := &sources{}
	s.policy.Store(&p)
	return s
}

// entry returns addr's entry, creating it unless the table is full (then nil).
func (s *sources) entry(addr netip.Addr) *source {
	if e, ok := s.entries.Load(addr); ok {
		return e.(*source)
	}
	if s.n.Load() >= maxSources {
		return nil
	}
	e, loaded := s.entries.LoadOrStore(addr, &source{})
	if !loaded {
		s.n.Add(1)
	}
	return e.(*source)
}

// admit counts a request from addr at now and reports whether it may be served: false while addr
// is banned (the request is dropped without an answer), and from the request that takes it over
// the rate, which bans it. It returns banned when this request started the ban.
func (s *sources) admit(addr netip.Addr, now time.Time) (ok, banned bool) {
	p := s.policy.Load()
	if !addr.IsValid() || (p.Trusted != nil && p.Trusted(addr)) {
		return true, false
	}
	e := s.entry(addr)
	if e == nil {
		return true, false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.seen = now
	if now.Before(e.bannedUntil) {
		s.dropped.Add(1)
		return false, false
	}
	if p.Requests <= 0 {
		return true, false
	}
	if now.Sub(e.window) >= time.Second {
		e.window, e.requests = now, 0
	}
	e.requests++
	if e.requests > p.Requests {
		e.ban(now, p.Ban, "request rate")
		s.bans.Add(1)
		s.dropped.Add(1)
		return false, true
	}
	return true, false
}

// holdTx takes a place for a live server transaction from addr and returns the entry to give
// it back to (nil: nothing held: addr is trusted, untracked or the cap is off); ok is false when
// addr already holds limits.source_transactions.
func (s *sources) holdTx(addr netip.Addr) (held *source, ok bool) {
	p := s.policy.Load()
	if p.Transactions <= 0 || !addr.IsValid() || (p.Trusted != nil && p.Trusted(addr)) {
		return nil, true
	}
	e := s.entry(addr)
	if e == nil {
		return nil, true
	}
	if e.live.Add(1) > int64(p.Transactions) {
		e.live.Add(-1)
		return nil, false
	}
	return e, true
}

// releaseTx gives back a place holdTx took.
func (e *source) releaseTx() { e.live.Add(-1) }

// isBanned reports whether addr is banned now, and counts what it sent as dropped: the read loops
// ask before parsing, so a banned flooder costs a lookup per datagram, not a parse. It never
// creates an entry.
func (s *sources) isBanned(addr netip.Addr, now time.Time) bool {
	v, ok := s.entries.Load(addr)
	if !ok {
		return false
	}
	e := v.(*source)
	e.mu.Lock()
	banned := now.Before(e.bannedUntil)
	e.mu.Unlock()
	if banned {
		s.dropped.Add(1)
	}
	return banned
}

// userFailures counts the wrong credentials given for one user within a window.
type userFailures struct {
	mu       sync.Mutex
	window   time.Time
	failures int
}

// targeted counts a wrong credential for user and reports whether the user has had more than
// limit within window: a guesser spreading its guesses over many addresses.
func (s *sources) targeted(user string, limit int, window time.Duration, now time.Time) bool {
	if user == "" || limit <= 0 {
		return false
	}
	v, _ := s.users.LoadOrStore(user, &userFailures{})
	u := v.(*userFailures)
	u.mu.Lock()
	defer u.mu.Unlock()
	if now.Sub(u.window) >= window {
		u.window, u.failures = now, 0
	}
	u.failures++
	return u.failures > limit
}

// authFailed counts wrong credentials from addr for user ("" when the name is not one of our
// users) and reports whether that banned addr: past limits.auth_failures from addr, or past
// limits.user_auth_failures for user from anywhere, when each failing address is banned at its
// first failure. The user is never locked out: right credentials still pass, from any address
// not banned.
func (s *sources) authFailed(addr netip.Addr, user string, now time.Time) bool {
	p := s.policy.Load()
	if !addr.IsValid() || (p.Trusted != nil && p.Trusted(addr)) {
		return false
	}
	targeted := s.targeted(user, p.UserAuthFailures, p.AuthWindow, now)
	if p.AuthFailures <= 0 && !targeted {
		return false
	}
	e := s.entry(addr)
	if e == nil {
		return false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.seen = now
	if now.Sub(e.failWindow) >= p.AuthWindow {
		e.failWindow, e.failures = now, 0
	}
	e.failures++
	switch {
	case targeted:
		e.ban(now, p.AuthBan, "failed authentications for a user guessed at from many addresses")
	case p.AuthFailures > 0 && e.failures > p.AuthFailures:
		e.ban(now, p.AuthBan, "failed authentications")
	default:
		return false
	}
	e.failures = 0
	s.bans.Add(1)
	return true
}

func (e *source) ban(now time.Time, d time.Duration, reason string) {
	e.bannedUntil, e.reason = now.Add(d), reason
	e.requests = 0
}

// banned lists the addresses banned at now, in address order.
func (s *sources) banned(now time.Time) []Ban {
	var out []Ban
	s.entries.Range(func(k, v any) bool {
		e := v.(*source)
		e.mu.Lock()
		if now.Before(e.bannedUntil) {
			out = append(out, Ban{Addr: k.(netip.Addr).String(), Reason: e.reason, Until: e.bannedUntil})
		}
		e.mu.Unlock()
		return true
	})
	slices.SortFunc(out, func(a, b Ban) int {
		return netip.MustParseAddr(a.Addr).Compare(netip.MustParseAddr(b.Addr))
	})
	return out
}

// unban lifts addr's ban and forgets its counts; it reports whether addr was banned.
func (s *sources) unban(addr netip.Addr, now time.Time) bool {
	v, ok := s.entries.Load(addr.Unmap())
	if !ok {
		return false
	}
	e := v.(*source)
	e.mu.Lock()
	defer e.mu.Unlock()
	was := now.Before(e.bannedUntil)
	e.bannedUntil, e.requests, e.failures = time.Time{}, 0, 0
	return was
}

// sweep forgets addresses neither banned nor seen for idle: the table holds the sources that
// matter, not every address that ever sent a datagram.
func (s *sources) sweep(now time.Time, idle time.Duration) {
	s.entries.Range(func(k, v any) bool {
		e := v.(*source)
		e.mu.Lock()
		gone := !now.Before(e.bannedUntil) && now.Sub(e.seen) > idle && e.live.Load() == 0
		e.mu.Unlock()
		if gone {
			s.entries.Delete(k)
			s.n.Add(-1)
		}
		return true
	})
}

// sweepEvery sweeps the table every interval until stop is closed.
func (s *sources) sweepEvery(interval time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case now := <-t.C:
			s.sweep(now, 5*time.Minute)
		case <-stop:
			return
		}
	}
}

// sourcePolicy is the limits section of cfg, with relay.trusted exempt.
func sourcePolicy(cfg *config.Config) SourcePolicy {
	relay := cfg.RelayPolicy()
	return SourcePolicy{
		Requests: cfg.Limits.SourceRequests, Ban: cfg.Limits.SourceBan,
		AuthFailures: cfg.Limits.AuthFailures, AuthWindow: cfg.Limits.AuthWindow, AuthBan: cfg.Limits.AuthBan,
		Transactions: cfg.Limits.SourceTransactions, UserAuthFailures: cfg.Limits.UserAuthFailures,
		Trusted: relay.TrustedSource,
	}
}

func ptr[T any](v T) *T { return &v }

// Bans lists the source addresses banned now.
func (e *Engine) Bans() []Ban { return e.c.sources.banned(e.c.clock.Now()) }

// Unban lifts the ban of addr; it reports whether there was one.
func (e *Engine) Unban(addr netip.Addr) bool {
	ok := e.c.sources.unban(addr, e.c.clock.Now())
	if ok {
		e.c.log.Info("source unbanned", zap.Stringer("addr", addr))
	}
	return ok
}

// authFailed counts wrong credentials from addr for user (the auth plugin's hook; "" when the
// name is not one of our users) and reports whether the source is banned for it now.
func (e *Engine) authFailed(addr netip.Addr, user string) bool {
	if !e.c.sources.authFailed(addr, user, e.c.clock.Now()) {
		return false
	}
	p := e.c.sources.policy.Load()
	e.c.log.Warn("source banned: failed authentications", zap.Stringer("source", addr), zap.String("user", user),
		zap.Int("failures", p.AuthFailures), zap.Int("user_failures", p.UserAuthFailures),
		zap.Duration("within", p.AuthWindow), zap.Duration("for", p.AuthBan))
	return true
}
