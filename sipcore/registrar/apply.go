package registrar

import (
	"slices"
	"strconv"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/partysip/partysip/sipcore/base"
)

// Apply carries out §10.3 steps 6–7 for reg on rec at now and returns the new record and
// whether it changed (so must be stored before the 200 OK is sent). rec is not modified.
//
// Every change is all-or-nothing: a refresh from the same Call-ID whose CSeq is not higher than
// the stored one (a REGISTER overtaken by a later one) fails the whole request with 500 and
// leaves the bindings as they were (§10.3 step 7, "the update MUST be aborted and the request
// fails").
func Apply(now time.Time, rec Record, reg *Register) (Record, bool, *base.Answer) {
	out := Record{AOR: reg.AOR, Bindings: slices.Clone(rec.Bindings)}
	changed := out.Purge(now)
	if reg.Wildcard {
		for _, b := range out.Bindings {
			if stale(&b, reg) {
				return rec, false, outOfOrder()
			}
		}
		changed = changed || len(out.Bindings) > 0
		out.Bindings = nil
		return out, changed, nil
	}
	before := len(out.Bindings) // after the purge: only live bindings count
	for _, c := range reg.Contacts {
		i := slices.IndexFunc(out.Bindings, func(b Binding) bool {
			k, err := contactKeyOf(b.Contact)
			return err == nil && k == c.key
		})
		if i >= 0 && stale(&out.Bindings[i], reg) {
			return rec, false, outOfOrder()
		}
		switch {
		case c.Expires == 0 && i >= 0:
			out.Bindings = slices.Delete(out.Bindings, i, i+1)
		case c.Expires == 0:
			// Removing what is not there changes nothing.
			continue
		case i >= 0:
			out.Bindings[i] = bindingOf(now, c, reg)
		default:
			out.Bindings = append(out.Bindings, bindingOf(now, c, reg))
		}
		changed = true
	}
	// A REGISTER that would leave more contacts than allowed, and more than there were, is
	// refused whole: a refresh or a removal always passes, so lowering the limit locks no
	// one out. RFC 3261 leaves the code to the registrar; 403 does not invite a retry.
	if reg.MaxContacts > 0 && len(out.Bindings) > reg.MaxContacts && len(out.Bindings) > before {
		return rec, false, &base.Answer{Code: 403, Reason: "Too Many Registered Contacts"}
	}
	return out, changed, nil
}

// stale reports whether reg is older than (or a replay of) what wrote b: same Call-ID, CSeq not
// higher (§10.3 step 7).
func stale(b *Binding, reg *Register) bool {
	return b.CallID == reg.CallID && reg.CSeq <= b.CSeq
}

func outOfOrder() *base.Answer {
	return &base.Answer{Code: 500, Reason: "Out of order REGISTER"}
}

func bindingOf(now time.Time, c ContactChange, reg *Register) Binding {
	return Binding{
		Contact:  c.URI,
		Q:        c.Q,
		Expires:  now.Add(c.Expires),
		CallID:   reg.CallID,
		CSeq:     reg.CSeq,
		Path:     reg.Path,
		Source:   reg.Source,
		Received: reg.Received,
		Updated:  now,
	}
}

// dateFormat is SIP's rfc1123-date (§25.1), always GMT.
const dateFormat = "Mon, 02 Jan 2006 15:04:05 GMT"

// OK returns the header fields of the 200 OK to a REGISTER (§10.3 step 8): a Contact for every
// current binding with its remaining expiry, a Date, and the Path values when the UA supports
// Path (RFC 3327 §5.3).
func OK(now time.Time, rec *Record, reg *Register) []sip.Header {
	live := rec.Live(now)
	hdrs := make([]sip.Header, 0, len(live)+2)
	for _, b := range live {
		v := "<" + b.Contact + ">;expires=" + strconv.Itoa(b.Remaining(now))
		if b.Q != QUnset {
			v += ";q=" + FormatQ(b.Q)
		}
		hdrs = append(hdrs, sip.NewHeader("Contact", v))
	}
	if reg.PathSupported {
		for _, p := range reg.Path {
			hdrs = append(hdrs, sip.NewHeader("Path", p))
		}
	}
	hdrs = append(hdrs, sip.NewHeader("Date", now.UTC().Format(dateFormat)))
	return hdrs
}
