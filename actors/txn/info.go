package txn

import "time"

// Info is one live transaction as operators see it.
type Info struct {
	Kind   string `json:"kind"`
	State  string `json:"state"`
	Method string `json:"method"`
	CallID string `json:"call_id"`
	Branch string `json:"branch"`
	// Since is when the transaction began (its request arrived, or was sent); StateSince when
	// it entered its state (unknown for a parked wait).
	Since      time.Time `json:"since,omitempty"`
	StateSince time.Time `json:"state_since,omitempty"`
	// Timers are the timers running, each with when it fires.
	Timers []TimerInfo `json:"timers,omitempty"`
	// Parked: the transaction's actor has handed its final wait to its shard (see parked.go).
	Parked bool `json:"parked,omitempty"`
}

// TimerInfo is a running timer: its RFC 3261 name (A to M) and when it fires.
type TimerInfo struct {
	Name string    `json:"name"`
	Due  time.Time `json:"due"`
}

// unixTime is t (Unix ns) as a time, zero for 0.
func unixTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// StateRequested asks a transaction actor (through a future) for its Info.
type StateRequested struct{}
