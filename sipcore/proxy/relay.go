package proxy

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/netip"

	"github.com/emiago/sipgo/sip"
	"github.com/partysip/partysip/sipcore/base"
)

// SigParam is the Record-Route URI parameter that carries our signature of the dialog.
const SigParam = "sig"

// DialogSigner signs the Record-Route entries we insert and recognises them on the requests of
// the dialog, so that "in-dialog" is proven rather than claimed: a To tag alone is something
// anyone can write, a Route that we signed for this Call-ID is not (RFC 3261 §16.6 step 4 lets a
// proxy put whatever it needs into its Record-Route URI).
type DialogSigner struct {
	Secret []byte
}

// Token is the signature of a dialog whose initial request had this Call-ID and From tag.
func (s DialogSigner) Token(callID, fromTag string) string {
	m := hmac.New(sha256.New, s.Secret)
	m.Write([]byte(callID))
	m.Write([]byte{0})
	m.Write([]byte(fromTag))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// RecordRouteToken is the token Forward puts into our Record-Route for req (its Call-ID and
// From tag), or "" when req creates no dialog (it has a To tag, or a method that cannot).
func (s DialogSigner) RecordRouteToken(req *sip.Request) string {
	cid, from := req.CallID(), req.From()
	if len(s.Secret) == 0 || cid == nil || from == nil || !createsDialog(req.Method) || base.HasToTag(req) {
		return ""
	}
	tag, _ := from.Params.Get("tag")
	return s.Token(cid.Value(), tag)
}

// Proven reports whether req is a request within a dialog that we Record-Routed: it has a To
// tag, and the Route entry that brought it to us (the top Route, or the Request-URI when a
// strict router sent it, §16.4) names us and carries our signature for its Call-ID and the
// From tag of either party (requests from the callee swap From and To). REGISTER never is.
// Call it before PreprocessRoute removes our entry.
func (s DialogSigner) Proven(req *sip.Request, local *base.Local) bool {
	if len(s.Secret) == 0 || req.Method == sip.REGISTER {
		return false
	}
	to, from, cid := req.To(), req.From(), req.CallID()
	if to == nil || from == nil || cid == nil || !to.Params.Has("tag") {
		return false
	}
	ours := &req.Recipient // a strict router put our Record-Route URI here
	if top := TopRoute(req); top != nil && !fromStrictRouter(req, local) {
		ours = &top.Address
	}
	if !local.IsUs(ours) {
		return false
	}
	sig, ok := ours.UriParams.Get(SigParam)
	if !ok {
		return false
	}
	toTag, _ := to.Params.Get("tag")
	fromTag, _ := from.Params.Get("tag")
	for _, tag := range []string{fromTag, toTag} {
		if hmac.Equal([]byte(sig), []byte(s.Token(cid.Value(), tag))) {
			return true
		}
	}
	return false
}

// RelayPolicy decides who may send a request to a foreign destination: one that is neither a
// configured route nor a registered contact of ours (a Route set or a Request-URI the request
// named itself). Closed unless Open: only an authenticated user of ours, a request within a
// dialog we Record-Routed, or a trusted source may (Kamailio's stock "not relaying" 403).
type RelayPolicy struct {
	Open    bool
	Trusted []netip.Prefix
}

// Allows reports whether a request from source may go to a foreign destination.
func (p *RelayPolicy) Allows(source netip.Addr, authenticated, inDialog bool) bool {
	if p.Open || authenticated || inDialog {
		return true
	}
	return p.TrustedSource(source)
}

// TrustedSource reports whether source is in a trusted prefix.
func (p *RelayPolicy) TrustedSource(source netip.Addr) bool {
	source = source.Unmap()
	for _, pre := range p.Trusted {
		if pre.Contains(source) {
			return true
		}
	}
	return false
}
