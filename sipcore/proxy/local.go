// Package proxy holds the proxy rules of RFC 3261 §16 as pure functions over sipgo messages:
// request validation, Route pre-processing, routing, forwarding copies, response selection and
// CANCEL construction. It has no goroutines, no clock and no I/O.
package proxy

import (
	"strings"

	"github.com/emiago/sipgo/sip"
)

// Local describes who "we" are: the addresses we listen on and the domains we serve. It answers
// §16.4's question "does this URI indicate this proxy?".
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
		port = defaultPort(uri)
	}
	host := trimBrackets(uri.Host)
	for _, a := range l.Addrs {
		if a.Port == port && strings.EqualFold(a.Host, host) {
			return true
		}
	}
	return false
}

// IsDomain reports whether host is one of our served domains or one of our listening hosts.
func (l *Local) IsDomain(host string) bool {
	host = trimBrackets(host)
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
		port = 5060
		if strings.EqualFold(via.Transport, "TLS") {
			port = 5061
		}
	}
	host := trimBrackets(via.Host)
	for _, a := range l.Addrs {
		if a.Port == port && strings.EqualFold(a.Host, host) {
			return true
		}
	}
	return false
}

func trimBrackets(h string) string {
	if len(h) > 1 && h[0] == '[' && h[len(h)-1] == ']' {
		return h[1 : len(h)-1]
	}
	return h
}

func defaultPort(uri *sip.Uri) int {
	if uri.IsEncrypted() {
		return 5061
	}
	return 5060
}
