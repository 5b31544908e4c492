package txn

import (
	"github.com/emiago/sipgo/sip"

	"github.com/partysip/partysip/actors/transport"
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

// timerFired is a transaction timer's expiry; Gen lets the actor ignore a timer that was
// re-armed or whose state has passed (protoactor's scheduler is time.AfterFunc: a stopped timer
// can still deliver).
type timerFired struct {
	Timer transaction.Timer
	Gen   uint32
}

// sendFailed reports that a request written off the actor (a TCP dial) could not be sent.
type sendFailed struct{ Err error }

// stallEnded ends a server transaction's stall drill.
type stallEnded struct{}
