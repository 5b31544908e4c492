package transport

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/partysip/partysip/sipcore/base"
	"github.com/partysip/partysip/sipcore/proxy"
)

// Socket is one UDP socket. Its read loop parses datagrams and hands each message to the
// shard that owns its transaction key; it never blocks on an actor. A transport actor owns it
// (see listener.go): the socket can be re-bound after a failure while writers keep using the
// same Socket, hence the atomic pointer.
type Socket struct {
	conn   atomic.Pointer[net.UDPConn]
	addr   netip.AddrPort // the bound address (the real port when 0 was asked for)
	parser *sip.Parser
	log    *zap.Logger
	// public is where peers reach it: what our Via and Record-Route carry (the advertised
	// address, else the bound one).
	public base.HostPort
	// maxSize is the largest datagram read as a message (limits.message_size); 0: any.
	maxSize int
	route   func(msg sip.Message, from Peer)
	onBad   func()
	bad     *SampledLog           // where malformed input is logged, a few lines a second
	banned  func(netip.Addr) bool // a banned source's datagrams are dropped before parsing
	// send, when set, carries what is written instead of conn (a simulated socket).
	send func(b []byte, to netip.AddrPort) error
}

// NewSimSocket is a socket of a simulated network bound at addr: what is written to it goes to
// send instead of a UDP connection. Nothing is read from it; the simulator delivers messages.
func NewSimSocket(addr netip.AddrPort, send func(b []byte, to netip.AddrPort) error) *Socket {
	return &Socket{addr: addr, public: base.HostPort{Host: addr.Addr().String(), Port: int(addr.Port())}, send: send}
}

func listenUDP(addr string, log *zap.Logger) (*Socket, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	ap := ua.AddrPort()
	l := &Socket{addr: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), parser: sip.NewParser(), log: log}
	if err := l.open(); err != nil {
		return nil, err
	}
	// The real port when 0 was asked for; a re-bind reuses it.
	bound := l.conn.Load().LocalAddr().(*net.UDPAddr).AddrPort()
	l.addr = netip.AddrPortFrom(l.addr.Addr(), bound.Port())
	l.public = base.HostPort{Host: l.addr.Addr().String(), Port: int(l.addr.Port())}
	return l, nil
}

func (l *Socket) String() string { return "udp:" + l.addr.String() }

// Addr is the bound address (the real port when 0 was asked for).
func (l *Socket) Addr() netip.AddrPort { return l.addr }

// PeerAt is the peer at src as seen from this socket: responses to it leave from here.
func (l *Socket) PeerAt(src netip.AddrPort) Peer {
	return Peer{Transport: "UDP", Addr: src.String(), udp: l}
}

// Bound reports whether the socket is bound (it is not while its transport actor re-binds it).
func (l *Socket) Bound() bool { return l.conn.Load() != nil }

// SetReadDeadline sets the read deadline of the bound socket; one in the past makes the read
// loop fail, and the transport actor re-bind it (the supervisor's drill).
func (l *Socket) SetReadDeadline(t time.Time) error {
	conn := l.conn.Load()
	if conn == nil {
		return errListenerDown
	}
	return conn.SetReadDeadline(t)
}

// open re-binds the socket at its address after close; a bound listener is left alone.
func (l *Socket) open() error {
	if l.conn.Load() != nil {
		return nil
	}
	// udp4 for an IPv4 address: 0.0.0.0 is then every IPv4 address, not a dual-stack socket.
	network := "udp6"
	if l.addr.Addr().Is4() {
		network = "udp4"
	}
	conn, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(l.addr))
	if err != nil {
		return err
	}
	_ = conn.SetReadBuffer(4 << 20)
	l.conn.Store(conn)
	return nil
}

// serve reads until the socket is closed (nil) or a read fails (the error).
func (l *Socket) serve() error {
	conn := l.conn.Load()
	if conn == nil {
		return nil
	}
	buf := make([]byte, 65535)
	for {
		n, src, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		l.handle(buf[:n], netip.AddrPortFrom(src.Addr().Unmap(), src.Port()))
	}
}

func (l *Socket) close() {
	if c := l.conn.Swap(nil); c != nil {
		_ = c.Close()
	}
}

// handle parses one datagram and routes it. A panic here (a parser bug on hostile input) is
// caught and counted: one bad datagram must not take the daemon down.
func (l *Socket) handle(data []byte, src netip.AddrPort) {
	defer func() {
		if r := recover(); r != nil {
			if l.onBad != nil {
				l.onBad()
			}
			l.log.Error("panic while reading a datagram", zap.Stringer("from", src), zap.Any("panic", r))
		}
	}()
	if l.banned != nil && l.banned(src.Addr()) {
		return // counted in partysip_source_dropped_total
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return // RFC 5626 keep-alive
	}
	if l.maxSize > 0 && len(data) > l.maxSize {
		l.tooLarge(data, src)
		return
	}
	msg, err := l.parser.ParseSIP(data)
	if err != nil {
		l.badMessage(data, src, err)
		return
	}
	StampSource(msg, "UDP", src)
	l.route(msg, l.PeerAt(src))
}

// badMessage answers an unparsable request whose Via we can still read with 400 (RFC 3261
// §16.3 step 1, §8.2.2) and drops anything else. It is counted, and logged at info a few times a
// second at most (SampledLog): a peer's fault, which a peer can repeat at will.
func (l *Socket) badMessage(data []byte, src netip.AddrPort, err error) {
	if l.onBad != nil {
		l.onBad()
	}
	reply, ok := proxy.BadRequest(data, err)
	l.bad.Info("unparsable message", zap.Stringer("from", src), zap.Bool("answered_400", ok), zap.Error(err))
	if ok {
		_ = l.write(reply, src)
	}
}

// tooLarge answers a request over limits.message_size with 513 Message Too Large (RFC 3261
// §21.5.14) when its Via can be read, and drops anything else; counted and logged as malformed.
func (l *Socket) tooLarge(data []byte, src netip.AddrPort) {
	if l.onBad != nil {
		l.onBad()
	}
	reply, ok := proxy.TooLarge(data)
	l.bad.Info("message too large", zap.Stringer("from", src), zap.Int("bytes", len(data)), zap.Int("limit", l.maxSize), zap.Bool("answered_513", ok))
	if ok {
		_ = l.write(reply, src)
	}
}

// errListenerDown is returned by writes while a listener is being re-bound.
var errListenerDown = errors.New("listener is down")

// write sends raw bytes to addr.
func (l *Socket) write(b []byte, to netip.AddrPort) error {
	if l.send != nil {
		return l.send(b, to)
	}
	conn := l.conn.Load()
	if conn == nil {
		return errListenerDown
	}
	_, err := conn.WriteToUDPAddrPort(b, to)
	return err
}

// StampSource records where a message came from and, for requests, applies RFC 3261 §18.2.1
// and RFC 3581 §4 to the top Via (received, rport).
func StampSource(msg sip.Message, transport string, src netip.AddrPort) {
	msg.SetTransport(transport)
	msg.SetSource(src.String())
	if req, ok := msg.(*sip.Request); ok {
		if via := req.Via(); via != nil {
			proxy.StampReceived(via, src.Addr().String(), int(src.Port()))
		}
	}
}

var wireBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// resolveHop turns a hop into a socket address for a socket of the given family (v4 or v6),
// resolving a host name when needed (the system resolver: A/AAAA; RFC 3263 comes later).
func resolveHop(h proxy.Hop, v4 bool) (netip.AddrPort, error) {
	if ip, err := netip.ParseAddr(h.Host); err == nil {
		return netip.AddrPortFrom(ip.Unmap(), uint16(h.Port)), nil
	}
	network := "udp6"
	if v4 {
		network = "udp4"
	}
	ua, err := net.ResolveUDPAddr(network, net.JoinHostPort(h.Host, strconv.Itoa(h.Port)))
	if err != nil {
		return netip.AddrPort{}, err
	}
	ap := ua.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}
