package services

import (
	"container/heap"
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/partysip/partysip/sipcore/registrar"
)

// locationTable is the location service's state, published: the newest stored record of every
// address-of-record seen since start (one with no binding left says the AOR is known), in shards
// that any goroutine reads under a read lock. Each AOR actor writes its own entry, before it
// answers the REGISTER that changed it, so a UA that registered and is called at once is found;
// lookups read it on the caller's goroutine, so no call to our domain waits in one mailbox.
// A record in the table is never modified: a change replaces it.
type locationTable struct {
	seed   maphash.Seed
	shards [64]locationShard
}

type locationShard struct {
	mu sync.RWMutex
	m  map[string]registrar.Record
}

func newLocationTable() *locationTable {
	t := &locationTable{seed: maphash.MakeSeed()}
	for i := range t.shards {
		t.shards[i].m = map[string]registrar.Record{}
	}
	return t
}

func (t *locationTable) shard(aor string) *locationShard {
	return &t.shards[maphash.String(t.seed, aor)%uint64(len(t.shards))]
}

// get returns aor's record and whether the AOR is known.
func (t *locationTable) get(aor string) (registrar.Record, bool) {
	sh := t.shard(aor)
	sh.mu.RLock()
	rec, ok := sh.m[aor]
	sh.mu.RUnlock()
	return rec, ok
}

// put makes rec the record of its AOR and returns the change in the number of bindings.
func (t *locationTable) put(rec registrar.Record) int {
	sh := t.shard(rec.AOR)
	sh.mu.Lock()
	old := sh.m[rec.AOR]
	sh.m[rec.AOR] = rec
	sh.mu.Unlock()
	return len(rec.Bindings) - len(old.Bindings)
}

// each calls f with every record that has bindings, one shard at a time.
func (t *locationTable) each(f func(registrar.Record)) {
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.RLock()
		for _, rec := range sh.m {
			if len(rec.Bindings) > 0 {
				f(rec)
			}
		}
		sh.mu.RUnlock()
	}
}

// publish makes rec (the AOR actor's stored record) the one lookups see.
func (s *Services) publish(rec registrar.Record) {
	rec.Bindings = slices.Clip(rec.Bindings)
	s.stats.Bindings.Add(int64(s.location.put(rec)))
}

// Lookup returns the live bindings of aor, or of the addresses-of-record it is an alias of,
// ordered by q then recency, and whether the AOR is known (registered since start, an alias or a
// user). It reads the published table: any goroutine may call it, no actor is asked.
func (s *Services) Lookup(aor string, now time.Time) ([]registrar.Binding, bool) {
	return s.lookup(aor, now)
}

// locationActor answers operators' listings and the LookupRequested message from the published
// table. Its failure loses nothing: the table is the AOR actors', not its own.
type locationActor struct{ s *Services }

func (l *locationActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *LookupRequested:
		if l.s.fault("location", m.AOR) {
			panic("fault injected into the location service at " + m.AOR)
		}
		bindings, known := l.s.lookup(m.AOR, l.s.opts.Clock.Now())
		ctx.Send(m.ReplyTo, &LookupAnswered{AOR: m.AOR, Bindings: bindings, Known: known})
	case *BindingsListRequested:
		ctx.Respond(l.s.list(m, l.s.opts.Clock.Now()))
	}
}

// lookup returns the live bindings of aor, or of the addresses-of-record it is an alias of
// (aliases may nest; each AOR counts once), ordered by q then recency.
func (s *Services) lookup(aor string, now time.Time) ([]registrar.Binding, bool) {
	var all registrar.Record
	known := false
	seen := map[string]bool{}
	var visit func(a string, depth int)
	visit = func(a string, depth int) {
		if seen[a] || depth > 8 {
			return
		}
		seen[a] = true
		if targets, ok := (*s.aliases.Load())[a]; ok {
			known = true
			for _, t := range targets {
				visit(t, depth+1)
			}
			return
		}
		rec, seen := s.location.get(a)
		known = known || seen || s.Credentials.Get().Has(userOf(a))
		all.Bindings = append(all.Bindings, rec.Bindings...)
	}
	visit(aor, 0)
	return all.Live(now), known
}

// list answers m: the live bindings of one address-of-record, or of all (a page of them when
// m.Limit is set), sorted by AOR. A page keeps the Limit smallest AORs after m.After in a
// bounded max-heap, so each page costs one pass over the records, not a sort of all of them.
func (s *Services) list(m *BindingsListRequested, now time.Time) []registrar.Record {
	var out []registrar.Record
	byAOR := func(x, y registrar.Record) int { return strings.Compare(x.AOR, y.AOR) }
	h := &recordHeap{}
	s.location.each(func(rec registrar.Record) {
		a := rec.AOR
		if (m.AOR != "" && a != m.AOR) || (m.After != "" && a <= m.After) {
			return
		}
		live := rec.Live(now)
		if len(live) == 0 {
			return
		}
		r := registrar.Record{AOR: a, Bindings: live}
		switch {
		case m.Limit <= 0:
			out = append(out, r)
		case h.Len() < m.Limit:
			heap.Push(h, r)
		case a < (*h)[0].AOR:
			(*h)[0] = r
			heap.Fix(h, 0)
		}
	})
	if m.Limit > 0 {
		out = *h
	}
	slices.SortFunc(out, byAOR)
	return out
}

// recordHeap is a max-heap of records by AOR: its root is the largest AOR kept.
type recordHeap []registrar.Record

func (h recordHeap) Len() int           { return len(h) }
func (h recordHeap) Less(i, j int) bool { return h[i].AOR > h[j].AOR }
func (h recordHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *recordHeap) Push(x any)        { *h = append(*h, x.(registrar.Record)) }
func (h *recordHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// userOf is the user part of a canonical AOR ("sip:alice@example.com" → "alice").
func userOf(aor string) string {
	_, rest, _ := strings.Cut(aor, ":")
	user, _, ok := strings.Cut(rest, "@")
	if !ok {
		return ""
	}
	return user
}
