package services

import (
	"strings"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/partysip/partysip/actors/internal/children"
	"github.com/partysip/partysip/actors/internal/protofix"
	"github.com/partysip/partysip/sipcore/registrar"
)

// registrarActor routes each REGISTER to the actor of its address-of-record, spawning it on
// first use, and supervises those actors.
type registrarActor struct {
	s        *Services
	stored   []registrar.Record // the store's records at the first start: their actors start at once
	rescan   bool               // a restart: read the records from the store again
	children children.Registry[string]
	// domains counts the AOR actors of each domain, for registrar.max_aors.
	domains map[string]int
}

func newRegistrar(s *Services, stored []registrar.Record) actor.Actor {
	return &registrarActor{s: s, stored: stored}
}

// restartedRegistrar is the producer's product after a failure: it scans the store again, since
// AORs registered since the start are not in the first records.
func restartedRegistrar(s *Services) actor.Actor {
	return &registrarActor{s: s, rescan: true}
}

func (r *registrarActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		// Also after a restart of the registrar itself: its children were stopped with it.
		r.children, r.domains = children.Registry[string]{}, map[string]int{}
		if r.rescan {
			r.s.scanFor(ctx)
		}
		r.spawnStored(ctx, r.stored)
		r.stored = nil
	case *recordsScanned:
		if m.Err != nil {
			// The AORs are still served, each loading its own record on its first request; only
			// the expiry of those not asked for waits until then.
			r.s.opts.Log.Error("registrar restart: cannot read stored bindings", zap.Error(m.Err))
			return
		}
		r.spawnStored(ctx, m.Recs)
	case *RegisterRequested:
		if r.s.fault("registrar", m.Reg.AOR) {
			panic("fault injected into the registrar at " + m.Reg.AOR)
		}
		if _, known := r.children.Get(m.Reg.AOR); !known && m.Reg.MaxAORs > 0 && r.domains[domainOf(m.Reg.AOR)] >= m.Reg.MaxAORs {
			r.s.opts.Log.Warn("REGISTER for a new address-of-record refused: registrar.max_aors reached",
				zap.String("aor", m.Reg.AOR), zap.Int("max_aors", m.Reg.MaxAORs))
			m.Reply(&RegisterAnswered{Answer: registrar.TooManyAORs()})
			return
		}
		ctx.Forward(r.child(ctx, m.Reg.AOR, nil))
	case *BindingRemoveRequested:
		ctx.Forward(r.child(ctx, m.AOR, nil))
	case *actor.Terminated:
		protofix.ReleaseChild(ctx)
		if aor, ok := r.children.Gone(m.Who.Id); ok {
			r.domains[domainOf(aor)]--
		}
	}
}

// spawnStored starts an actor for each stored record that has none yet, handing it its record.
// One started since (by a request) loaded its own, at least as new.
func (r *registrarActor) spawnStored(ctx actor.Context, recs []registrar.Record) {
	for i := range recs {
		r.child(ctx, recs[i].AOR, &recs[i])
	}
}

// child returns aor's actor, spawning it if needed: with seed, the record it starts from (read
// by a scan); without, it loads its record itself.
func (r *registrarActor) child(ctx actor.Context, aor string, seed *registrar.Record) *actor.PID {
	if pid, ok := r.children.Get(aor); ok {
		return pid
	}
	pid := ctx.Spawn(r.s.props(func() actor.Actor {
		a := newAOR(r.s, aor)
		a.seed, seed = seed, nil // the first incarnation only: a restarted one reads the store
		return a
	}))
	r.children.Add(aor, pid)
	r.domains[domainOf(aor)]++
	return pid
}

// domainOf is the domain part of an address-of-record (user@domain).
func domainOf(aor string) string {
	_, domain, _ := strings.Cut(aor, "@")
	return domain
}
