// Package store keeps registrar bindings durable. Every operation is asynchronous and runs on
// the store's own goroutine in the order it was asked for, so an actor never blocks on disk:
// it asks, and the answer comes back through a callback that sends the actor a message. A read
// queued after a write sees that write.
package store

import (
	"github.com/partysip/partysip/sipcore/registrar"
)

// Store is where bindings live. The embedded Bolt store is the default; the interface is what a
// shared server database would implement for several nodes.
type Store interface {
	// AORs lists every stored address-of-record. Called at start-up, before serving.
	AORs() ([]string, error)
	// Load reads the record of aor (empty when there is none) after every write queued before
	// it, and passes it to reply on the store's goroutine.
	Load(aor string, reply func(registrar.Record, error))
	// Save writes rec (removing it when it has no bindings), durably, then calls reply on the
	// store's goroutine. A 200 OK to a REGISTER is sent only from reply.
	Save(rec registrar.Record, reply func(error))
	// Users returns the users added at run time (partysip ctl): name → HA1 by algorithm.
	// Called at start-up.
	Users() (map[string]map[string]string, error)
	// SaveUser stores a user's HA1 values (nil removes the user), durably, then calls reply
	// on the store's goroutine.
	SaveUser(name string, ha1 map[string]string, reply func(error))
	// Close finishes the queued operations and closes the store.
	Close() error
}
