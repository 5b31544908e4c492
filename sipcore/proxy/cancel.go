package proxy

import (
	"github.com/emiago/sipgo/sip"
)

// NewCancel builds the CANCEL for a request we forwarded (RFC 3261 §9.1, used by §16.10): same
// Request-URI, Call-ID, To, From and CSeq number, method CANCEL, a single Via equal to the top Via
// of the request being cancelled (so it matches that client transaction downstream), and the
// same Route header fields.
func NewCancel(forwarded *sip.Request) *sip.Request {
	return sameTransaction(forwarded, sip.CANCEL, forwarded.To())
}

// ReasonCompletedElsewhere is the Reason header value (RFC 3326) of the CANCEL a forking proxy
// sends the branches that lost to a 2xx: the phones that rang do not show a missed call.
const ReasonCompletedElsewhere = `SIP;cause=200;text="Call completed elsewhere"`

// NewAckForNon2xx builds the ACK a client transaction sends for a non-2xx final response
// (RFC 3261 §17.1.1.3): Request-URI, Call-ID, From, CSeq number and top Via of the INVITE, the To
// of the response (with its tag), the INVITE's Route header fields.
func NewAckForNon2xx(invite *sip.Request, res *sip.Response) *sip.Request {
	return sameTransaction(invite, sip.ACK, res.To())
}

// sameTransaction builds a request that belongs to orig's transaction hop by hop (CANCEL, ACK
// for a non-2xx): orig's Request-URI, top Via, Route set, From, Call-ID and CSeq number, with the
// given method and To, no body.
func sameTransaction(orig *sip.Request, method sip.RequestMethod, to *sip.ToHeader) *sip.Request {
	r := sip.NewRequest(method, *orig.Recipient.Clone())
	if via := orig.Via(); via != nil {
		r.AppendHeader(via.Clone())
	}
	for _, h := range orig.GetHeaders("Route") {
		r.AppendHeader(sip.HeaderClone(h))
	}
	if h := orig.From(); h != nil {
		r.AppendHeader(sip.HeaderClone(h))
	}
	if to != nil {
		r.AppendHeader(sip.HeaderClone(to))
	}
	if h := orig.CallID(); h != nil {
		r.AppendHeader(sip.HeaderClone(h))
	}
	if h := orig.CSeq(); h != nil {
		r.AppendHeader(&sip.CSeqHeader{SeqNo: h.SeqNo, MethodName: method})
	}
	mf := sip.MaxForwardsHeader(DefaultMaxForwards)
	r.AppendHeader(&mf)
	r.SetBody(nil)
	r.SetTransport(orig.Transport())
	r.SetDestination(orig.Destination())
	return r
}

// InviteTx is what a proxy knows of the INVITE transaction a CANCEL names (same branch).
type InviteTx uint8

const (
	// NoInvite: no server transaction for it (never seen, or long over).
	NoInvite InviteTx = iota
	// InviteLive: its response context still runs.
	InviteLive
	// InviteAnswered: its final response went; only the wait for retransmissions is left.
	InviteAnswered
)

// Dispatch says what becomes of a request that matched no server transaction.
type Dispatch uint8

const (
	// NewTransaction: a server transaction (and response context) of its own.
	NewTransaction Dispatch = iota
	// ForwardStateless: forwarded without state (an ACK for a 2xx, its own transaction end to
	// end, §17.1.1.3; a CANCEL with no response context, §16.10).
	ForwardStateless
	// CancelContext: a server transaction of its own that answers 200 and cancels the INVITE's
	// pending branches (§16.10).
	CancelContext
	// Answer200: the CANCEL's response context exists but has nothing left to cancel: 200 at once.
	Answer200
)

// DispatchUnmatched applies RFC 3261 §16.10 and §17.2.3 to a request no server transaction
// matched: for a CANCEL, inv is what is known of the INVITE transaction it names.
func DispatchUnmatched(method sip.RequestMethod, inv InviteTx) Dispatch {
	switch method {
	case sip.ACK:
		return ForwardStateless
	case sip.CANCEL:
		switch inv {
		case InviteLive:
			return CancelContext
		case InviteAnswered:
			return Answer200
		}
		return ForwardStateless
	}
	return NewTransaction
}
