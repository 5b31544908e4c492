package proxy

import (
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/partysip/partysip/sipcore/base"
)

// Rejection is a final response the proxy answers with instead of forwarding.
func reject(code int, reason string, hdrs ...sip.Header) *base.Answer {
	return &base.Answer{Code: code, Reason: reason, Headers: hdrs}
}

// Validate applies the request validation of RFC 3261 §16.3 and returns nil when the request
// may be processed further. loopHash is the LoopHash of the request; pass "" to skip loop
// detection. It is Sanity followed by CheckMaxForwards.
func Validate(req *sip.Request, local *base.Local, loopHash string) *base.Answer {
	if rej := Sanity(req, local, loopHash); rej != nil {
		return rej
	}
	return CheckMaxForwards(req)
}

// CheckMaxForwards is §16.3 step 3: a request that may not be forwarded again gets 483.
func CheckMaxForwards(req *sip.Request) *base.Answer {
	if mf := req.MaxForwards(); mf != nil && mf.Val() == 0 {
		return reject(483, "Too Many Hops")
	}
	return nil
}

// singleValued are the header fields a request carries at most once.
var singleValued = []string{"Content-Length", "To", "From", "Call-ID", "CSeq", "Max-Forwards", "Content-Type"}

// Sanity is §16.3 steps 1, 2, 4 and 5: syntax and mandatory header fields (400), URI scheme
// (416), loop detection (482) and Proxy-Require (420). Step 3 is CheckMaxForwards.
func Sanity(req *sip.Request, local *base.Local, loopHash string) *base.Answer {
	// §16.3 step 1: reasonable syntax. sipgo parsed the message; the mandatory header fields of
	// §8.1.1 must be there.
	switch {
	case req.Via() == nil:
		return reject(400, "Missing Via")
	case req.From() == nil:
		return reject(400, "Missing From")
	case req.To() == nil:
		return reject(400, "Missing To")
	case req.CallID() == nil:
		return reject(400, "Missing Call-ID")
	case req.CSeq() == nil:
		return reject(400, "Missing CSeq")
	}
	// RFC 3261 §8.2.2 / RFC 4475 badvers: only SIP/2.0 is spoken here.
	if !strings.EqualFold(req.SipVersion, "SIP/2.0") { // case-insensitive (§7.1)
		return reject(505, "Version Not Supported")
	}
	// Header fields that may appear once (§7.3.1; RFC 4475 mcl01, multi01): two differing
	// Content-Lengths leave the body's end unknown, two To or Call-ID values the dialog.
	for _, name := range singleValued {
		if len(req.GetHeaders(name)) > 1 {
			return reject(400, "Multiple "+name)
		}
	}
	// The parser writes the request-line method in upper case and leaves CSeq's as sent: an
	// extension method in any case (RFC 4475 intmeth) is the same method on both.
	if m := req.CSeq().MethodName; !strings.EqualFold(string(m), string(req.Method)) {
		return reject(400, "CSeq Method Mismatch")
	}
	// §16.3 step 2: URI scheme.
	switch strings.ToLower(req.Recipient.Scheme) {
	case "sip", "sips":
	default:
		return reject(416, "Unsupported URI Scheme")
	}
	// §16.3 step 4: loop detection. A Via of ours whose branch carries the same loop hash
	// means the request came back unchanged: a loop, not a spiral.
	if loopHash != "" && req.Method != sip.ACK && req.Method != sip.CANCEL {
		for _, h := range req.GetHeaders("Via") {
			via, ok := h.(*sip.ViaHeader)
			if !ok || !local.IsOurVia(via) {
				continue
			}
			if b, _ := via.Params.Get("branch"); BranchLoopHash(b) == loopHash {
				return reject(482, "Loop Detected")
			}
		}
	}
	// §16.3 step 5: Proxy-Require. We support no extensions that need proxy support.
	if hs := req.GetHeaders("Proxy-Require"); len(hs) > 0 {
		var opts []string
		for _, h := range hs {
			for _, o := range strings.Split(h.Value(), ",") {
				if o = strings.TrimSpace(o); o != "" {
					opts = append(opts, o)
				}
			}
		}
		if len(opts) > 0 {
			return reject(420, "Bad Extension", sip.NewHeader("Unsupported", strings.Join(opts, ", ")))
		}
	}
	return nil
}
