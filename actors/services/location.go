package services

import (
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

func newLocation(s *Services) actor.Actor {
	return &locationActor{s: s, records: map[string]registrar.Record{}, known: map[string]bool{}}
}

// seed gives a new location service the records read at start-up.
func (l *locationActor) seed(recs map[string]registrar.Record) {
	for aor, rec := range recs {
		l.known[aor] = true
		if len(rec.Bindings) > 0 {
			l.records[aor] = rec
			l.s.stats.Bindings.Add(int64(len(rec.Bindings)))
		}
	}
}

func (l *locationActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		if l.s.locationStarted.Swap(true) {
			l.reload(ctx)
		}
	case *bindingsChanged:
		l.known[m.Rec.AOR] = true
		l.s.stats.Bindings.Add(int64(len(m.Rec.Bindings) - len(l.records[m.Rec.AOR].Bindings)))
		if len(m.Rec.Bindings) == 0 {
			delete(l.records, m.Rec.AOR)
		} else {
			l.records[m.Rec.AOR] = m.Rec
		}
	case *LookupRequested:
		if l.s.fault("location", m.AOR) {
			panic("fault injected into the location service at " + m.AOR)
		}
		bindings, known := l.lookup(m.AOR, time.Now())
		ctx.Send(m.ReplyTo, &LookupAnswered{AOR: m.AOR, Bindings: bindings, Known: known})
	case *BindingsListRequested:
		ctx.Respond(l.list(m.AOR, time.Now()))
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

// list returns the live bindings of one address-of-record, or of all, sorted by AOR.
func (l *locationActor) list(aor string, now time.Time) []registrar.Record {
	var out []registrar.Record
	for a, rec := range l.records {
		if aor != "" && a != aor {
			continue
		}
		if live := rec.Live(now); len(live) > 0 {
			out = append(out, registrar.Record{AOR: a, Bindings: live})
		}
	}
	slices.SortFunc(out, func(x, y registrar.Record) int { return strings.Compare(x.AOR, y.AOR) })
	return out
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

// reload reads every stored record back after a restart. Each load is queued in the store after
// the saves before it, and its answer reaches us before any later publication by that AOR's
// actor, so the newest record wins.
func (l *locationActor) reload(ctx actor.Context) {
	aors, err := l.s.opts.Store.AORs()
	if err != nil {
		panic(err) // restarted again, with backoff from the supervisor's limits
	}
	self, root := ctx.Self(), ctx.ActorSystem().Root
	for _, aor := range aors {
		l.s.opts.Store.Load(aor, func(rec registrar.Record, err error) {
			if err == nil {
				root.Send(self, &bindingsChanged{Rec: rec})
			}
		})
	}
	l.s.opts.Log.Info("location service reloaded from the store", zap.Int("aors", len(aors)))
}
