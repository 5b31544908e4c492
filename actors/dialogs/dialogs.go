// Package dialogs is the dialog room: one actor per dialog created through this proxy (a 2xx to
// an INVITE it Record-Routed), under dialog shards picked by Call-ID, so both directions of one
// dialog meet the same shard. The proxy forwards in-dialog requests by their Route set, whatever
// these actors know: they observe, count and list calls in progress, and a failed dialog actor
// costs nothing but its own bookkeeping.
package dialogs

import (
	"fmt"
	"hash/maphash"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/partysip/partysip/actors/internal/children"
	"github.com/partysip/partysip/actors/internal/clock"
	"github.com/partysip/partysip/actors/internal/protofix"
	"github.com/partysip/partysip/actors/internal/supervise"
	"github.com/partysip/partysip/sipcore/dialog"
)

// Env is what the dialog room is given by the engine that starts it.
type Env struct {
	Clock      clock.Clock
	Log        *zap.Logger
	Dispatcher actor.Dispatcher
	// Trace are props options that trace the dialog actors (causal traces); none when nil.
	Trace []actor.PropsOption
	// AckWait is how long a dialog waits for the ACK of its 2xx (64·T1); Lifetime ends a dialog
	// that sees no request (dialogs.lifetime).
	AckWait, Lifetime time.Duration
	// Fault is asked by each dialog actor as it starts; true makes it panic (fault drills).
	Fault func() bool
	// Live, Created and Panics count the dialogs alive, created, and whose actor failed.
	Live, Created, Panics *atomic.Int64
}

// Room is the running dialog shards.
type Room struct {
	root   *actor.RootContext
	seed   maphash.Seed
	shards []*actor.PID
}

// Start spawns n dialog shards.
func Start(root *actor.RootContext, n int, env Env) *Room {
	r := &Room{root: root, seed: maphash.MakeSeed()}
	strategy := supervise.OneForOne(0, 0, actor.StopDirective, env.Panics, env.Log, "dialog actor failed; stopping it")
	for range n {
		r.shards = append(r.shards, root.Spawn(actor.PropsFromProducer(
			func() actor.Actor { return &dialogShard{env: &env, infos: map[dialog.ID]Info{}} },
			append([]actor.PropsOption{actor.WithDispatcher(env.Dispatcher), actor.WithSupervisor(strategy)}, env.Trace...)...)))
	}
	return r
}

// Stop stops every dialog shard and its dialogs.
func (r *Room) Stop() {
	for _, s := range r.shards {
		_ = r.root.StopFuture(s).Wait()
	}
}

// List returns the dialogs in progress, oldest first, asking each shard within timeout.
func (r *Room) List(timeout time.Duration) ([]Info, error) {
	var out []Info
	for _, s := range r.shards {
		res, err := r.root.RequestFuture(s, &listRequested{}, timeout).Result()
		if err != nil {
			return nil, fmt.Errorf("dialogs: %w", err)
		}
		ds, _ := res.([]Info)
		out = append(out, ds...)
	}
	slices.SortFunc(out, func(a, b Info) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.CallID, b.CallID)
	})
	return out, nil
}

// dialogObserved is what the proxy saw of a dialog.
type dialogObserved struct {
	ID     dialog.ID
	Event  dialog.EventKind
	Method string
	// Set with Created.
	Caller, Callee string
}

// Info is one dialog as operators see it.
type Info struct {
	CallID       string         `json:"call_id"`
	Tags         [2]string      `json:"tags"`
	Caller       string         `json:"caller"`
	Callee       string         `json:"callee"`
	State        string         `json:"state"`
	Created      time.Time      `json:"created"`
	LastActivity time.Time      `json:"last_activity"`
	Requests     map[string]int `json:"requests"`
}

// listRequested asks a dialog shard (through a future) for its dialogs.
type listRequested struct{}

// dialogTimerFired is a dialog's timer; Gen tells a re-armed timer's late delivery apart.
type dialogTimerFired struct{ Gen uint32 }

// Observe reports an event of the dialog m belongs to (no To tag: no dialog, nothing).
func (r *Room) Observe(m Message, ev dialog.EventKind, method string) {
	id, ok := dialog.IDOf(m)
	if !ok {
		return
	}
	obs := &dialogObserved{ID: id, Event: ev, Method: method}
	if ev == dialog.Created {
		obs.Caller, obs.Callee = m.From().Address.String(), m.To().Address.String()
	}
	r.root.Send(r.shards[maphash.String(r.seed, id.CallID)%uint64(len(r.shards))], obs)
}

// Message is what a dialog is observed through: a request or response of it.
type Message interface {
	CallID() *sip.CallIDHeader
	From() *sip.FromHeader
	To() *sip.ToHeader
}

// dialogShard owns the dialogs of its Call-IDs.
type dialogShard struct {
	env     *Env
	dialogs children.Registry[dialog.ID]
	infos   map[dialog.ID]Info
}

func (s *dialogShard) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *dialogObserved:
		if pid, ok := s.dialogs.Get(m.ID); ok {
			ctx.Send(pid, m)
			return
		}
		if m.Event != dialog.Created {
			return // a dialog we did not see created (a restart, or not Record-Routed)
		}
		first := m
		pid := ctx.Spawn(actor.PropsFromProducer(func() actor.Actor { return newDialogActor(s.env, first) },
			append([]actor.PropsOption{actor.WithDispatcher(s.env.Dispatcher)}, s.env.Trace...)...))
		s.dialogs.Add(m.ID, pid)
		s.env.Live.Add(1)
		s.env.Created.Add(1)
	case *Info:
		id := dialog.NewID(m.CallID, m.Tags[0], m.Tags[1])
		if _, ok := s.dialogs.Get(id); ok {
			s.infos[id] = *m
		}
	case *listRequested:
		out := make([]Info, 0, len(s.infos))
		for _, info := range s.infos {
			out = append(out, info)
		}
		ctx.Respond(out)
	case *actor.Terminated:
		protofix.ReleaseChild(ctx)
		if id, ok := s.dialogs.Gone(m.Who.Id); ok {
			delete(s.infos, id)
			s.env.Live.Add(-1)
		}
	}
}

// dialogActor is one dialog: its machine, its timer, and what it tells its shard for listings.
type dialogActor struct {
	env    *Env
	id     dialog.ID
	first  *dialogObserved
	caller string
	callee string
	m      *dialog.Machine
	timer  clock.Timer
	gen    uint32
}

func newDialogActor(env *Env, first *dialogObserved) actor.Actor {
	return &dialogActor{env: env, id: first.ID, first: first, caller: first.Caller, callee: first.Callee,
		m: dialog.New(dialog.Timers{AckWait: env.AckWait, Lifetime: env.Lifetime})}
}

func (d *dialogActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		if d.env.Fault != nil && d.env.Fault() {
			panic("fault injected into dialog " + d.id.CallID)
		}
		first := d.first
		d.first = nil
		d.step(ctx, first.Event, first.Method)
	case *dialogObserved:
		d.step(ctx, m.Event, m.Method)
	case *dialogTimerFired:
		if m.Gen == d.gen {
			d.step(ctx, dialog.TimerFired, "")
		}
	case *actor.Stopping:
		if d.timer != nil {
			d.timer.Stop()
		}
	}
}

func (d *dialogActor) step(ctx actor.Context, ev dialog.EventKind, method string) {
	before := d.m.State()
	a := d.m.Step(d.env.Clock.Now(), ev, method)
	if ce := d.env.Log.Check(zap.DebugLevel, "dialog"); ce != nil && d.m.State() != before {
		ce.Write(zap.String("call_id", d.id.CallID), zap.Stringer("from", before), zap.Stringer("event", ev),
			zap.String("method", method), zap.Stringer("to", d.m.State()))
	}
	if a.Arm {
		d.gen++
		if d.timer != nil {
			d.timer.Stop()
		}
		d.timer = clock.SendAfter(d.env.Clock, ctx, a.After, &dialogTimerFired{Gen: d.gen})
	}
	if a.Terminate {
		ctx.Stop(ctx.Self())
		return
	}
	ctx.Send(ctx.Parent(), &Info{
		CallID: d.id.CallID, Tags: [2]string{d.id.TagA, d.id.TagB}, Caller: d.caller, Callee: d.callee,
		State: d.m.State().String(), Created: d.m.Created(), LastActivity: d.m.LastActivity(),
		Requests: maps.Clone(d.m.Requests),
	})
}
