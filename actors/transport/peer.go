package transport

import "net/netip"

// Peer is where a message came from, and so where responses to it go back.
type Peer struct {
	Transport string  // "UDP" or "TCP"
	Addr      string  // source address, host:port
	udp       *Socket // the UDP socket it came in on; nil for a stream transport
}

// IP is the peer's address without its port (the zero Addr when Addr does not parse).
func (p Peer) IP() netip.Addr {
	ap, err := netip.ParseAddrPort(p.Addr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// NewPeer is a peer that sent a message over transport from addr (host:port), on socket udp
// for UDP: what a simulated network hands the engine (listeners make their own).
func NewPeer(transport, addr string, udp *Socket) Peer {
	return Peer{Transport: transport, Addr: addr, udp: udp}
}

// Socket is the UDP socket a message from this peer came in on (nil for a stream transport):
// the handle responses and requests to the peer leave from.
func (p Peer) Socket() *Socket { return p.udp }
