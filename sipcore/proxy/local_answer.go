package proxy

import (
	"github.com/emiago/sipgo/sip"
	"github.com/partysip/partysip/sipcore/base"
)

// Allow lists the methods a request addressed to us may use; an OPTIONS to the proxy itself
// reports it.
const Allow = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, PRACK, INFO, REFER, NOTIFY, SUBSCRIBE, MESSAGE"

// AnswerOwn returns the response for a request addressed to the proxy itself rather than to a
// user behind it: an OPTIONS whose Request-URI names us without a user part and carries no
// Route (what monitoring and keep-alive pings send) is answered 200 with Allow (RFC 3261 §11.2).
// Any other request gets nil and is routed as usual. Call it after PreprocessRoute.
func AnswerOwn(req *sip.Request, local *base.Local) *base.Answer {
	if req.Method != sip.OPTIONS || req.Recipient.User != "" || TopRoute(req) != nil || !local.IsUs(&req.Recipient) {
		return nil
	}
	return &base.Answer{Code: 200, Reason: "OK", Headers: []sip.Header{
		sip.NewHeader("Allow", Allow),
		sip.NewHeader("Accept", "application/sdp"),
	}}
}
