package services

import (
	"container/heap"
	"slices"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/partysip/partysip/sipcore/registrar"
)

// locationActor is the location service: the current record of every address-of-record, as
// its AOR actor last stored it, and the configured aliases. It answers lookups for the proxy's
// routing and listings for operators.
type locationActor struct {
	s       *Services
	records map[string]registrar.Record
	known   map[string]bool // AORs registered at least once since start
}

func newLocation(s *Services) *locationActor {
	return &locationActor{s: s, records: map[string]registrar.Record{}, known: map[string]bool{}}
}

// seed gives a new location service the records read at start-up.
func (l *locationActor) seed(recs []registrar.Record) {
	for _, rec := range recs {
		l.changed(rec)
	}
}

// changed takes rec as the newest record of its address-of-record.
func (l *locationActor) changed(rec registrar.Record) {
	l.known[rec.AOR] = true
	l.s.stats.Bindings.Add(int64(len(rec.Bindings) - len(l.records[rec.AOR].Bindings)))
	if len(rec.Bindings) == 0 {
		delete(l.records, rec.AOR)
	} else {
		l.records[rec.AOR] = rec
	}
}

func (l *locationActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		if l.s.locationStarted.Swap(true) {
			// A restart: this instance starts empty, and so does its count.
			l.s.stats.Bindings.Store(0)
			l.s.scanFor(ctx)
		}
	case *recordsScanned:
		if m.Err != nil {
			panic(m.Err) // restarted again, with backoff from the supervisor's limits
		}
		for _, rec := range m.Recs {
			l.changed(rec)
		}
		l.s.opts.Log.Info("location service reloaded from the store", zap.Int("aors", len(m.Recs)))
	case *bindingsChanged:
		l.changed(m.Rec)
	case *LookupRequested:
		if l.s.fault("location", m.AOR) {
			panic("fault injected into the location service at " + m.AOR)
		}
		bindings, known := l.lookup(m.AOR, l.s.opts.Clock.Now())
		ctx.Send(m.ReplyTo, &LookupAnswered{AOR: m.AOR, Bindings: bindings, Known: known})
	case *BindingsListRequested:
		ctx.Respond(l.list(m, l.s.opts.Clock.Now()))
	}
}

// lookup returns the live bindings of aor, or of the addresses-of-record it is an alias of
// (aliases may nest; each AOR counts once), ordered by q then recency.
func (l *locationActor) lookup(aor string, now time.Time) ([]registrar.Binding, bool) {
	var all registrar.Record
	known := false
	seen := map[string]bool{}
	var visit func(a string, depth int)
	visit = func(a string, depth int) {
		if seen[a] || depth > 8 {
			return
		}
		seen[a] = true
		if targets, ok := (*l.s.aliases.Load())[a]; ok {
			known = true
			for _, t := range targets {
				visit(t, depth+1)
			}
			return
		}
		known = known || l.known[a] || l.s.Credentials.Get().Has(userOf(a))
		all.Bindings = append(all.Bindings, l.records[a].Bindings...)
	}
	visit(aor, 0)
	return all.Live(now), known
}

// list answers m: the live bindings of one address-of-record, or of all (a page of them when
// m.Limit is set), sorted by AOR. A page keeps the Limit smallest AORs after m.After in a
// bounded max-heap, so each page costs one pass over the records, not a sort of all of them.
func (l *locationActor) list(m *BindingsListRequested, now time.Time) []registrar.Record {
	var out []registrar.Record
	byAOR := func(x, y registrar.Record) int { return strings.Compare(x.AOR, y.AOR) }
	h := &recordHeap{}
	for a, rec := range l.records {
		if (m.AOR != "" && a != m.AOR) || (m.After != "" && a <= m.After) {
			continue
		}
		live := rec.Live(now)
		if len(live) == 0 {
			continue
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
	}
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
