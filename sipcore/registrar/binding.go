package registrar

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/partysip/partysip/sipcore/base"
)

// QUnset marks a contact registered without a q parameter. It sorts as q=1.0 (RFC 3261 §16.6
// leaves the order of unweighted targets to the proxy) but is never written back as a q.
const QUnset = -1

// Binding is one contact address registered for an address-of-record (§10.3).
type Binding struct {
	// Contact is the contact URI as the UA registered it (without header parameters).
	Contact string `json:"contact"`
	// Q is the preference in thousandths (q=0.5 is 500), or QUnset.
	Q int `json:"q"`
	// Expires is when the binding ends unless refreshed.
	Expires time.Time `json:"expires"`
	// CallID and CSeq order refreshes from one UA (§10.3 step 7).
	CallID string `json:"call_id"`
	CSeq   uint32 `json:"cseq"`
	// Path are the Path header values of the REGISTER (RFC 3327), first value first: the route
	// a request to this contact takes back to the UA.
	Path []string `json:"path,omitempty"`
	// Source is where the REGISTER came from (transport:address), for operators.
	Source string `json:"source,omitempty"`
	// Received, when set, is the next hop of requests for this contact: the UA's own connection
	// (TCP, TLS, WebSocket), or the address its REGISTER came from when it is behind a NAT (UDP).
	// See Received.
	Received string `json:"received,omitempty"`
	// Updated is when the binding was last written.
	Updated time.Time `json:"updated"`
}

// Weight is the binding's q for ordering, in thousandths.
func (b *Binding) Weight() int {
	if b.Q == QUnset {
		return 1000
	}
	return b.Q
}

// Remaining is the binding's remaining lifetime in whole seconds at now (at least 0).
func (b *Binding) Remaining(now time.Time) int {
	d := b.Expires.Sub(now)
	if d <= 0 {
		return 0
	}
	return int((d + time.Second - 1) / time.Second)
}

// Live reports whether the binding has not expired at now.
func (b *Binding) Live(now time.Time) bool { return now.Before(b.Expires) }

// Record is the set of bindings of one address-of-record.
type Record struct {
	AOR      string    `json:"aor"`
	Bindings []Binding `json:"bindings"`
}

// Live returns the bindings of r that have not expired at now, ordered by q (highest first),
// then by most recent registration: the order the location service offers them in.
func (r *Record) Live(now time.Time) []Binding {
	out := make([]Binding, 0, len(r.Bindings))
	for _, b := range r.Bindings {
		if b.Live(now) {
			out = append(out, b)
		}
	}
	slices.SortStableFunc(out, func(a, b Binding) int {
		if a.Weight() != b.Weight() {
			return b.Weight() - a.Weight()
		}
		return b.Updated.Compare(a.Updated)
	})
	return out
}

// NextExpiry returns the earliest expiry among r's bindings, and false when it has none.
func (r *Record) NextExpiry() (time.Time, bool) {
	var first time.Time
	for i, b := range r.Bindings {
		if i == 0 || b.Expires.Before(first) {
			first = b.Expires
		}
	}
	return first, len(r.Bindings) > 0
}

// Purge drops the bindings expired at now and reports whether any were.
func (r *Record) Purge(now time.Time) bool {
	n := len(r.Bindings)
	r.Bindings = slices.DeleteFunc(r.Bindings, func(b Binding) bool { return !b.Live(now) })
	return len(r.Bindings) != n
}

// Remove drops the binding whose contact matches contact (compared as §19.1.4 URIs) and reports
// whether there was one.
func (r *Record) Remove(contact string) bool {
	key, err := contactKeyOf(contact)
	if err != nil {
		return false
	}
	n := len(r.Bindings)
	r.Bindings = slices.DeleteFunc(r.Bindings, func(b Binding) bool {
		k, err := contactKeyOf(b.Contact)
		return err == nil && k == key
	})
	return len(r.Bindings) != n
}

// AOR canonicalizes an address-of-record from a To (or Request-) URI, §10.3 step 5: scheme,
// user and host only, the scheme and host lower-cased, the user kept as given. A port is kept
// only when not the default, since "sip:bob@example.com:5060" and "sip:bob@example.com" name the
// same record in every deployment we know of.
func AOR(uri *sip.Uri) string {
	scheme := strings.ToLower(uri.Scheme)
	if scheme == "" {
		scheme = "sip"
	}
	var b strings.Builder
	b.WriteString(scheme)
	b.WriteByte(':')
	if uri.User != "" {
		b.WriteString(uri.User)
		b.WriteByte('@')
	}
	b.WriteString(strings.ToLower(uri.Host))
	if uri.Port != 0 && !(uri.Port == 5060 && scheme == "sip") && !(uri.Port == 5061 && scheme == "sips") {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(uri.Port))
	}
	return b.String()
}

// LocalAOR is AOR for a URI in a domain local serves: the port is dropped as well, since one of
// our domains names one set of users whichever of our ports a UA writes (SIPp writes the
// proxy's address and port in To and in the Request-URI of its calls).
func LocalAOR(uri *sip.Uri, local *base.Local) string {
	if uri.Port != 0 && local.IsDomain(uri.Host) {
		u := *uri
		u.Port = 0
		return AOR(&u)
	}
	return AOR(uri)
}

// contactKey is a contact URI in a form where two URIs equal under §19.1.4 (case-insensitive
// scheme, host and parameter names; parameters in any order) are equal strings.
func contactKey(u *sip.Uri) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(u.Scheme))
	b.WriteByte(':')
	if u.User != "" {
		b.WriteString(u.User)
		if u.Password != "" {
			b.WriteByte(':')
			b.WriteString(u.Password)
		}
		b.WriteByte('@')
	}
	b.WriteString(strings.ToLower(u.Host))
	if u.Port != 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(u.Port))
	}
	params := make([]string, 0, len(u.UriParams))
	for _, kv := range u.UriParams {
		params = append(params, strings.ToLower(kv.K)+"="+kv.V)
	}
	slices.Sort(params)
	for _, p := range params {
		b.WriteByte(';')
		b.WriteString(p)
	}
	return b.String()
}

func contactKeyOf(s string) (string, error) {
	var u sip.Uri
	if err := sip.ParseUri(s, &u); err != nil {
		return "", err
	}
	return contactKey(&u), nil
}
