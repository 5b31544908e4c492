package proxy

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/partysip/partysip/sipcore/base"
)

// StaticRoute sends requests whose Request-URI matches Match to the next hop To.
type StaticRoute struct {
	// Match is applied to "user@host" of the Request-URI ("host" when there is no user).
	Match *regexp.Regexp
	// To is the next hop; the Request-URI is left alone (the hop is an outbound proxy).
	To sip.Uri
	// Redirect asks for a 302 to To instead of forwarding (the redirect plugin acts on it).
	Redirect bool
	// Alternates are further next hops for the same requests, tried after To (Sequential:
	// failover in the order given) or together with it (Parallel).
	Alternates []sip.Uri
	Fork       ForkMode
	// Stateless relays matching requests without transactions (§16.11).
	Stateless bool
	// NoResponse, when set, is how long a hop of this route may stay silent before a branch
	// that has somewhere else to go leaves it (the route's failover.no_response).
	NoResponse time.Duration
}

// ParseStaticRoute reads a route written as "REGEX=URI", e.g. ".*=sip:127.0.0.1:5070".
// The last '=' followed by "sip:" or "sips:" splits the two parts, so the regex may contain '='.
func ParseStaticRoute(s string) (StaticRoute, error) {
	i := max(strings.LastIndex(s, "=sip:"), strings.LastIndex(s, "=sips:"))
	if i < 0 {
		return StaticRoute{}, fmt.Errorf("route %q: want REGEX=sip:host[:port][;transport=udp|tcp]", s)
	}
	return NewStaticRoute(s[:i], s[i+1:])
}

// NewStaticRoute compiles a route from its regular expression and next-hop URI.
func NewStaticRoute(match, to string) (StaticRoute, error) {
	re, err := regexp.Compile(match)
	if err != nil {
		return StaticRoute{}, fmt.Errorf("invalid regular expression %q: %w", match, err)
	}
	uri, err := ParseHopURI(to)
	if err != nil {
		return StaticRoute{}, err
	}
	return StaticRoute{Match: re, To: uri}, nil
}

// ParseHopURI parses a next-hop URI and checks that it names a host and a supported transport.
func ParseHopURI(s string) (sip.Uri, error) {
	var uri sip.Uri
	if err := sip.ParseUri(s, &uri); err != nil {
		return uri, fmt.Errorf("invalid SIP URI %q: %w", s, err)
	}
	if sc := strings.ToLower(uri.Scheme); sc != "sip" && sc != "sips" {
		return uri, fmt.Errorf("next hop %q: scheme must be sip or sips", s)
	}
	if uri.Host == "" {
		return uri, fmt.Errorf("next hop %q: no host", s)
	}
	if tp, ok := uri.UriParams.Get("transport"); ok {
		switch strings.ToLower(tp) {
		case "udp", "tcp", "tls", "ws", "wss":
		default:
			return uri, fmt.Errorf("next hop %q: transport %q not supported (udp, tcp, tls, ws, wss)", s, tp)
		}
	}
	return uri, nil
}

// Router chooses where a request goes when no Route header decides it (§16.5).
type Router struct {
	Routes []StaticRoute
	Local  *base.Local
}

// Target is where one branch of a request goes.
type Target struct {
	// URI becomes the Request-URI of the forwarded request.
	URI sip.Uri
	// Hop, when set, is the next hop to send to instead of the Request-URI (an outbound proxy).
	Hop *sip.Uri
	// Routes are put in front of the request's Route header fields: the Path a contact
	// registered with (RFC 3327 §5.3), the way back to it through its edge proxies.
	Routes []sip.Uri
	// Q is the target's preference in thousandths (RFC 3261 §16.6 q), 0 when it has none.
	Q int
	// NoResponse, when set, replaces failover.no_response for this target's hop (a static
	// route's own).
	NoResponse time.Duration
}

// Routing is where Route sends a request.
type Routing struct {
	Targets []Target
	Fork    ForkMode
	// Foreign: the destination is one the request named itself (its Route set, or the
	// Request-URI of an in-dialog request or of a domain we do not serve), not a configured
	// route: the relay policy decides whether the sender may use us to reach it.
	Foreign bool
}

// Decide returns the targets for req, or a rejection. A request with a Route header is sent to
// that route (§16.6 step 7) and an in-dialog request to its Request-URI, so the static routes
// see new requests (and requests addressed to us).
func (r *Router) Decide(req *sip.Request) ([]Target, *base.Answer) {
	rt, rej := r.Route(req)
	return rt.Targets, rej
}

// Route is Decide that also says how a static route's hops are forked and whether the
// destination is foreign.
func (r *Router) Route(req *sip.Request) (Routing, *base.Answer) {
	if TopRoute(req) != nil {
		return Routing{Targets: []Target{{URI: req.Recipient}}, Foreign: true}, nil
	}
	// An in-dialog request (To tag) goes to the remote target the dialog established (§12.2),
	// its Request-URI, and not through the static routes meant for new requests; unless it is
	// addressed to us, as SIPp's built-in UAC does with no route set.
	if base.HasToTag(req) && !r.Local.IsUs(&req.Recipient) {
		return Routing{Targets: []Target{{URI: req.Recipient}}, Foreign: true}, nil
	}
	if sr := r.Match(req); sr != nil {
		hops := append([]sip.Uri{sr.To}, sr.Alternates...)
		targets := make([]Target, len(hops))
		for i := range hops {
			// Descending q keeps the written order when the hops are tried one after another.
			targets[i] = Target{URI: req.Recipient, Hop: &hops[i], Q: 1000 - i, NoResponse: sr.NoResponse}
		}
		return Routing{Targets: targets, Fork: sr.Fork}, nil
	}
	// A domain we do not serve: forward to the Request-URI (§16.5). One we serve and know no
	// route for: nobody is there.
	if !r.Local.IsDomain(req.Recipient.Host) {
		return Routing{Targets: []Target{{URI: req.Recipient}}, Foreign: true}, nil
	}
	return Routing{}, reject(404, "Not Found")
}

// Match returns the first static route whose pattern matches the Request-URI, or nil.
func (r *Router) Match(req *sip.Request) *StaticRoute {
	subject := req.Recipient.Host
	if req.Recipient.User != "" {
		subject = req.Recipient.User + "@" + req.Recipient.Host
	}
	for i := range r.Routes {
		if r.Routes[i].Match.MatchString(subject) {
			return &r.Routes[i]
		}
	}
	return nil
}
