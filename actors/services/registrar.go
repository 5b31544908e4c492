package services

import (
	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"
)

// registrarActor routes each REGISTER to the actor of its address-of-record, spawning it on
// first use, and supervises those actors.
type registrarActor struct {
	s        *Services
	stored   []string // AORs in the store at the first start: their actors are spawned at once
	children map[string]*actor.PID
	byID     map[string]string
}

func newRegistrar(s *Services, stored []string) actor.Actor {
	return &registrarActor{s: s, stored: stored}
}

// restartedRegistrar is the producer's product after a failure: it lists the store again, since
// AORs registered since the start are not in the first list.
func restartedRegistrar(s *Services) actor.Actor {
	aors, err := s.opts.Store.AORs()
	if err != nil {
		s.opts.Log.Error("registrar restart: cannot list stored bindings", zap.Error(err))
	}
	return &registrarActor{s: s, stored: aors}
}

func (r *registrarActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		// Also after a restart of the registrar itself: its children were stopped with it.
		r.children, r.byID = map[string]*actor.PID{}, map[string]string{}
		for _, aor := range r.stored {
			r.child(ctx, aor)
		}
		r.stored = nil
	case *RegisterRequested:
		ctx.Forward(r.child(ctx, m.Reg.AOR))
	case *BindingRemoveRequested:
		ctx.Forward(r.child(ctx, m.AOR))
	case *actor.Terminated:
		if aor, ok := r.byID[m.Who.Id]; ok {
			delete(r.byID, m.Who.Id)
			delete(r.children, aor)
		}
	}
}

func (r *registrarActor) child(ctx actor.Context, aor string) *actor.PID {
	if pid, ok := r.children[aor]; ok {
		return pid
	}
	pid := ctx.Spawn(r.s.props(func() actor.Actor { return newAOR(r.s, aor) }))
	r.children[aor] = pid
	r.byID[pid.Id] = aor
	return pid
}
