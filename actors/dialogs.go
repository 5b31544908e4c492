package actors

import (
	"hash/fnv"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/partysip/partysip/actors/internal/children"
	"github.com/partysip/partysip/actors/internal/clock"
	"github.com/partysip/partysip/actors/internal/protofix"
	"github.com/partysip/partysip/sipcore/dialog"
)

// Dialogs: one actor per dialog created through this proxy (a 2xx to an INVITE it
// Record-Routed), under dialog shards picked by Call-ID, so both directions of one dialog meet
// the same shard. The proxy forwards in-dialog requests by their Route set, whatever these
// actors know: they observe, count and list calls in progress, and a failed dialog actor costs
// nothing but its own bookkeeping.

// dialogObserved is what the proxy saw of a dialog.
type dialogObserved struct {
	ID     dialog.ID
	Event  dialog.EventKind
	Method string
	// Set with Created.
	Caller, Callee string
}

// DialogInfo is one dialog as operators see it.
type DialogInfo struct {
	CallID       string         `json:"call_id"`
	Tags         [2]string      `json:"tags"`
	Caller       string         `json:"caller"`
	Callee       string         `json:"callee"`
	State        string         `json:"state"`
	Created      time.Time      `json:"created"`
	LastActivity time.Time      `json:"last_activity"`
	Requests     map[string]int `json:"requests"`
}

// dialogsListRequested asks a dialog shard (through a future) for its dialogs.
type dialogsListRequested struct{}

// dialogTimerFired is a dialog's timer; Gen tells a re-armed timer's late delivery apart.
type dialogTimerFired struct{ Gen uint32 }

// observeDialog reports an event of the dialog m belongs to (no To tag: no dialog, nothing).
func (c *core) observeDialog(m dialogMessage, ev dialog.EventKind, method string) {
	id, ok := dialog.IDOf(m)
	if !ok {
		return
	}
	obs := &dialogObserved{ID: id, Event: ev, Method: method}
	if ev == dialog.Created {
		obs.Caller, obs.Callee = m.From().Address.String(), m.To().Address.String()
	}
	c.root.Send(c.dialogShardFor(id.CallID), obs)
}

type dialogMessage interface {
	CallID() *sip.CallIDHeader
	From() *sip.FromHeader
	To() *sip.ToHeader
}

func (c *core) dialogShardFor(callID string) *actor.PID {
	h := fnv.New32a()
	h.Write([]byte(callID))
	return c.dialogShards[h.Sum32()%uint32(len(c.dialogShards))]
}

// dialogShard owns the dialogs of its Call-IDs.
type dialogShard struct {
	c       *core
	dialogs children.Registry[dialog.ID]
	infos   map[dialog.ID]DialogInfo
}

func newDialogShard(c *core) actor.Actor {
	return &dialogShard{c: c, infos: map[dialog.ID]DialogInfo{}}
}

// dialogSupervisor stops a failed dialog actor and counts it: its state is gone, and the call
// it watched goes on (forwarding does not depend on it).
func dialogSupervisor(c *core) actor.SupervisorStrategy {
	return stopAndCount(c, &c.stats.DialogPanics, "dialog")
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
		pid := ctx.Spawn(actor.PropsFromProducer(func() actor.Actor { return newDialogActor(s.c, first) },
			actor.WithDispatcher(s.c.dispatcher)))
		s.dialogs.Add(m.ID, pid)
		s.c.stats.Dialogs.Add(1)
		s.c.stats.DialogsCreated.Add(1)
	case *DialogInfo:
		id := dialog.NewID(m.CallID, m.Tags[0], m.Tags[1])
		if _, ok := s.dialogs.Get(id); ok {
			s.infos[id] = *m
		}
	case *dialogsListRequested:
		out := make([]DialogInfo, 0, len(s.infos))
		for _, info := range s.infos {
			out = append(out, info)
		}
		ctx.Respond(out)
	case *actor.Terminated:
		protofix.ReleaseChild(ctx)
		if id, ok := s.dialogs.Gone(m.Who.Id); ok {
			delete(s.infos, id)
			s.c.stats.Dialogs.Add(-1)
		}
	}
}

// dialogActor is one dialog: its machine, its timer, and what it tells its shard for listings.
type dialogActor struct {
	c      *core
	id     dialog.ID
	first  *dialogObserved
	caller string
	callee string
	m      *dialog.Machine
	timer  clock.Timer
	gen    uint32
}

func newDialogActor(c *core, first *dialogObserved) actor.Actor {
	return &dialogActor{c: c, id: first.ID, first: first, caller: first.Caller, callee: first.Callee,
		m: dialog.New(dialog.Timers{AckWait: 64 * c.timers.T1, Lifetime: c.dialogLifetime})}
}

func (d *dialogActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		if roll(&d.c.faults.dialog) {
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
	a := d.m.Step(d.c.clock.Now(), ev, method)
	if ce := d.c.log.Check(zap.DebugLevel, "dialog"); ce != nil && d.m.State() != before {
		ce.Write(zap.String("call_id", d.id.CallID), zap.Stringer("from", before), zap.Stringer("event", ev),
			zap.String("method", method), zap.Stringer("to", d.m.State()))
	}
	if a.Arm {
		d.gen++
		if d.timer != nil {
			d.timer.Stop()
		}
		d.timer = clock.SendAfter(d.c.clock, ctx, a.After, &dialogTimerFired{Gen: d.gen})
	}
	if a.Terminate {
		ctx.Stop(ctx.Self())
		return
	}
	ctx.Send(ctx.Parent(), &DialogInfo{
		CallID: d.id.CallID, Tags: [2]string{d.id.TagA, d.id.TagB}, Caller: d.caller, Callee: d.callee,
		State: d.m.State().String(), Created: d.m.Created(), LastActivity: d.m.LastActivity(),
		Requests: maps.Clone(d.m.Requests),
	})
}

// sortDialogs orders a listing by creation, oldest first.
func sortDialogs(ds []DialogInfo) {
	slices.SortFunc(ds, func(a, b DialogInfo) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.CallID, b.CallID)
	})
}
