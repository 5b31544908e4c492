package proxy

import (
	"github.com/emiago/sipgo/sip"
)

// NewCancel builds the CANCEL for a request we forwarded (RFC 3261 §9.1, used by §16.10): same
// Request-URI, Call-ID, To, From and CSeq number, method CANCEL, a single Via equal to the top Via
// of the request being cancelled (so it matches that client transaction downstream), and the
// same Route header fields.
func NewCancel(forwarded *sip.Request) *sip.Request {
	c := sip.NewRequest(sip.CANCEL, *forwarded.Recipient.Clone())
	if via := forwarded.Via(); via != nil {
		c.AppendHeader(via.Clone())
	}
	for _, h := range forwarded.GetHeaders("Route") {
		c.AppendHeader(sip.HeaderClone(h))
	}
	if h := forwarded.From(); h != nil {
		c.AppendHeader(sip.HeaderClone(h))
	}
	if h := forwarded.To(); h != nil {
		c.AppendHeader(sip.HeaderClone(h))
	}
	if h := forwarded.CallID(); h != nil {
		c.AppendHeader(sip.HeaderClone(h))
	}
	if h := forwarded.CSeq(); h != nil {
		c.AppendHeader(&sip.CSeqHeader{SeqNo: h.SeqNo, MethodName: sip.CANCEL})
	}
	mf := sip.MaxForwardsHeader(DefaultMaxForwards)
	c.AppendHeader(&mf)
	c.SetBody(nil)
	c.SetTransport(forwarded.Transport())
	c.SetDestination(forwarded.Destination())
	return c
}

// NewAckForNon2xx builds the ACK a client transaction sends for a non-2xx final response
// (RFC 3261 §17.1.1.3): Request-URI, Call-ID, From, CSeq number and top Via of the INVITE, the To
// of the response (with its tag), the INVITE's Route header fields.
func NewAckForNon2xx(invite *sip.Request, res *sip.Response) *sip.Request {
	ack := sip.NewRequest(sip.ACK, *invite.Recipient.Clone())
	if via := invite.Via(); via != nil {
		ack.AppendHeader(via.Clone())
	}
	for _, h := range invite.GetHeaders("Route") {
		ack.AppendHeader(sip.HeaderClone(h))
	}
	if h := invite.From(); h != nil {
		ack.AppendHeader(sip.HeaderClone(h))
	}
	if h := res.To(); h != nil {
		ack.AppendHeader(sip.HeaderClone(h))
	}
	if h := invite.CallID(); h != nil {
		ack.AppendHeader(sip.HeaderClone(h))
	}
	if h := invite.CSeq(); h != nil {
		ack.AppendHeader(&sip.CSeqHeader{SeqNo: h.SeqNo, MethodName: sip.ACK})
	}
	mf := sip.MaxForwardsHeader(DefaultMaxForwards)
	ack.AppendHeader(&mf)
	ack.SetBody(nil)
	ack.SetTransport(invite.Transport())
	ack.SetDestination(invite.Destination())
	return ack
}
