// Package children is the one registry of child actors that the shards, the dialog shards and
// the registrar keep: which child serves a key, and which key a terminated child served.
package children

import "github.com/asynkron/protoactor-go/actor"

// shrinkAfter: Go maps never shrink, so once a registry that held more than this many children
// is empty again, its maps are made anew (a flood's 40,000-entry table kept ~7 MB for ever).
const shrinkAfter = 4096

// Registry maps keys to child actors and back. The zero value is ready to use. Not safe for
// concurrent use: it belongs to the parent actor.
type Registry[K comparable] struct {
	byKey map[K]*actor.PID
	byID  map[string]K
	peak  int
}

// Add records pid as the child serving k.
func (r *Registry[K]) Add(k K, pid *actor.PID) {
	if r.byKey == nil {
		r.byKey, r.byID = map[K]*actor.PID{}, map[string]K{}
	}
	r.byKey[k] = pid
	r.byID[pid.Id] = k
	r.peak = max(r.peak, len(r.byKey))
}

// Get returns the child serving k.
func (r *Registry[K]) Get(k K) (*actor.PID, bool) {
	pid, ok := r.byKey[k]
	return pid, ok
}

// Len is the number of keys served.
func (r *Registry[K]) Len() int { return len(r.byKey) }

// Forget stops routing k to its child, which still counts as a child until Gone (it is
// stopping: a parked transaction).
func (r *Registry[K]) Forget(k K) { delete(r.byKey, k) }

// Gone takes out the child whose PID id is id (from actor.Terminated) and returns the key it
// served; ok is false for an id that is not one of ours. A key served by a newer child since
// keeps it.
func (r *Registry[K]) Gone(id string) (k K, ok bool) {
	k, ok = r.byID[id]
	if !ok {
		return k, false
	}
	delete(r.byID, id)
	// Compare ids: the PID in Terminated is not the pointer Spawn returned.
	if pid := r.byKey[k]; pid != nil && pid.Id == id {
		delete(r.byKey, k)
	}
	if len(r.byKey) == 0 && len(r.byID) == 0 && r.peak > shrinkAfter {
		r.byKey, r.byID, r.peak = nil, nil, 0
	}
	return k, true
}

// Each calls f for every key served, in no order.
func (r *Registry[K]) Each(f func(K, *actor.PID)) {
	for k, pid := range r.byKey {
		f(k, pid)
	}
}
