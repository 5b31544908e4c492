package proxy

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/partysip/partysip/sipcore/base"
)

// RFC 3263 §4 "Locating a SIP server", as pure functions: the DNS answers come from the caller
// (who owns the network and the clock); these decide what to ask and in which order to try
// what came back.

// Transports we can use, in our order of preference when a URI does not say (§4.1).
var supportedTransports = []string{"UDP", "TCP", "TLS"}

// Plan is what to do to find where a URI's requests go.
type Plan struct {
	// Direct is set when no DNS is needed (an IP address): the one hop.
	Direct *Hop
	// Host to resolve; Port and Transport when the URI fixes them (then only A/AAAA is
	// needed, §4.1/§4.2).
	Host      string
	Port      int
	Transport string
	// Secure: a sips URI (TLS only).
	Secure bool
}

// PlanFor reads what a URI fixes (§4.1, §4.2): an IP host needs no DNS; a port or a transport
// parameter skips NAPTR (and a port skips SRV).
func PlanFor(uri *sip.Uri) Plan {
	p := Plan{Host: base.TrimBrackets(uri.Host), Port: uri.Port, Secure: uri.IsEncrypted()}
	if v, ok := uri.UriParams.Get("transport"); ok && v != "" {
		p.Transport = strings.ToUpper(v)
	}
	if _, err := netip.ParseAddr(p.Host); err == nil {
		h := HopFromURI(uri)
		p.Direct = &h
	}
	return p
}

// NAPTR is one NAPTR record (RFC 3403) as far as SIP uses it.
type NAPTR struct {
	Order, Preference uint16
	Flags, Service    string
	Replacement       string
}

// SRV is one SRV record (RFC 2782).
type SRV struct {
	Priority, Weight, Port uint16
	Target                 string
}

// SRVQuery is an SRV name to ask, with the transport its answers use.
type SRVQuery struct {
	Name      string
	Transport string
}

// SRVQueries orders the SRV names to look up for a plan whose URI fixed no port (§4.1): from
// the NAPTR records when there are usable ones ("s" flag, SIP+D2U/SIP+D2T/SIPS+D2T, by order
// then preference), else the _sip._udp/_sip._tcp (or _sips._tcp) names of the host. A
// transport parameter keeps only that transport.
func SRVQueries(p Plan, naptrs []NAPTR) []SRVQuery {
	byService := map[string]string{"SIP+D2U": "UDP", "SIP+D2T": "TCP", "SIPS+D2T": "TLS"}
	recs := slices.Clone(naptrs)
	slices.SortStableFunc(recs, func(a, b NAPTR) int {
		if a.Order != b.Order {
			return int(a.Order) - int(b.Order)
		}
		return int(a.Preference) - int(b.Preference)
	})
	var out []SRVQuery
	for _, n := range recs {
		tp, ok := byService[strings.ToUpper(n.Service)]
		if !ok || !strings.EqualFold(n.Flags, "s") || !usable(tp, p) {
			continue
		}
		out = append(out, SRVQuery{Name: strings.TrimSuffix(n.Replacement, "."), Transport: tp})
	}
	if len(out) > 0 {
		return out
	}
	for _, tp := range []string{"UDP", "TCP", "TLS"} {
		if !usable(tp, p) {
			continue
		}
		prefix := "_sip._" + strings.ToLower(tp)
		if tp == "TLS" {
			prefix = "_sips._tcp"
		}
		out = append(out, SRVQuery{Name: prefix + "." + p.Host, Transport: tp})
	}
	return out
}

// usable: a transport we can send on and the plan allows (sips: TLS only, §4.1).
func usable(tp string, p Plan) bool {
	if p.Transport != "" && tp != p.Transport {
		return false
	}
	if p.Secure {
		return tp == "TLS" && slices.Contains(supportedTransports, "TLS")
	}
	return slices.Contains(supportedTransports, tp)
}

// OrderSRV sorts SRV records the RFC 2782 way: by priority, and within a priority by a weighted
// random draw (records of weight 0 last among equals). pick(n) must return a number in [0, n).
func OrderSRV(recs []SRV, pick func(n int) int) []SRV {
	in := slices.Clone(recs)
	slices.SortStableFunc(in, func(a, b SRV) int { return int(a.Priority) - int(b.Priority) })
	out := make([]SRV, 0, len(in))
	for start := 0; start < len(in); {
		end := start
		for end < len(in) && in[end].Priority == in[start].Priority {
			end++
		}
		group := in[start:end]
		for len(group) > 0 {
			total := 0
			for _, r := range group {
				total += int(r.Weight)
			}
			i := 0
			if total > 0 {
				x := pick(total)
				for acc := 0; i < len(group); i++ {
					acc += int(group[i].Weight)
					if x < acc {
						break
					}
				}
			}
			out = append(out, group[i])
			group = slices.Delete(group, i, i+1)
		}
		start = end
	}
	return out
}

// DefaultTransport is the transport when neither the URI nor DNS names one (§4.1): TLS for
// sips, else UDP.
func (p Plan) DefaultTransport() string {
	switch {
	case p.Transport != "":
		return p.Transport
	case p.Secure:
		return "TLS"
	}
	return "UDP"
}

// DefaultPort is the port when neither the URI nor SRV gives one.
func (p Plan) DefaultPort() int {
	if p.Port != 0 {
		return p.Port
	}
	return base.DefaultPort(p.DefaultTransport())
}
