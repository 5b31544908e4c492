package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/emiago/sipgo/sip"

	"github.com/partysip/partysip/actors/transport"
	"github.com/partysip/partysip/sipcore/proxy"
	"github.com/partysip/partysip/sipcore/transaction"
)

// Messages between actors are immutable facts: once sent, neither side edits them or the SIP
// message they carry.

// MessageReceived is a parsed SIP message from a transport, routed to the shard owning Key.
type MessageReceived struct {
	Msg  sip.Message
	Key  transaction.Key
	From transport.Peer
}

// clientTxRequested asks a shard to start a client transaction for a forwarded request.
type clientTxRequested struct {
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

// branchResponded carries a response of branch Index to the proxy context.
type branchResponded struct {
	Index int
	Res   *sip.Response
}

// branchFailed says branch Index ended without a final response: Code is the status the proxy
// acts as if it received (408 on timeout, 503 on transport error, §16.7/§16.8; 500 on a fault).
type branchFailed struct {
	Index int
	Code  int
}

// branchCancelRequested asks a client INVITE transaction to CANCEL its request (§16.10); Reason,
// when set, is the CANCEL's Reason header value (RFC 3326).
type branchCancelRequested struct{ Reason string }

// responseSent is the proxy context handing a response to its server transaction.
type responseSent struct {
	Res *sip.Response
}

// cancelArrived tells an INVITE server transaction (and its proxy context) that a CANCEL
// matching it was received.
type cancelArrived struct{}

// timerFired is a transaction timer's expiry; Gen lets the actor ignore a timer that was
// re-armed or whose state has passed (protoactor's scheduler is time.AfterFunc: a stopped timer
// can still deliver).
type timerFired struct {
	Timer transaction.Timer
	Gen   uint32
}

// sendFailed reports that a request written off the actor (a TCP dial) could not be sent.
type sendFailed struct{ Err error }
