package proxy

import (
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/partysip/partysip/sipcore/base"
)

// PreprocessRoute applies RFC 3261 §16.4 to req in place and reports what it did.
//
// If the previous hop was a strict router, it put a URI we had Record-Routed into the
// Request-URI and the real target at the end of the Route set: the Request-URI is restored from
// the last Route value. Then the top Route values that name us are removed. The caller must own req
// (clone a message another actor may read first).
func PreprocessRoute(req *sip.Request, local *base.Local) (strictHop, removedOwn bool) {
	routes := req.GetHeaders("Route")
	if len(routes) > 0 && fromStrictRouter(req, local) {
		if last, ok := routes[len(routes)-1].(*sip.RouteHeader); ok {
			req.Recipient = *last.Address.Clone()
			removeLastRoute(req)
			strictHop = true
		}
	}
	// With double Record-Route (one entry per side of a transport change) two values in a row
	// name us; both go.
	for top := TopRoute(req); top != nil && local.IsUs(&top.Address); top = TopRoute(req) {
		removeTopRoute(req)
		removedOwn = true
	}
	return strictHop, removedOwn
}

// fromStrictRouter reports whether req's Request-URI is one of our Record-Route URIs: they have
// no user part and carry lr, and only such a URI in the Request-URI means a strict router sent
// the request (§16.4, §16.12.1.2).
func fromStrictRouter(req *sip.Request, local *base.Local) bool {
	return req.Recipient.User == "" && req.Recipient.UriParams.Has("lr") && local.IsUs(&req.Recipient)
}

// TopRoute returns the first Route header value, or nil. sipgo's Request.Route allocates a
// lazy-parse attempt on every call when there is no Route header (the common case on the
// request path); this looks first.
func TopRoute(req *sip.Request) *sip.RouteHeader {
	for _, h := range req.Headers() {
		if r, ok := h.(*sip.RouteHeader); ok {
			return r
		}
		if strings.EqualFold(h.Name(), "Route") {
			return req.Route() // an unparsed Route header: let sipgo parse it
		}
	}
	return nil
}

// removeTopRoute removes the first Route header value (sipgo's RemoveHeader removes the first).
func removeTopRoute(req *sip.Request) {
	req.RemoveHeader("Route")
}

// removeLastRoute removes the last Route header value, keeping the order of the others.
func removeLastRoute(req *sip.Request) {
	routes := req.GetHeaders("Route")
	if len(routes) == 0 {
		return
	}
	for range routes {
		req.RemoveHeader("Route")
	}
	for _, h := range routes[:len(routes)-1] {
		req.AppendHeader(h)
	}
}
