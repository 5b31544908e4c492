package transport

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/partysip/partysip/config"
)

// ConnLimits caps the TCP, TLS and WebSocket connections the daemon holds, in total and per
// source address: a peer that opens connections without end (idle, or slow to send) would
// otherwise exhaust descriptors and memory, and take the listeners and the admin API down with
// them. A connection over a cap is closed as soon as it is accepted, and counted. The
// connections admitted are held to deadlines (conndeadlines.go).
type ConnLimits struct {
	total, perSource atomic.Int64 // 0: no cap
	trusted          atomic.Pointer[func(netip.Addr) bool]
	mu               sync.Mutex
	open             int64
	bySource         map[netip.Addr]int64
	refused          atomic.Int64

	idle, header, body atomic.Int64 // time.Duration; 0: no deadline
	timedOut           atomic.Int64
	bad                *SampledLog // where a connection closed on a deadline is logged
}

// NewConnLimits are the stream connection limits of lim; trusted sources are not capped per
// source; connections closed on a deadline are logged to bad.
func NewConnLimits(lim config.Limits, trusted func(netip.Addr) bool, bad *SampledLog) *ConnLimits {
	l := &ConnLimits{bySource: map[netip.Addr]int64{}, bad: bad}
	l.Set(lim, trusted)
	return l
}

// Refused counts the connections closed at once (over limits.connections or
// limits.connections_per_source); TimedOut those closed on a deadline.
func (l *ConnLimits) Refused() int64  { return l.refused.Load() }
func (l *ConnLimits) TimedOut() int64 { return l.timedOut.Load() }

// Set changes the caps and deadlines (a reload); connections already open stay, and are held
// to the new deadlines from their next read.
func (l *ConnLimits) Set(lim config.Limits, trusted func(netip.Addr) bool) {
	l.total.Store(int64(lim.Connections))
	l.perSource.Store(int64(lim.ConnectionsPerSource))
	l.trusted.Store(&trusted)
	l.idle.Store(int64(lim.ConnectionIdle))
	l.header.Store(int64(lim.HeaderTimeout))
	l.body.Store(int64(lim.BodyTimeout))
}

// deadlines are the connection_idle, header_timeout and body_timeout in force.
func (l *ConnLimits) deadlines() (idle, header, body time.Duration) {
	return time.Duration(l.idle.Load()), time.Duration(l.header.Load()), time.Duration(l.body.Load())
}

// admit takes a place for a connection from src, or reports that a cap is reached.
func (l *ConnLimits) admit(src netip.Addr) bool {
	total, per := l.total.Load(), l.perSource.Load()
	trusted := *l.trusted.Load()
	l.mu.Lock()
	defer l.mu.Unlock()
	if (total > 0 && l.open >= total) || (per > 0 && l.bySource[src] >= per && (trusted == nil || !trusted(src))) {
		l.refused.Add(1)
		return false
	}
	l.open++
	l.bySource[src]++
	return true
}

func (l *ConnLimits) release(src netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.bySource[src]--; l.bySource[src] <= 0 {
		delete(l.bySource, src)
	}
}

// listener wraps ln: Accept hands on only the connections within the caps.
func (l *ConnLimits) listener(ln net.Listener) net.Listener {
	if l == nil {
		return ln
	}
	return &limitedListener{Listener: ln, limits: l}
}

type limitedListener struct {
	net.Listener
	limits *ConnLimits
}

func (ll *limitedListener) Accept() (net.Conn, error) {
	for {
		c, err := ll.Listener.Accept()
		if err != nil {
			return nil, err
		}
		src := netip.Addr{}
		if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
			src = ap.Addr().Unmap()
		}
		if !ll.limits.admit(src) {
			_ = c.Close()
			continue
		}
		return &limitedConn{Conn: c, limits: ll.limits, src: src}, nil
	}
}

// limitedConn gives its place back when it closes (once, however often Close is called).
type limitedConn struct {
	net.Conn
	limits *ConnLimits
	src    netip.Addr
	once   sync.Once
}

func (c *limitedConn) Close() error {
	c.once.Do(func() { c.limits.release(c.src) })
	return c.Conn.Close()
}
