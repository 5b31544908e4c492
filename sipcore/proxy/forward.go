package proxy

import (
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/partysip/partysip/sipcore/base"
)

// DefaultMaxForwards is put on requests that arrive without Max-Forwards (§16.6 step 3).
const DefaultMaxForwards = 70

// Hop is a resolved-enough next hop: where to send a request and over which transport.
type Hop struct {
	Host      string // IP or name; IPv6 without brackets
	Port      int
	Transport string // "UDP" or "TCP"
}

// Addr returns host:port, with brackets around an IPv6 host.
func (h Hop) Addr() string {
	host := h.Host
	if strings.IndexByte(host, ':') >= 0 {
		host = "[" + host + "]"
	}
	return host + ":" + strconv.Itoa(h.Port)
}

// HopFromURI applies RFC 3263 §4 in its simplest form: the transport parameter (UDP by default,
// TLS for sips), the port (the transport's default when absent). DNS is the caller's job.
func HopFromURI(uri *sip.Uri) Hop {
	tp := "UDP"
	if v, ok := uri.UriParams.Get("transport"); ok && v != "" {
		tp = strings.ToUpper(v)
	} else if uri.IsEncrypted() {
		tp = "TLS"
	}
	port := uri.Port
	if port == 0 {
		port = base.DefaultPort(tp)
	}
	return Hop{Host: base.TrimBrackets(uri.Host), Port: port, Transport: tp}
}

// Outbound describes our side of a forwarded request: the listener it leaves from.
type Outbound struct {
	Host      string // sent-by host of our Via, Record-Route host
	Port      int
	Transport string // "UDP" or "TCP"
}

// ForwardOptions control the forwarding copy.
type ForwardOptions struct {
	Branch      string
	RecordRoute bool
	// Sig, when set, signs our Record-Route URIs (DialogSigner.RecordRouteToken), so that the
	// dialog's later requests prove they belong to it.
	Sig string
	// Via is the listener the request leaves from: our Via and the callee-facing Record-Route.
	Via Outbound
	// Inbound, when set, is the listener the request arrived on. If it differs from Via (UDP in,
	// TCP out; IPv4 in, IPv6 out) we Record-Route twice, once per side, so that each party of the
	// dialog reaches us the way it reached us first (double Record-Route, as RFC 5658 describes).
	Inbound *Outbound
	// InPlace says req is the caller's own copy, no longer needed: it is edited and returned
	// instead of cloned (the last, often only, branch of a request saves a copy).
	InPlace bool
	// Hop, when set, is where the request goes, as RFC 3263 resolution found it for the next-hop
	// URI (NextHopURI); otherwise NextHop's reading of that URI.
	Hop *Hop
}

// Forward builds the copy of req sent to target, per RFC 3261 §16.6 steps 1–8, and returns it
// with the next hop it must be sent to. req itself is not modified unless opt.InPlace.
func Forward(req *sip.Request, target Target, opt ForwardOptions) (*sip.Request, Hop) {
	// Step 1: copy. Step 2: Request-URI.
	out := req
	if !opt.InPlace {
		out = req.Clone()
	}
	out.Recipient = *target.URI.Clone()

	// Step 3: Max-Forwards. sipgo shares this header between clones, so replace, never Dec().
	mf := sip.MaxForwardsHeader(DefaultMaxForwards)
	if old := out.MaxForwards(); old != nil {
		mf = sip.MaxForwardsHeader(old.Val() - 1)
		out.ReplaceHeader(&mf)
	} else {
		out.AppendHeader(&mf)
	}

	// Step 4: Record-Route, for requests that can create dialogs.
	if opt.RecordRoute && createsDialog(out.Method) && !base.HasToTag(out) {
		if in := opt.Inbound; in != nil && *in != opt.Via {
			out.PrependHeader(&sip.RecordRouteHeader{Address: ourURI(*in, opt.Sig)})
		}
		out.PrependHeader(&sip.RecordRouteHeader{Address: ourURI(opt.Via, opt.Sig)})
	}

	// RFC 3327 §5.3: a contact registered with a Path is reached through it.
	for i := len(target.Routes) - 1; i >= 0; i-- {
		out.PrependHeader(&sip.RouteHeader{Address: *target.Routes[i].Clone()})
	}

	// Steps 5–7: the next hop: a Route header, else the target's outbound hop, else the
	// Request-URI. Step 6: a strict-routing next hop gets the Request-URI as its last Route
	// value and its own URI as the Request-URI.
	hop := NextHop(out, target)
	if opt.Hop != nil {
		hop = *opt.Hop
	}
	if top := TopRoute(out); top != nil && !top.Address.UriParams.Has("lr") {
		out.AppendHeader(&sip.RouteHeader{Address: out.Recipient})
		out.Recipient = *top.Address.Clone()
		out.RemoveHeader("Route")
	}

	// Step 8: our Via, with a branch unique to this branch of the request.
	via := &sip.ViaHeader{
		ProtocolName:    "SIP",
		ProtocolVersion: "2.0",
		Transport:       hop.Transport,
		Host:            opt.Via.Host,
		Port:            opt.Via.Port,
		Params:          sip.NewParams(),
	}
	via.Params.Add("branch", opt.Branch)
	out.PrependHeader(via)

	out.SetTransport(hop.Transport)
	out.SetDestination(hop.Addr())
	return out, hop
}

// NextHop is where a request for target is sent (§16.6 steps 6–7), read from NextHopURI
// without DNS. Call it on the request after PreprocessRoute.
func NextHop(req *sip.Request, target Target) Hop {
	return HopFromURI(NextHopURI(req, target))
}

// NextHopURI is the URI that decides where a request for target goes: the target's first Path
// route, else the top Route, else the target's outbound hop, else the Request-URI. RFC 3263
// resolves it.
func NextHopURI(req *sip.Request, target Target) *sip.Uri {
	if len(target.Routes) > 0 {
		return &target.Routes[0]
	}
	if top := TopRoute(req); top != nil {
		return &top.Address
	}
	if target.Hop != nil {
		return target.Hop
	}
	return &target.URI
}

// ourURI is the URI we Record-Route with: our address, loose routing (lr), and our signature
// of the dialog when there is one.
func ourURI(ob Outbound, sig string) sip.Uri {
	u := sip.Uri{Scheme: "sip", Host: ob.Host, Port: ob.Port, UriParams: sip.NewParams()}
	if !strings.EqualFold(ob.Transport, "UDP") {
		u.UriParams.Add("transport", strings.ToLower(ob.Transport))
	}
	u.UriParams.Add("lr", "")
	if sig != "" {
		u.UriParams.Add(SigParam, sig)
	}
	return u
}

func createsDialog(m sip.RequestMethod) bool {
	return m == sip.INVITE || m == sip.SUBSCRIBE || m == sip.REFER || m == sip.NOTIFY
}
