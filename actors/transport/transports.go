package transport

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/partysip/partysip/config"
	"github.com/partysip/partysip/sipcore/base"
	"github.com/partysip/partysip/sipcore/proxy"
)

// Transports owns every listener. UDP sockets are read by our own loops (one goroutine each);
// TCP is sipgo's transport layer (stream framing, connection pool), whose per-connection read
// goroutines call back into the same routing function. Writes are made by the transaction
// actors themselves: UDP writes never block, and a TCP dial blocks only the one client
// transaction that needs it.
type Transports struct {
	udp []*Socket
	// stream are the addresses of the stream listeners, by transport ("TCP", "TLS", "WS",
	// "WSS").
	stream    map[string][]listenAddr
	listeners []listener // every socket, each owned by a transport actor once serving
	layer     *sip.TransportLayer
	log       *zap.Logger
	// loopbackOnly refuses every destination outside 127.0.0.0/8 and ::1, and every DNS name:
	// tests that feed foreign-looking messages use it so no packet can leave the machine.
	loopbackOnly bool
}

// listenAddr is where a listener is bound and where peers reach it: the address our Via and
// Record-Route carry (listen: ... advertise HOST[:PORT]; else the bound one).
type listenAddr struct {
	bound  netip.AddrPort
	public base.HostPort
}

// publicAddr is where peers reach listener l, bound at bound (with its real port).
func publicAddr(l config.Listener, bound netip.AddrPort) base.HostPort {
	l.Host, l.Port = bound.Addr().String(), int(bound.Port())
	host, port := l.Public()
	return base.HostPort{Host: host, Port: port}
}

// Wire is the transport room's port for the transaction layer: where a request to a hop leaves
// from, and how requests and responses go out. *Transports is the network's; a simulator can put
// an in-memory network behind it. A *Socket is an opaque handle the layer only passes back.
type Wire interface {
	Outbound(hop proxy.Hop) (proxy.Outbound, *Socket, error)
	Inbound(peer Peer) *proxy.Outbound
	SendRequest(req *sip.Request, hop proxy.Hop, udp *Socket, failed func(error)) error
	SendRequestKept(req *sip.Request, hop proxy.Hop, udp *Socket) (*Sent, error)
	SendResponse(res *sip.Response, to Peer) error
	SendResponseKept(res *sip.Response, to Peer) (*Sent, error)
	ForwardResponse(res *sip.Response) error
}

var _ Wire = (*Transports)(nil)

// ErrNoTransport means no listener can carry a message to a hop.
var ErrNoTransport = errors.New("no listener for that transport")

// ErrConfined means a destination outside loopback was refused (Options.LoopbackOnly).
var ErrConfined = errors.New("destination outside loopback refused (loopback-only mode)")

// confine refuses a hop outside loopback in loopback-only mode, without resolving anything.
func (t *Transports) confine(h proxy.Hop) error {
	if !t.loopbackOnly {
		return nil
	}
	if ip, err := netip.ParseAddr(h.Host); err != nil || !ip.Unmap().IsLoopback() {
		return ErrConfined
	}
	return nil
}

// resolve turns a hop into a socket address reachable from udp, resolving a name (to an
// address of udp's family) unless confined to loopback.
func (t *Transports) resolve(h proxy.Hop, udp *Socket) (netip.AddrPort, error) {
	if err := t.confine(h); err != nil {
		return netip.AddrPort{}, err
	}
	return resolveHop(h, udp.addr.Addr().Is4())
}

// Open binds every listener now, so that a bad address fails the start with a clear
// error; the transport actors take them over once the engine runs. tlsConf is the listeners'
// (server) configuration, clientTLS the one of the connections we open.
func Open(ls []config.Listener, tlsConf, clientTLS *tls.Config, conns *ConnLimits, messageSize int, loopbackOnly bool, log *zap.Logger, slogger *slog.Logger) (*Transports, error) {
	t := &Transports{log: log, loopbackOnly: loopbackOnly, stream: map[string][]listenAddr{}}
	// The stream parser closes a connection whose message would be larger (a framing error).
	streamParser := sip.NewParser()
	streamParser.MaxMessageLength = messageSize
	t.layer = sip.NewTransportLayer(net.DefaultResolver, streamParser, clientTLS,
		sip.WithTransportLayerLogger(slogger))
	for _, l := range ls {
		switch l.Transport {
		case "udp":
			u, err := listenUDP(l.Addr(), log)
			if err != nil {
				t.Close()
				return nil, fmt.Errorf("listen %s: %w", l, err)
			}
			u.maxSize = messageSize
			u.public = publicAddr(l, u.addr)
			t.udp = append(t.udp, u)
			t.listeners = append(t.listeners, u)
		case "tcp", "tls", "ws", "wss":
			tl := &tcpListener{addr: l.Addr(), network: l.Transport, layer: t.layer, limits: conns}
			if l.Transport == "tls" || l.Transport == "wss" {
				if tlsConf == nil {
					t.Close()
					return nil, fmt.Errorf("listen %s: no certificate (tls.cert_file, tls.key_file)", l)
				}
				tl.tlsConf = tlsConf
			}
			if err := tl.open(); err != nil {
				t.Close()
				return nil, fmt.Errorf("listen %s: %w", l, err)
			}
			ap := netip.MustParseAddrPort(tl.ln.Addr().String())
			tl.addr = ap.String() // the real port when 0 was asked for
			tp := strings.ToUpper(l.Transport)
			bound := netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
			t.stream[tp] = append(t.stream[tp], listenAddr{bound: bound, public: publicAddr(l, bound)})
			t.listeners = append(t.listeners, tl)
		}
	}
	return t, nil
}

// SetHandlers installs the routing function every read loop hands its messages to, and the
// check of banned sources the UDP read loops make before parsing.
func (t *Transports) SetHandlers(route func(sip.Message, Peer), onBad func(), bad *SampledLog, banned func(netip.Addr) bool) {
	for _, u := range t.udp {
		u.route, u.onBad, u.bad, u.banned = route, onBad, bad, banned
	}
	t.layer.OnMessage(func(msg sip.Message) {
		defer func() {
			if r := recover(); r != nil {
				onBad()
				t.log.Error("panic while routing a TCP message", zap.String("from", msg.Source()), zap.Any("panic", r))
			}
		}()
		src, err := netip.ParseAddrPort(msg.Source())
		if err != nil {
			return
		}
		src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
		tp := strings.ToUpper(msg.Transport()) // TCP, TLS, WS or WSS, as sipgo's transport says
		StampSource(msg, tp, src)
		route(msg, Peer{Transport: tp, Addr: msg.Source()})
	})
}

// Close unbinds every listener and closes every TCP connection. The transport actors close
// their own sockets when stopped; this catches the rest (and a start that failed half-way).
func (t *Transports) Close() {
	for _, l := range t.listeners {
		l.close()
	}
	if t.layer != nil {
		_ = t.layer.Close()
	}
}

// UDP lists the UDP sockets.
func (t *Transports) UDP() []*Socket { return t.udp }

// LocalAddrs lists the addresses we listen on (with the real ports when 0 was asked for, and
// the advertised addresses).
func (t *Transports) LocalAddrs() []config.Listener {
	var out []config.Listener
	listener := func(tp string, a listenAddr) config.Listener {
		l := config.Listener{Transport: tp, Host: a.bound.Addr().String(), Port: int(a.bound.Port())}
		if a.public.Host != l.Host || a.public.Port != l.Port {
			l.AdvertiseHost, l.AdvertisePort = a.public.Host, a.public.Port
		}
		return l
	}
	for _, u := range t.udp {
		out = append(out, listener("udp", listenAddr{bound: u.addr, public: u.public}))
	}
	for _, tp := range []string{"TCP", "TLS", "WS", "WSS"} {
		for _, a := range t.stream[tp] {
			out = append(out, listener(strings.ToLower(tp), a))
		}
	}
	return out
}

// Outbound picks the listener a request to hop leaves from: same transport, same IP family,
// preferring the same address class (loopback to loopback).
func (t *Transports) Outbound(hop proxy.Hop) (proxy.Outbound, *Socket, error) {
	want := familyOf(hop.Host)
	switch strings.ToUpper(hop.Transport) {
	case "UDP":
		var best *Socket
		for _, u := range t.udp {
			if u.addr.Addr().Is4() == want.Is4() || !want.IsValid() {
				if best == nil || (want.IsLoopback() == u.addr.Addr().IsLoopback()) {
					best = u
				}
			}
		}
		if best == nil {
			return proxy.Outbound{}, nil, ErrNoTransport
		}
		return proxy.Outbound{Host: best.public.Host, Port: best.public.Port, Transport: "UDP"}, best, nil
	case "TCP", "TLS", "WS", "WSS":
		tp := strings.ToUpper(hop.Transport)
		var best listenAddr
		for _, a := range t.stream[tp] {
			if a.bound.Addr().Is4() == want.Is4() || !want.IsValid() {
				if !best.bound.IsValid() || want.IsLoopback() == a.bound.Addr().IsLoopback() {
					best = a
				}
			}
		}
		if !best.bound.IsValid() {
			return proxy.Outbound{}, nil, ErrNoTransport
		}
		return proxy.Outbound{Host: best.public.Host, Port: best.public.Port, Transport: tp}, nil, nil
	}
	return proxy.Outbound{}, nil, ErrNoTransport
}

// Inbound names the listener a request from peer arrived on, for double Record-Route: the
// UDP socket that read it, or for TCP the listener of the peer's address family.
func (t *Transports) Inbound(peer Peer) *proxy.Outbound {
	if peer.udp != nil {
		return &proxy.Outbound{Host: peer.udp.public.Host, Port: peer.udp.public.Port, Transport: "UDP"}
	}
	src, err := netip.ParseAddrPort(peer.Addr)
	if err != nil {
		return nil
	}
	ob, _, err := t.Outbound(proxy.Hop{Host: src.Addr().Unmap().String(), Port: int(src.Port()), Transport: peer.Transport})
	if err != nil {
		return nil
	}
	return &ob
}

func familyOf(host string) netip.Addr {
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// SendRequest writes a request to its hop. For UDP it leaves from udp (the listener chosen by
// Outbound) so that replies come back to our listening port. Over TCP it writes on an open
// connection at once; when one must be dialled first, the dial and the write run on a
// goroutine of their own (an actor must not block) and a failure is reported to failed.
func (t *Transports) SendRequest(req *sip.Request, hop proxy.Hop, udp *Socket, failed func(error)) error {
	switch strings.ToUpper(hop.Transport) {
	case "UDP":
		if udp == nil {
			return ErrNoTransport
		}
		to, err := t.resolve(hop, udp)
		if err != nil {
			return err
		}
		return writeUDP(udp, req, to)
	case "TCP", "TLS", "WS", "WSS":
		tp := strings.ToUpper(hop.Transport)
		if err := t.confine(hop); err != nil {
			return err
		}
		req.SetTransport(tp)
		req.SetDestination(hop.Addr())
		if conn, err := t.layer.GetConnection(tp, hop.Addr()); err == nil {
			defer func() { _, _ = conn.TryClose() }()
			return conn.WriteMsg(req)
		}
		go func() {
			if err := t.layer.WriteMsg(req); err != nil && failed != nil {
				failed(err)
			}
		}()
		return nil
	}
	return ErrNoTransport
}

// SendResponse writes a response back towards the peer a request came from. Over TCP it uses
// the connection the request arrived on (§18.2.2); over UDP it goes to the top Via's
// received/rport address, from the listener the request arrived on.
func (t *Transports) SendResponse(res *sip.Response, to Peer) error {
	if to.Transport != "UDP" {
		// Back on the connection the request came on (§18.2.2).
		return t.layer.WriteMsgTo(res, to.Addr, to.Transport)
	}
	udp, dst, err := t.responseDest(res, to)
	if err != nil {
		return err
	}
	return writeUDP(udp, res, dst)
}

// Sent is a message as it went out over UDP — a NIST's final response, an ICT's ACK — its
// bytes (exactly their size: tens of thousands of these wait at once under load, parked.go)
// and where they went.
type Sent struct {
	b []byte
	Dest
}

// Resend writes the kept bytes again to where they went.
func (w *Sent) Resend() error { return w.Write(w.b) }

// Bytes are the kept bytes, as they went out.
func (w *Sent) Bytes() []byte { return w.b }

// Dest is where a kept message went over UDP: the socket it left from and the address it went
// to. A parked wait keeps it beside the bytes (in a buffer of its own) to write them again.
type Dest struct {
	udp *Socket
	dst netip.AddrPort
}

// Write sends b again to where the kept message went.
func (d Dest) Write(b []byte) error { return d.udp.write(b, d.dst) }

// SendResponseKept is SendResponse to a UDP peer, keeping what was sent so that a parked wait
// can resend it without building it again.
func (t *Transports) SendResponseKept(res *sip.Response, to Peer) (*Sent, error) {
	udp, dst, err := t.responseDest(res, to)
	if err != nil {
		return nil, err
	}
	return SendKept(res, udp, dst)
}

// SendRequestKept is SendRequest over UDP, keeping what was sent (see SendResponseKept).
func (t *Transports) SendRequestKept(req *sip.Request, hop proxy.Hop, udp *Socket) (*Sent, error) {
	if udp == nil {
		return nil, ErrNoTransport
	}
	dst, err := t.resolve(hop, udp)
	if err != nil {
		return nil, err
	}
	return SendKept(req, udp, dst)
}

// SendKept serializes msg once into bytes of exactly its size, and sends them to dst from udp,
// kept for Resend.
func SendKept(msg sip.Message, udp *Socket, dst netip.AddrPort) (*Sent, error) {
	buf := wireBufs.Get().(*bytes.Buffer)
	buf.Reset()
	msg.StringWrite(buf)
	w := &Sent{b: bytes.Clone(buf.Bytes()), Dest: Dest{udp: udp, dst: dst}}
	wireBufs.Put(buf)
	return w, w.Resend()
}

// responseDest is where a response to a request from a UDP peer goes: the top Via's
// received/rport address, from the listener the request arrived on.
func (t *Transports) responseDest(res *sip.Response, to Peer) (*Socket, netip.AddrPort, error) {
	via := res.Via()
	if via == nil {
		return nil, netip.AddrPort{}, errors.New("response without Via")
	}
	udp := to.udp
	hop := proxy.ResponseHop(via)
	if udp == nil {
		var err error
		if _, udp, err = t.Outbound(proxy.Hop{Host: hop.Host, Port: hop.Port, Transport: "UDP"}); err != nil {
			return nil, netip.AddrPort{}, err
		}
	}
	dst, err := t.resolve(hop, udp)
	return udp, dst, err
}

// ForwardResponse sends a response upstream to its (new) top Via, for stateless forwarding
// where no transaction remembers the peer.
func (t *Transports) ForwardResponse(res *sip.Response) error {
	via := res.Via()
	if via == nil {
		return errors.New("response without Via")
	}
	hop := proxy.ResponseHop(via)
	if tp := strings.ToUpper(via.Transport); tp != "UDP" {
		if err := t.confine(hop); err != nil {
			return err
		}
		return t.layer.WriteMsgTo(res, hop.Addr(), tp)
	}
	return t.SendResponse(res, Peer{Transport: "UDP"})
}

func writeUDP(u *Socket, msg sip.Message, to netip.AddrPort) error {
	buf := wireBufs.Get().(*bytes.Buffer)
	buf.Reset()
	msg.StringWrite(buf)
	err := u.write(buf.Bytes(), to)
	wireBufs.Put(buf)
	return err
}
