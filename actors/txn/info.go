package txn

import "time"

// Info is one live transaction as operators see it.
type Info struct {
	Kind   string    `json:"kind"`
	State  string    `json:"state"`
	Method string    `json:"method"`
	CallID string    `json:"call_id"`
	Branch string    `json:"branch"`
	Since  time.Time `json:"since,omitempty"`
	// Parked: the transaction's actor has handed its final wait to its shard (see parked.go).
	Parked bool `json:"parked,omitempty"`
}

// StateRequested asks a transaction actor (through a future) for its Info.
type StateRequested struct{}
