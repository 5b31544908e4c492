// Package dialog is a record-routing proxy's view of a SIP dialog (RFC 3261 §12) as a pure
// state machine: created by a 2xx to an INVITE the proxy Record-Routed, confirmed by the ACK,
// kept alive by in-dialog requests, ended by BYE or by a lifetime without any request. The
// proxy forwards in-dialog requests by their Route set whatever this machine says; the machine
// is what lets it count, list and (on drain) wait for calls in progress.
package dialog

import (
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// ID identifies a dialog from either side: the Call-ID and both tags, the lesser tag first, so
// a request from the callee finds the dialog its caller created.
type ID struct {
	CallID string
	TagA   string
	TagB   string
}

func (id ID) String() string { return id.CallID + ";" + id.TagA + ";" + id.TagB }

// NewID orders the two tags.
func NewID(callID, fromTag, toTag string) ID {
	if toTag < fromTag {
		fromTag, toTag = toTag, fromTag
	}
	return ID{CallID: callID, TagA: fromTag, TagB: toTag}
}

// IDOf returns the dialog a message belongs to, and false when it has no To tag (or lacks
// Call-ID/From tag).
func IDOf(m interface {
	CallID() *sip.CallIDHeader
	From() *sip.FromHeader
	To() *sip.ToHeader
}) (ID, bool) {
	cid, from, to := m.CallID(), m.From(), m.To()
	if cid == nil || from == nil || to == nil {
		return ID{}, false
	}
	ft, _ := from.Params.Get("tag")
	tt, _ := to.Params.Get("tag")
	if ft == "" || tt == "" {
		return ID{}, false
	}
	return NewID(cid.Value(), ft, tt), true
}

// State of a dialog as the proxy sees it.
type State uint8

const (
	// Early is never entered by this machine (proxies create dialogs on 2xx); kept for names.
	Early State = iota
	// Accepted: the 2xx went through; the ACK has not (yet).
	Accepted
	// Confirmed: the ACK went through; the call is up.
	Confirmed
	// Terminated: BYE, no ACK in time, or the lifetime ran out.
	Terminated
)

func (s State) String() string {
	return [...]string{"Early", "Accepted", "Confirmed", "Terminated"}[s]
}

// EventKind is what the proxy saw.
type EventKind uint8

const (
	// Created: a 2xx to a Record-Routed INVITE was forwarded.
	Created EventKind = iota
	// RequestSeen: an in-dialog request other than ACK and BYE went through (re-INVITE,
	// UPDATE, INFO, PRACK, REFER, NOTIFY, ...): a sign of life.
	RequestSeen
	// AckSeen: the ACK for the 2xx went through.
	AckSeen
	// ByeSeen: a BYE went through (§15: the dialog ends when BYE is sent).
	ByeSeen
	// TimerFired: the timer the machine asked for ran out.
	TimerFired
)

func (k EventKind) String() string {
	return [...]string{"Created", "RequestSeen", "AckSeen", "ByeSeen", "TimerFired"}[k]
}

// Timers bound the states: AckWait (64·T1, as the UAS waits for the ACK, §13.3.1.4) and
// Lifetime (a dialog with no request for this long is considered gone; its BYE was lost or
// never went through us).
type Timers struct {
	AckWait  time.Duration
	Lifetime time.Duration
}

// Action is what the owner must do after a step.
type Action struct {
	// Arm (re)arms the dialog's one timer for After; Terminate ends the dialog.
	Arm       bool
	After     time.Duration
	Terminate bool
}

// Machine is one dialog.
type Machine struct {
	state   State
	timers  Timers
	created time.Time
	last    time.Time
	// Requests counts in-dialog requests seen, by method (ACK and BYE included).
	Requests map[string]int
}

// New is a dialog in Early, to be stepped with Created.
func New(t Timers) *Machine { return &Machine{timers: t, Requests: map[string]int{}} }

// State is the current state.
func (m *Machine) State() State { return m.state }

// Created is when the dialog was created; LastActivity when a request last went through.
func (m *Machine) Created() time.Time      { return m.created }
func (m *Machine) LastActivity() time.Time { return m.last }

// Step applies one event at now.
func (m *Machine) Step(now time.Time, ev EventKind, method string) Action {
	if m.state == Terminated || (m.state == Early && ev != Created) {
		return Action{} // a dialog begins with its 2xx; nothing else can come first
	}
	if method != "" {
		m.Requests[strings.ToUpper(method)]++
	}
	switch ev {
	case Created:
		if m.state == Early {
			m.state, m.created, m.last = Accepted, now, now
			return Action{Arm: true, After: m.timers.AckWait}
		}
	case AckSeen:
		m.last = now
		if m.state == Accepted {
			m.state = Confirmed
		}
		return Action{Arm: true, After: m.timers.Lifetime}
	case RequestSeen:
		m.last = now
		if m.state == Accepted {
			// A request from the callee can overtake the ACK; the dialog is alive either way.
			return Action{}
		}
		return Action{Arm: true, After: m.timers.Lifetime}
	case ByeSeen:
		m.last = now
		m.state = Terminated
		return Action{Terminate: true}
	case TimerFired:
		m.state = Terminated
		return Action{Terminate: true}
	}
	return Action{}
}
