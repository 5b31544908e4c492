package sim

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/partysip/partysip/actors/transport"
	"github.com/partysip/partysip/sipcore/proxy"
)

// wire is the transport port of the simulated proxy: one UDP socket on the in-memory network.
// Responses go where a real one's would: to the received/rport address of the top Via.
type wire struct{ w *World }

var _ transport.Wire = (*wire)(nil)

// errRefused: no simulated endpoint accepts stream connections; every TCP (or TLS, WS) next
// hop refuses the connection, as a host with nothing listening on the port does.
var errRefused = errors.New("sim: connection refused")

func (n *wire) us() proxy.Outbound {
	return proxy.Outbound{Host: n.w.proxy.Addr().String(), Port: int(n.w.proxy.Port()), Transport: "UDP"}
}

func (n *wire) Outbound(hop proxy.Hop) (proxy.Outbound, *transport.Socket, error) {
	if !strings.EqualFold(hop.Transport, "UDP") {
		ob := n.us()
		ob.Transport = strings.ToUpper(hop.Transport)
		return ob, nil, nil
	}
	return n.us(), n.w.sock, nil
}

func (n *wire) Inbound(transport.Peer) *proxy.Outbound {
	ob := n.us()
	return &ob
}

// dest is a hop's address; the simulated network has no names.
func dest(hop proxy.Hop) (netip.AddrPort, error) {
	a, err := netip.ParseAddr(hop.Host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("sim: %q is not an address (no DNS here)", hop.Host)
	}
	return netip.AddrPortFrom(a, uint16(hop.Port)), nil
}

func (n *wire) SendRequest(req *sip.Request, hop proxy.Hop, _ *transport.Socket, failed func(error)) error {
	to, err := dest(hop)
	if err != nil {
		return err
	}
	if !strings.EqualFold(hop.Transport, "UDP") {
		// A refused connection is learnt after a round trip, as the transports' dial reports it.
		n.w.refused(to, req)
		if failed != nil {
			n.w.After(2*n.w.faults.Latency, func() { failed(errRefused) })
		}
		return nil
	}
	n.w.Send(n.w.proxy, to, req)
	return nil
}

func (n *wire) SendRequestKept(req *sip.Request, hop proxy.Hop, _ *transport.Socket) (*transport.Sent, error) {
	if !strings.EqualFold(hop.Transport, "UDP") {
		return nil, errRefused
	}
	to, err := dest(hop)
	if err != nil {
		return nil, err
	}
	return transport.SendKept(req, n.w.sock, to)
}

// responseTo is where a response goes: the top Via's received/rport address.
func responseTo(res *sip.Response) (netip.AddrPort, error) {
	via := res.Via()
	if via == nil {
		return netip.AddrPort{}, errors.New("response without Via")
	}
	return dest(proxy.ResponseHop(via))
}

func (n *wire) SendResponse(res *sip.Response, _ transport.Peer) error {
	to, err := responseTo(res)
	if err != nil {
		return err
	}
	n.w.Send(n.w.proxy, to, res)
	return nil
}

func (n *wire) SendResponseKept(res *sip.Response, _ transport.Peer) (*transport.Sent, error) {
	to, err := responseTo(res)
	if err != nil {
		return nil, err
	}
	return transport.SendKept(res, n.w.sock, to)
}

func (n *wire) ForwardResponse(res *sip.Response) error { return n.SendResponse(res, transport.Peer{}) }
