// Package store keeps registrar bindings durable. Every operation is asynchronous and runs on
// the store's own goroutine in the order it was asked for, so an actor never blocks on disk:
// it asks, and the answer comes back through a callback that sends the actor a message. A read
// queued after a write sees that write.
package store

import (
	"errors"
	"time"

	"github.com/partysip/partysip/sipcore/registrar"
)

// Store is where bindings live. The embedded Bolt store is the default; the interface is what a
// shared server database would implement for several nodes.
type Store interface {
	// Scan reads every stored record in one pass (one read transaction, not one queued
	// operation per address-of-record), after every write queued before it, and passes them,
	// sorted by AOR, to reply on the store's goroutine. Start-up and a restarted registrar or
	// location service rebuild their state from it, however many records there are.
	Scan(reply func([]registrar.Record, error))
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

// ScanWait runs a Scan and waits for its answer: for start-up, before any actor serves, and for
// tests. A full queue (ErrBusy) is waited out, since start-up cannot go on without the records.
func ScanWait(s Store) ([]registrar.Record, error) {
	type scanned struct {
		recs []registrar.Record
		err  error
	}
	for delay := time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		ch := make(chan scanned, 1)
		s.Scan(func(recs []registrar.Record, err error) { ch <- scanned{recs, err} })
		r := <-ch
		if !errors.Is(r.err, ErrBusy) {
			return r.recs, r.err
		}
		time.Sleep(delay)
	}
}

// SaveAll writes every record and waits until all are stored, keeping at most a window of saves
// queued so that others' operations still find room; a full queue is waited out. For bulk
// imports and tests, never for an actor.
func SaveAll(s Store, recs []registrar.Record) error {
	const window = 1024
	type saved struct {
		i   int
		err error
	}
	results := make(chan saved, window)
	save := func(i int) { s.Save(recs[i], func(err error) { results <- saved{i, err} }) }
	next, inFlight := 0, 0
	for next < len(recs) || inFlight > 0 {
		for ; next < len(recs) && inFlight < window; next++ {
			inFlight++
			save(next)
		}
		r := <-results
		switch {
		case errors.Is(r.err, ErrBusy):
			time.Sleep(time.Millisecond)
			save(r.i) // still in flight
		case r.err != nil:
			for inFlight--; inFlight > 0; inFlight-- {
				<-results // let the others finish before the caller closes the store
			}
			return r.err
		default:
			inFlight--
		}
	}
	return nil
}
