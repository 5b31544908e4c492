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

// authFailed counts wrong credentials from addr and reports whether that banned it.
func (s *sources) authFailed(addr netip.Addr, now time.Time) bool {
	p := s.policy.Load()
	if p.AuthFailures <= 0 || !addr.IsValid() || (p.Trusted != nil && p.Trusted(addr)) {
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
	if e.failures > p.AuthFailures {
		e.ban(now, p.AuthBan, "failed authentications")
		e.failures = 0
		s.bans.Add(1)
		return true
	}
	return false
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
		gone := !now.Before(e.bannedUntil) && now.Sub(e.seen) > idle
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
		Trusted: relay.TrustedSource,
	}
}

func ptr[T any](v T) *T { return &v }

// Bans lists the source addresses banned now.
func (e *Engine) Bans() []Ban { return e.c.sources.banned(time.Now()) }

// Unban lifts the ban of addr; it reports whether there was one.
func (e *Engine) Unban(addr netip.Addr) bool {
	ok := e.c.sources.unban(addr, time.Now())
	if ok {
		e.c.log.Info("source unbanned", zap.Stringer("addr", addr))
	}
	return ok
}

// authFailed counts wrong credentials from addr (the auth plugin's hook) and reports whether the
// source is banned for it now.
func (e *Engine) authFailed(addr netip.Addr) bool {
	if !e.c.sources.authFailed(addr, time.Now()) {
		return false
	}
	p := e.c.sources.policy.Load()
	e.c.log.Warn("source banned: failed authentications", zap.Stringer("source", addr),
		zap.Int("failures", p.AuthFailures), zap.Duration("within", p.AuthWindow), zap.Duration("for", p.AuthBan))
	return true
}
