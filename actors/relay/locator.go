package relay

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/miekg/dns"
	"golang.org/x/sync/semaphore"
	"golang.org/x/sync/singleflight"

	"github.com/partysip/partysip/sipcore/proxy"
)

// Locator finds where a URI's requests go, RFC 3263 §4: NAPTR, then SRV, then A/AAAA, with the
// choices made by sipcore/proxy (PlanFor, SRVQueries, OrderSRV). Queries go to the configured
// servers (else those of /etc/resolv.conf) through miekg/dns, and answers are cached for their
// TTL. Lookups block: they run on goroutines of their own, never on an actor. The cache is a
// bounded LRU (dnsCacheSize names; the least used go first), concurrent lookups of one name and
// type share one query (singleflight), and at most dnsInFlight queries are out at once, so a
// burst of calls to a slow domain cannot open sockets without bound.
type Locator struct {
	servers []string
	client  *dns.Client
	cache   *lru.Cache[dnsKey, dnsEntry]
	flight  singleflight.Group
	slots   *semaphore.Weighted
	// queries counts the exchanges sent (for tests and metrics).
	queries atomic.Int64
}

const (
	dnsCacheSize = 10_000
	dnsInFlight  = 64
)

type dnsKey struct {
	name  string
	qtype uint16
}

type dnsEntry struct {
	rrs     []dns.RR
	expires time.Time
}

// negativeTTL is how long "no such record" is remembered.
const negativeTTL = 5 * time.Second

// NewLocator is a locator asking servers (the system's resolvers when empty), each query
// bounded by timeout.
func NewLocator(servers []string, timeout time.Duration) (*Locator, error) {
	if len(servers) == 0 {
		cc, err := dns.ClientConfigFromFile("/etc/resolv.conf")
		if err != nil {
			return nil, fmt.Errorf("dns: no servers configured and /etc/resolv.conf unreadable: %w", err)
		}
		for _, s := range cc.Servers {
			servers = append(servers, net.JoinHostPort(s, cc.Port))
		}
	}
	cache, err := lru.New[dnsKey, dnsEntry](dnsCacheSize)
	if err != nil {
		return nil, err
	}
	return &Locator{servers: servers, client: &dns.Client{Timeout: timeout}, cache: cache,
		slots: semaphore.NewWeighted(dnsInFlight)}, nil
}

// ErrNoTargets means DNS gave no address for a URI.
var ErrNoTargets = errors.New("no address for the next hop (RFC 3263)")

// Locate returns the hops to try for uri, in order.
func (l *Locator) Locate(ctx context.Context, uri *sip.Uri) ([]proxy.Hop, error) {
	p := proxy.PlanFor(uri)
	if p.Direct != nil {
		return []proxy.Hop{*p.Direct}, nil
	}
	if p.Port != 0 {
		// §4.2: a port means no NAPTR or SRV, just the host's addresses.
		return l.addresses(ctx, p.Host, p.Port, p.DefaultTransport())
	}
	var naptrs []proxy.NAPTR
	if p.Transport == "" {
		rrs, err := l.query(ctx, p.Host, dns.TypeNAPTR)
		if err != nil {
			return nil, err
		}
		for _, rr := range rrs {
			if n, ok := rr.(*dns.NAPTR); ok {
				naptrs = append(naptrs, proxy.NAPTR{Order: n.Order, Preference: n.Preference, Flags: n.Flags,
					Service: n.Service, Replacement: n.Replacement})
			}
		}
	}
	for _, q := range proxy.SRVQueries(p, naptrs) {
		rrs, err := l.query(ctx, q.Name, dns.TypeSRV)
		if err != nil {
			return nil, err
		}
		var srvs []proxy.SRV
		for _, rr := range rrs {
			if s, ok := rr.(*dns.SRV); ok {
				srvs = append(srvs, proxy.SRV{Priority: s.Priority, Weight: s.Weight, Port: s.Port, Target: s.Target})
			}
		}
		if len(srvs) == 0 {
			continue
		}
		var hops []proxy.Hop
		for _, s := range proxy.OrderSRV(srvs, rand.IntN) {
			hs, err := l.addresses(ctx, strings.TrimSuffix(s.Target, "."), int(s.Port), q.Transport)
			if err == nil {
				hops = append(hops, hs...)
			}
		}
		if len(hops) > 0 {
			return hops, nil
		}
	}
	// §4.2: no SRV: the host's addresses, default port and transport.
	return l.addresses(ctx, p.Host, p.DefaultPort(), p.DefaultTransport())
}

// addresses resolves a host to hops, IPv4 first.
func (l *Locator) addresses(ctx context.Context, host string, port int, transport string) ([]proxy.Hop, error) {
	var hops []proxy.Hop
	for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
		rrs, err := l.query(ctx, host, qt)
		if err != nil {
			return nil, err
		}
		for _, rr := range rrs {
			switch a := rr.(type) {
			case *dns.A:
				hops = append(hops, proxy.Hop{Host: a.A.String(), Port: port, Transport: transport})
			case *dns.AAAA:
				hops = append(hops, proxy.Hop{Host: a.AAAA.String(), Port: port, Transport: transport})
			}
		}
	}
	if len(hops) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNoTargets, host)
	}
	return hops, nil
}

// query asks the servers in turn (cached by TTL; "no such name" cached briefly) and returns the
// answer records of type qtype.
func (l *Locator) query(ctx context.Context, name string, qtype uint16) ([]dns.RR, error) {
	key := dnsKey{name: strings.ToLower(dns.Fqdn(name)), qtype: qtype}
	if e, ok := l.cache.Get(key); ok && time.Now().Before(e.expires) {
		return e.rrs, nil
	}
	// One query for everyone asking the same thing at once; each waits as its own ctx allows.
	ch := l.flight.DoChan(key.name+"/"+strconv.Itoa(int(qtype)), func() (any, error) {
		qctx, cancel := context.WithTimeout(context.Background(), l.client.Timeout*time.Duration(max(1, len(l.servers))))
		defer cancel()
		return l.exchange(qctx, key)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.([]dns.RR), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("dns %s %s: %w", key.name, dns.TypeToString[qtype], ctx.Err())
	}
}

// exchange asks the servers in turn, within the bound on queries in flight, and caches the
// answer.
func (l *Locator) exchange(ctx context.Context, key dnsKey) ([]dns.RR, error) {
	if err := l.slots.Acquire(ctx, 1); err != nil {
		return nil, fmt.Errorf("dns %s %s: too many queries in flight: %w", key.name, dns.TypeToString[key.qtype], err)
	}
	defer l.slots.Release(1)
	m := new(dns.Msg)
	m.SetQuestion(key.name, key.qtype)
	var lastErr error
	for _, s := range l.servers {
		l.queries.Add(1)
		in, _, err := l.client.ExchangeContext(ctx, m, s)
		if err != nil {
			lastErr = err
			continue
		}
		if in.Rcode != dns.RcodeSuccess && in.Rcode != dns.RcodeNameError {
			lastErr = fmt.Errorf("dns %s %s: %s", key.name, dns.TypeToString[key.qtype], dns.RcodeToString[in.Rcode])
			continue
		}
		var rrs []dns.RR
		ttl := negativeTTL
		for _, rr := range in.Answer {
			if rr.Header().Rrtype != key.qtype {
				continue // a CNAME on the way; the records we want follow it
			}
			if d := time.Duration(rr.Header().Ttl) * time.Second; len(rrs) == 0 || d < ttl {
				ttl = d
			}
			rrs = append(rrs, rr)
		}
		l.cache.Add(key, dnsEntry{rrs: rrs, expires: time.Now().Add(ttl)})
		return rrs, nil
	}
	return nil, fmt.Errorf("dns %s %s: %w", key.name, dns.TypeToString[key.qtype], lastErr)
}

// loopbackServers reports whether servers is non-empty and all on loopback.
func LoopbackServers(servers []string) bool {
	for _, s := range servers {
		host, _, err := net.SplitHostPort(s)
		ip, perr := netip.ParseAddr(host)
		if err != nil || perr != nil || !ip.Unmap().IsLoopback() {
			return false
		}
	}
	return len(servers) > 0
}
