// Package transaction holds the RFC 3261 §17 transaction state machines as pure values.
//
// A Machine is driven by Step(now, event) and answers with the actions its owner must carry out
// (send, pass to the transaction user, start a timer, terminate). It has no goroutines and no
// clock of its own: the owner (an actor, or a test with a fake clock) delivers TimerFired events.
//
// The INVITE machines include the "Accepted" state of RFC 6026, which replaces the jump to
// Terminated on a 2xx: retransmitted 2xx responses keep flowing through the client transaction
// to the proxy and an ACK to a 2xx is not mistaken for a new request.
package transaction

import "time"

// Kind names one of the four transaction machines of RFC 3261 §17.
type Kind uint8

// The four machines of RFC 3261 figures 5–8.
const (
	ClientInvite    Kind = iota // ICT, figure 5
	ClientNonInvite             // NICT, figure 6
	ServerInvite                // IST, figure 7
	ServerNonInvite             // NIST, figure 8
)

func (k Kind) String() string {
	switch k {
	case ClientInvite:
		return "ICT"
	case ClientNonInvite:
		return "NICT"
	case ServerInvite:
		return "IST"
	case ServerNonInvite:
		return "NIST"
	}
	return "Kind?"
}

// IsClient reports whether k is a client transaction.
func (k Kind) IsClient() bool { return k == ClientInvite || k == ClientNonInvite }

// State is a transaction state.
type State uint8

// States of all four machines; each machine uses a subset.
const (
	Idle State = iota
	Calling
	Trying
	Proceeding
	Completed
	Confirmed
	Accepted // RFC 6026 §7.1/§8.4
	Terminated
)

func (s State) String() string {
	return [...]string{"Idle", "Calling", "Trying", "Proceeding", "Completed", "Confirmed", "Accepted", "Terminated"}[s]
}

// Timer names the RFC 3261 timers (Table 4) and the RFC 6026 timers L and M.
type Timer uint8

// Timers. TimerNone is the zero value.
const (
	TimerNone Timer = iota
	TimerA
	TimerB
	TimerD
	TimerE
	TimerF
	TimerG
	TimerH
	TimerI
	TimerJ
	TimerK
	TimerL
	TimerM
	numTimers
)

func (t Timer) String() string {
	return [...]string{"-", "A", "B", "D", "E", "F", "G", "H", "I", "J", "K", "L", "M"}[t]
}

// EventKind is what happened to a transaction.
type EventKind uint8

// Events.
const (
	// Start: a client transaction is asked to send its request, or a server transaction
	// received its first request.
	Start EventKind = iota
	// RequestRetransmitted: the server transaction received its request again.
	RequestRetransmitted
	// AckReceived: an ACK matched this INVITE server transaction.
	AckReceived
	// ResponseReceived: a response matched this client transaction (Event.Code).
	ResponseReceived
	// ResponseSent: the transaction user hands a response to the server transaction (Event.Code).
	ResponseSent
	// TimerFired: a timer started by this machine fired (Event.Timer).
	TimerFired
	// TransportFailed: sending failed (RFC 3261 §17.1.4, §17.2.4).
	TransportFailed
)

func (e EventKind) String() string {
	return [...]string{"Start", "RequestRetransmitted", "AckReceived", "ResponseReceived", "ResponseSent", "TimerFired", "TransportFailed"}[e]
}

// Event is an input to Machine.Step.
type Event struct {
	Kind  EventKind
	Code  int   // status code for ResponseReceived / ResponseSent
	Timer Timer // for TimerFired
}

// ActionKind is what the owner of a machine must do.
type ActionKind uint8

// Actions.
const (
	// SendRequest: (re)transmit the client transaction's request.
	SendRequest ActionKind = iota
	// SendAck: (re)transmit the ACK for a non-2xx final response (§17.1.1.3).
	SendAck
	// SendResponse: transmit the response the transaction user just handed over.
	SendResponse
	// ResendResponse: retransmit the last response sent.
	ResendResponse
	// PassRequest: hand the request to the transaction user.
	PassRequest
	// PassAck: hand an ACK to the transaction user (ACK for a 2xx, RFC 6026 Accepted state).
	PassAck
	// PassResponse: hand the received response to the transaction user.
	PassResponse
	// StartTimer: arm Action.Timer to fire after Action.After (at Action.At).
	StartTimer
	// InformTimeout: tell the transaction user the transaction timed out.
	InformTimeout
	// InformTransportError: tell the transaction user sending failed.
	InformTransportError
	// Terminate: the transaction is over; release it.
	Terminate
)

func (a ActionKind) String() string {
	return [...]string{"SendRequest", "SendAck", "SendResponse", "ResendResponse", "PassRequest", "PassAck",
		"PassResponse", "StartTimer", "InformTimeout", "InformTransportError", "Terminate"}[a]
}

// Action is one output of Machine.Step.
type Action struct {
	Kind  ActionKind
	Timer Timer         // StartTimer
	After time.Duration // StartTimer
	At    time.Time     // StartTimer: now + After
}

// Timers holds the RFC 3261 base timer values (Table 4).
type Timers struct {
	T1 time.Duration // RTT estimate, default 500 ms
	T2 time.Duration // maximum retransmit interval for non-INVITE requests and INVITE responses, default 4 s
	T4 time.Duration // maximum duration a message will remain in the network, default 5 s
	D  time.Duration // wait time for response retransmits, at least 32 s over unreliable transports
}

// DefaultTimers are the values RFC 3261 recommends.
var DefaultTimers = Timers{T1: 500 * time.Millisecond, T2: 4 * time.Second, T4: 5 * time.Second, D: 32 * time.Second}
