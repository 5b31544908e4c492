package relay

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/emiago/sipgo/sip"

	"github.com/partysip/partysip/actors/transport"
	"github.com/partysip/partysip/sipcore/proxy"
	"github.com/partysip/partysip/sipcore/transaction"
)

// Messages between the relay and the transaction layer: immutable facts, once sent neither side
// edits them or the SIP message they carry.

// ClientTxRequested asks a shard to start a client transaction for a forwarded request.
type ClientTxRequested struct {
	Req   *sip.Request
	Hop   proxy.Hop
	UDP   *transport.Socket // the socket it leaves from, for a UDP hop (chosen with the Via)
	Key   transaction.Key
	Owner *actor.PID // the proxy context; nil for a CANCEL nobody waits for
	Index int        // branch index in the owner's response context
	// NoResponse, when set, gives the branch up (as a 408) if nothing at all answers within it:
	// set when the branch has somewhere else to go (failover.no_response).
	NoResponse time.Duration
}

// BranchResponded carries a response of branch Index to the proxy context.
type BranchResponded struct {
	Index int
	Res   *sip.Response
}

// BranchFailed says branch Index ended without a final response: Code is the status the proxy
// acts as if it received (408 on timeout, 503 on transport error, §16.7/§16.8; 500 on a fault).
type BranchFailed struct {
	Index int
	Code  int
}

// BranchCancelRequested asks a client INVITE transaction to CANCEL its request (§16.10); Reason,
// when set, is the CANCEL's Reason header value (RFC 3326).
type BranchCancelRequested struct{ Reason string }

// ResponseSent is the proxy context handing a response to its server transaction.
type ResponseSent struct {
	Res *sip.Response
}

// CancelArrived tells an INVITE server transaction (and its proxy context) that a CANCEL
// matching it was received.
type CancelArrived struct{}
