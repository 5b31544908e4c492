// Package base is the vocabulary the other sipcore packages share: an answer to a request, who
// "we" are (our addresses and domains), default ports, the To-tag test and the reason phrases
// partysip puts on the responses it builds. It imports nothing of partysip, so the proxy rules
// and the registrar rules depend on it instead of on each other.
package base

import (
	"strings"

	"github.com/emiago/sipgo/sip"
)

// Answer is a final (or, for a request to ourselves, 200) response a rule decided on, before it
// is built from the request: its status, reason phrase and extra header fields.
type Answer struct {
	Code   int
	Reason string
	// Headers to add to the response (e.g. Unsupported for 420, Min-Expires for 423).
	Headers []sip.Header
}

// Answer builds an answer with the standard reason phrase of code.
func NewAnswer(code int, hdrs ...sip.Header) *Answer {
	return &Answer{Code: code, Reason: ReasonPhrase(code), Headers: hdrs}
}

// Local describes who "we" are: the addresses we listen on and the domains we serve. It answers
// RFC 3261 §16.4's question "does this URI indicate this proxy?".
type Local struct {
	// Addrs are our listening addresses as host and port.
	Addrs []HostPort
	// Domains are the domains we are responsible for (no port).
	Domains []string
}

// HostPort is a host (IP or name) with a port.
type HostPort struct {
	Host string
	Port int
}

// IsUs reports whether uri names this proxy: one of our listening addresses (port defaulting to
// the scheme's default), or one of our domains.
func (l *Local) IsUs(uri *sip.Uri) bool {
	if l.IsDomain(uri.Host) && uri.Port == 0 {
		return true
	}
	port := uri.Port
	if port == 0 {
		port = URIPort(uri)
	}
	return l.isAddr(uri.Host, port)
}

// IsDomain reports whether host is one of our served domains or one of our listening hosts.
func (l *Local) IsDomain(host string) bool {
	host = TrimBrackets(host)
	for _, d := range l.Domains {
		if strings.EqualFold(d, host) {
			return true
		}
	}
	for _, a := range l.Addrs {
		if strings.EqualFold(a.Host, host) {
			return true
		}
	}
	return false
}

// IsOurVia reports whether a Via sent-by names one of our listening addresses.
func (l *Local) IsOurVia(via *sip.ViaHeader) bool {
	port := via.Port
	if port == 0 {
		port = DefaultPort(via.Transport)
	}
	return l.isAddr(via.Host, port)
}

func (l *Local) isAddr(host string, port int) bool {
	host = TrimBrackets(host)
	for _, a := range l.Addrs {
		if a.Port == port && strings.EqualFold(a.Host, host) {
			return true
		}
	}
	return false
}

// TrimBrackets takes the brackets off an IPv6 host ("[::1]" → "::1").
func TrimBrackets(h string) string {
	if len(h) > 1 && h[0] == '[' && h[len(h)-1] == ']' {
		return h[1 : len(h)-1]
	}
	return h
}

// DefaultPort is the port a transport uses when none is given (RFC 3261 §19.1.2): 5061 for TLS,
// 5060 for the others.
func DefaultPort(transport string) int {
	if strings.EqualFold(transport, "TLS") {
		return 5061
	}
	return 5060
}

// URIPort is the port a URI without one means: 5061 for sips, else 5060.
func URIPort(uri *sip.Uri) int {
	if uri.IsEncrypted() {
		return 5061
	}
	return 5060
}

// HasToTag reports whether a message's To carries a tag: a request with one belongs to a dialog
// (RFC 3261 §12.2), a response with one came from a UAS.
func HasToTag(m interface{ To() *sip.ToHeader }) bool {
	to := m.To()
	return to != nil && to.Params.Has("tag")
}

// Parties are the user@host of a request's From and To ("" for one it lacks).
func Parties(req *sip.Request) (from, to string) {
	if h := req.From(); h != nil {
		from = h.Address.User + "@" + h.Address.Host
	}
	if h := req.To(); h != nil {
		to = h.Address.User + "@" + h.Address.Host
	}
	return from, to
}

// CallID is a message's Call-ID, "" when it has none.
func CallID(m interface{ CallID() *sip.CallIDHeader }) string {
	if h := m.CallID(); h != nil {
		return h.Value()
	}
	return ""
}

// ReasonPhrase is the reason phrase partysip puts on a status it generates (RFC 3261 §21).
func ReasonPhrase(code int) string {
	if r, ok := phrases[code]; ok {
		return r
	}
	switch code / 100 {
	case 1:
		return "Trying"
	case 2:
		return "OK"
	}
	return "Error"
}

var phrases = map[int]string{
	100: "Trying", 180: "Ringing", 183: "Session Progress", 200: "OK", 202: "Accepted",
	400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
	405: "Method Not Allowed", 407: "Proxy Authentication Required", 408: "Request Timeout",
	413: "Request Entity Too Large", 416: "Unsupported URI Scheme", 420: "Bad Extension",
	423: "Interval Too Brief", 480: "Temporarily Unavailable", 481: "Call/Transaction Does Not Exist",
	482: "Loop Detected", 483: "Too Many Hops", 484: "Address Incomplete", 486: "Busy Here",
	487: "Request Terminated", 488: "Not Acceptable Here", 500: "Server Internal Error",
	501: "Not Implemented", 503: "Service Unavailable", 513: "Message Too Large",
	603: "Decline",
}
