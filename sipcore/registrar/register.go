package registrar

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/partysip/partysip/sipcore/base"
)

// Policy is the registrar's configuration: expiry bounds (§10.2.1.1, §10.3 step 7).
type Policy struct {
	// DefaultExpires applies to a contact with neither an expires parameter nor an Expires
	// header field.
	DefaultExpires time.Duration
	// MinExpires: a shorter non-zero expiry is refused with 423 and Min-Expires (§10.3 step 7).
	MinExpires time.Duration
	// MaxExpires: a longer expiry is shortened to it (§10.3 step 7 allows the registrar to).
	MaxExpires time.Duration
	// MaxContacts bounds the bindings of one address-of-record (0: no bound); a REGISTER that
	// would add past it is refused with 403.
	MaxContacts int
	// MaxAORs bounds the addresses-of-record of one domain (0: no bound); a REGISTER for a new
	// one past it is refused with 403.
	MaxAORs int
}

// TooManyAORs is the answer to a REGISTER for a new address-of-record of a domain that holds
// Policy.MaxAORs already.
func TooManyAORs() *base.Answer {
	return &base.Answer{Code: 403, Reason: "Forbidden (too many addresses-of-record in this domain)"}
}

// DefaultPolicy is what RFC 3261 suggests and common registrars use.
var DefaultPolicy = Policy{DefaultExpires: time.Hour, MinExpires: time.Minute, MaxExpires: 24 * time.Hour}

// Register is a REGISTER request reduced to what §10.3 acts on.
type Register struct {
	AOR string
	// Wildcard is "Contact: *" with "Expires: 0": remove every binding (§10.3 step 6).
	Wildcard bool
	// Contacts to add, refresh (Expires > 0) or remove (Expires == 0). None means a query.
	Contacts []ContactChange
	CallID   string
	CSeq     uint32
	Path     []string
	// PathSupported: the UA sent "Supported: path", so the 200 echoes Path (RFC 3327 §5.3).
	PathSupported bool
	Source        string
	// Received is where requests for these contacts go when the UA cannot be reached at them as
	// written (see Received), "" when it can.
	Received string
	// MaxContacts is the policy's bound on the AOR's bindings (Apply enforces it).
	MaxContacts int
	// MaxAORs is the policy's bound on its domain's AORs (the registrar service enforces it).
	MaxAORs int
}

// ContactChange is one Contact of a REGISTER with its resolved expiry.
type ContactChange struct {
	URI     string
	key     string
	Q       int
	Expires time.Duration // 0 removes the binding
}

// Parse reduces req to a Register, applying §10.3 steps 5–7 that need no stored state: the
// address-of-record from To (404 unless its domain is one local serves), the wildcard rules
// (400), each contact's expiry (its expires parameter, else the Expires header field, else the
// default; 423 + Min-Expires when too brief; capped at the maximum) and q (400 when invalid).
// source is where the request came from, kept for operators.
func Parse(req *sip.Request, pol Policy, local *base.Local, source string) (*Register, *base.Answer) {
	to := req.To()
	cseq := req.CSeq()
	if to == nil || cseq == nil || req.CallID() == nil {
		return nil, &base.Answer{Code: 400, Reason: "Missing To, Call-ID or CSeq"}
	}
	if s := strings.ToLower(to.Address.Scheme); (s != "sip" && s != "sips") || !local.IsDomain(to.Address.Host) {
		// §10.3 step 5: the address-of-record is not valid for a domain we serve.
		return nil, &base.Answer{Code: 404, Reason: "Not Found"}
	}
	reg := &Register{
		AOR:           LocalAOR(&to.Address, local),
		CallID:        req.CallID().Value(),
		CSeq:          cseq.SeqNo,
		Path:          headerValues(req, "Path"),
		PathSupported: hasOptionTag(req, "Supported", "path"),
		Source:        source,
		Received:      Received(req, source),
		MaxContacts:   pol.MaxContacts,
		MaxAORs:       pol.MaxAORs,
	}
	headerExpires, hasHeaderExpires := -1, false
	if h := req.GetHeader("Expires"); h != nil {
		v, err := strconv.ParseUint(strings.TrimSpace(h.Value()), 10, 32)
		if err != nil {
			return nil, &base.Answer{Code: 400, Reason: "Invalid Expires"}
		}
		headerExpires, hasHeaderExpires = int(min(v, 1<<31-1)), true
	}
	contacts := req.GetHeaders("Contact")
	for _, h := range contacts {
		c, ok := h.(*sip.ContactHeader)
		if !ok {
			return nil, &base.Answer{Code: 400, Reason: "Invalid Contact"}
		}
		if c.Address.Wildcard {
			// §10.3 step 6: "*" only alone and only with Expires: 0.
			if len(contacts) != 1 || !hasHeaderExpires || headerExpires != 0 {
				return nil, &base.Answer{Code: 400, Reason: "Invalid wildcard Contact"}
			}
			reg.Wildcard = true
			return reg, nil
		}
		secs := -1
		if v, ok := c.Params.Get("expires"); ok {
			// A malformed parameter is ignored like an absent one (§10.2.1.1 "valid" values).
			if n, err := strconv.ParseUint(v, 10, 32); err == nil {
				secs = int(min(n, 1<<31-1))
			}
		}
		if secs < 0 && hasHeaderExpires {
			secs = headerExpires
		}
		exp := time.Duration(secs) * time.Second
		if secs < 0 {
			exp = pol.DefaultExpires
		}
		if exp > 0 && exp < pol.MinExpires {
			// §10.3 step 7 / §21.4.17: too brief; the whole request fails.
			return nil, &base.Answer{Code: 423, Reason: "Interval Too Brief", Headers: []sip.Header{
				sip.NewHeader("Min-Expires", strconv.Itoa(int(pol.MinExpires/time.Second))),
			}}
		}
		if pol.MaxExpires > 0 && exp > pol.MaxExpires {
			exp = pol.MaxExpires
		}
		q := QUnset
		if v, ok := c.Params.Get("q"); ok {
			n, ok := parseQ(v)
			if !ok {
				return nil, &base.Answer{Code: 400, Reason: "Invalid q"}
			}
			q = n
		}
		uri := c.Address.String()
		reg.Contacts = append(reg.Contacts, ContactChange{URI: uri, key: contactKey(&c.Address), Q: q, Expires: exp})
	}
	return reg, nil
}

// parseQ reads a q value (RFC 3261 §25.1: "0" ["." 0*3DIGIT] / "1" ["." 0*3("0")]) as
// thousandths.
func parseQ(s string) (int, bool) {
	whole, frac, _ := strings.Cut(s, ".")
	if (whole != "0" && whole != "1") || len(frac) > 3 {
		return 0, false
	}
	n := 0
	for i := 0; i < 3; i++ {
		d := 0
		if i < len(frac) {
			if frac[i] < '0' || frac[i] > '9' {
				return 0, false
			}
			d = int(frac[i] - '0')
		}
		n = n*10 + d
	}
	if whole == "1" {
		if n != 0 {
			return 0, false
		}
		return 1000, true
	}
	return n, true
}

// FormatQ writes thousandths as a q value ("0.5", "1").
func FormatQ(q int) string {
	return strconv.FormatFloat(float64(q)/1000, 'f', -1, 64)
}

// headerValues returns the comma-separated values of every header field called name, in order.
func headerValues(req *sip.Request, name string) []string {
	var out []string
	for _, h := range req.GetHeaders(name) {
		out = append(out, splitList(h.Value())...)
	}
	return out
}

// splitList splits a header field value at commas outside <> and quotes.
func splitList(v string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '<':
			depth++
		case c == '>':
			depth--
		case c == ',' && depth == 0:
			if s := strings.TrimSpace(v[start:i]); s != "" {
				out = append(out, s)
			}
			start = i + 1
		}
	}
	if s := strings.TrimSpace(v[start:]); s != "" {
		out = append(out, s)
	}
	return out
}

func hasOptionTag(req *sip.Request, header, tag string) bool {
	for _, h := range req.GetHeaders(header) {
		for _, t := range strings.Split(h.Value(), ",") {
			if strings.EqualFold(strings.TrimSpace(t), tag) {
				return true
			}
		}
	}
	return false
}

// Received is where requests for a REGISTER's contacts must be sent when the UA cannot be
// reached at them as written, as a next-hop URI; "" when it can. source is "TRANSPORT:host:port".
//
// Over TCP, TLS and WebSocket it is always the registration's own connection
// ("sip:203.0.113.5:40312;transport=tcp"): browsers (whose Contact host is *.invalid) and phones
// behind firewalls or NATs accept no connection, and the one they opened is how to reach them
// (RFC 5626's flows; Kamailio's add_contact_alias). A third party registering someone else's
// contact over a stream is thereby reached instead; register such contacts over UDP.
//
// Over UDP it is the REGISTER's source when the UA is behind a NAT: the sent-by of its top Via
// (the address it believes it has, RFC 3261 §18.2.1) is not the address its request came from;
// its Contact names that private address too, and the NAT only lets in what comes to the
// mapping the REGISTER opened (RFC 3581 does the same for responses; Kamailio's
// fix_nated_register). A third-party registration (§10.2) from a UA that is where its Via says
// keeps its contact as written.
func Received(req *sip.Request, source string) string {
	transport, addr, ok := strings.Cut(source, ":")
	if !ok {
		return ""
	}
	src, err := netip.ParseAddrPort(addr)
	if err != nil {
		return ""
	}
	src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
	switch strings.ToUpper(transport) {
	case "TCP", "TLS", "WS", "WSS":
		return "sip:" + src.String() + ";transport=" + strings.ToLower(transport)
	case "UDP":
	default:
		return ""
	}
	via := req.Via()
	if via == nil {
		return ""
	}
	sentPort := via.Port
	if sentPort == 0 {
		sentPort = base.DefaultPort(via.Transport)
	}
	// A sent-by that is a name, not an address, cannot be the source: treated as behind a NAT.
	if sent, err := netip.ParseAddr(strings.Trim(via.Host, "[]")); err == nil && sent.Unmap() == src.Addr() && sentPort == int(src.Port()) {
		return ""
	}
	return "sip:" + src.String()
}
