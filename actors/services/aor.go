package services

import (
	"errors"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/partysip/partysip/actors/internal/clock"
	"github.com/partysip/partysip/actors/store"
	"github.com/partysip/partysip/sipcore/base"
	"github.com/partysip/partysip/sipcore/registrar"
)

// aorActor owns the bindings of one address-of-record: it applies REGISTERs to them (§10.3),
// stores every change before answering, expires bindings on a timer and tells the location
// service. It handles one change at a time: what arrives while it loads or saves waits in order.
type aorActor struct {
	s      *Services
	aor    string
	rec    registrar.Record
	seed   *registrar.Record // the record read by the registrar's scan, used once at start
	loaded bool
	saving *pendingSave
	queue  []queued
	seq    uint64
	timer  clock.Timer
	gen    uint32
	due    time.Time // when timer fires
	log    *zap.Logger
	// serving is the request being served, so that a failure can still answer it.
	serving *queued
}

// loadRetried asks the actor to load its record again (the store was busy).
type loadRetried struct{}

// queued is a request that arrived while the actor was busy, with how to answer it.
type queued struct {
	msg   any
	reply func(any)
}

// pendingSave is a change being written: what to answer once the store confirms it.
type pendingSave struct {
	seq    uint64
	rec    registrar.Record
	reg    *registrar.Register // the REGISTER to answer, or nil
	reply  func(any)
	remove bool // a BindingRemoveRequested to answer (its reply goes to a future)
}

func newAOR(s *Services, aor string) *aorActor {
	return &aorActor{s: s, aor: aor, rec: registrar.Record{AOR: aor}, log: s.opts.Log}
}

func (a *aorActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started, *loadRetried:
		if a.seed != nil {
			// Started by the registrar from a scan of the store: no read of our own.
			rec := *a.seed
			a.seed = nil
			a.load(ctx, rec)
			return
		}
		// A restart, or an AOR first seen since start: the store has the truth.
		self, root := ctx.Self(), ctx.ActorSystem().Root
		a.s.opts.Store.Load(a.aor, func(rec registrar.Record, err error) { root.Send(self, &recordLoaded{Rec: rec, Err: err}) })
	case *recordLoaded:
		if errors.Is(m.Err, store.ErrBusy) {
			// The store's queue is full: try again shortly; requests wait in the queue.
			clock.SendAfter(a.s.opts.Clock, ctx, retryDelay(), &loadRetried{})
			return
		}
		if m.Err != nil {
			// Serving without our bindings would overwrite them: fail, and be restarted.
			panic(m.Err)
		}
		a.load(ctx, m.Rec)
	case *recordSaved:
		a.saved(ctx, m)
	case *expiryDue:
		if m.Gen == a.gen {
			a.timer = nil // fired: the next arm sets another
			a.enqueue(ctx, m)
		}
	case *RegisterRequested, *BindingRemoveRequested:
		a.enqueue(ctx, m)
	case *actor.Restarting:
		// This instance failed; its successor reads the store again. Whoever waits on it gets
		// a 500 now (RFC 3261 §10.3: a failed update fails the request) rather than silence.
		a.failAll(ctx)
		if a.timer != nil {
			a.timer.Stop()
		}
	case *actor.Stopping:
		a.failAll(ctx)
		if a.timer != nil {
			a.timer.Stop()
		}
	}
}

// load takes rec as the actor's record: bindings that expired while nobody watched (the daemon
// was down) are purged and stored, then the requests that waited are served.
func (a *aorActor) load(ctx actor.Context, rec registrar.Record) {
	a.rec, a.loaded = rec, true
	a.rec.AOR = a.aor
	if next := (registrar.Record{AOR: a.aor, Bindings: slices.Clone(a.rec.Bindings)}); next.Purge(a.s.opts.Clock.Now()) {
		a.save(ctx, next, nil)
	} else {
		a.settled(ctx)
		a.drain(ctx)
	}
}

// failAll answers 500 to the request being served, the one being saved and those queued.
func (a *aorActor) failAll(ctx actor.Context) {
	fail := func(reply func(any), remove bool) {
		switch {
		case reply == nil:
		case remove:
			reply(&BindingRemoved{Err: errors.New("registration actor failed")})
		default:
			reply(&RegisterAnswered{Answer: base.NewAnswer(500)})
		}
	}
	pending := a.queue
	if a.serving != nil {
		pending = append([]queued{*a.serving}, pending...)
	}
	for _, q := range pending {
		switch q.msg.(type) {
		case *RegisterRequested:
			fail(q.reply, false)
		case *BindingRemoveRequested:
			fail(q.reply, true)
		}
	}
	if p := a.saving; p != nil && (p.reg != nil || p.remove) {
		fail(p.reply, p.remove)
	}
	a.queue, a.serving, a.saving = nil, nil, nil
}

// enqueue serves msg now if the actor is idle, else after the work in hand.
func (a *aorActor) enqueue(ctx actor.Context, msg any) {
	q := queued{msg: msg}
	switch m := msg.(type) {
	case *RegisterRequested:
		q.reply = m.Reply
	case *BindingRemoveRequested:
		if sender := ctx.Sender(); sender != nil { // a future: answered by message
			root := ctx.ActorSystem().Root
			q.reply = func(a any) { root.Send(sender, a) }
		}
	}
	a.queue = append(a.queue, q)
	a.drain(ctx)
}

// drain serves queued requests in order until one starts a save (or none is left).
func (a *aorActor) drain(ctx actor.Context) {
	for a.loaded && a.saving == nil && len(a.queue) > 0 {
		q := a.queue[0]
		a.queue = slices.Delete(a.queue, 0, 1)
		a.serving = &q
		a.serve(ctx, q)
		a.serving = nil
	}
}

func (a *aorActor) serve(ctx actor.Context, q queued) {
	now := a.s.opts.Clock.Now()
	switch m := q.msg.(type) {
	case *RegisterRequested:
		if a.s.fault("aor", a.aor) {
			panic("fault injected into registration " + a.aor)
		}
		next, changed, rej := registrar.Apply(now, a.rec, m.Reg)
		switch {
		case rej != nil:
			q.reply(&RegisterAnswered{Answer: rej})
		case !changed:
			q.reply(&RegisterAnswered{Answer: ok(now, &a.rec, m.Reg)})
		default:
			a.save(ctx, next, &pendingSave{reg: m.Reg, reply: q.reply})
		}
	case *BindingRemoveRequested:
		next := registrar.Record{AOR: a.aor, Bindings: slices.Clone(a.rec.Bindings)}
		if !next.Remove(m.Contact) {
			if q.reply != nil {
				q.reply(&BindingRemoved{})
			}
			return
		}
		a.save(ctx, next, &pendingSave{reply: q.reply, remove: true})
	case *expiryDue:
		next := registrar.Record{AOR: a.aor, Bindings: slices.Clone(a.rec.Bindings)}
		if next.Purge(now) {
			a.log.Debug("bindings expired", zap.String("aor", a.aor))
			a.save(ctx, next, nil)
		} else {
			a.arm(ctx)
		}
	}
}

// save writes next; the answer in p (if any) is sent once the store confirms.
func (a *aorActor) save(ctx actor.Context, next registrar.Record, p *pendingSave) {
	if p == nil {
		p = &pendingSave{}
	}
	a.seq++
	p.seq, p.rec = a.seq, next
	a.saving = p
	self, root, seq := ctx.Self(), ctx.ActorSystem().Root, a.seq
	a.s.opts.Store.Save(next, func(err error) { root.Send(self, &recordSaved{Seq: seq, Err: err}) })
}

func (a *aorActor) saved(ctx actor.Context, m *recordSaved) {
	p := a.saving
	if p == nil || p.seq != m.Seq {
		return // a save of a previous incarnation of this actor
	}
	a.saving = nil
	if p.reg == nil && !p.remove && errors.Is(m.Err, store.ErrBusy) {
		// An expiry nobody waits on, turned away by a full queue: purge again a little later
		// rather than at once (the expiry is already due, so arm would fire straight away).
		a.log.Debug("expiry purge deferred: store busy", zap.String("aor", a.aor))
		a.retryExpiry(ctx)
		a.drain(ctx)
		return
	}
	if m.Err != nil {
		// §10.3: a binding change that cannot be committed fails the request with 500 and
		// leaves the bindings as they were.
		a.s.stats.StoreFailures.Add(1)
		a.log.Error("bindings not stored", zap.String("aor", a.aor), zap.Error(m.Err))
		switch {
		case p.reg != nil && errors.Is(m.Err, store.ErrBusy):
			// Overloaded, not failed: the UA should try again shortly (RFC 3261 §21.5.4).
			p.reply(&RegisterAnswered{Answer: &base.Answer{Code: 503, Reason: "Service Unavailable",
				Headers: []sip.Header{sip.NewHeader("Retry-After", "1")}}})
		case p.reg != nil:
			p.reply(&RegisterAnswered{Answer: base.NewAnswer(500)})
		case p.remove && p.reply != nil:
			p.reply(&BindingRemoved{Err: m.Err})
		}
		a.settled(ctx)
	} else {
		// Location first, then the answer: a UA that registered and is called at once is found.
		a.rec = p.rec
		a.settled(ctx)
		switch {
		case p.reg != nil:
			a.s.stats.Registers.Add(1)
			p.reply(&RegisterAnswered{Answer: ok(a.s.opts.Clock.Now(), &a.rec, p.reg)})
		case p.remove && p.reply != nil:
			p.reply(&BindingRemoved{Found: true})
		}
	}
	a.drain(ctx)
}

// settled publishes the record to the location table and re-arms the expiry timer; the caller
// then serves what waited (drain).
func (a *aorActor) settled(ctx actor.Context) {
	a.s.publish(registrar.Record{AOR: a.aor, Bindings: slices.Clone(a.rec.Bindings)})
	a.arm(ctx)
}

// arm sets the timer for the earliest expiry (a generation tells a late, replaced timer apart).
// A timer that fires no later than the earliest expiry is kept: a refresh, the usual change,
// only moves expiries later, and an early timer finds nothing expired and arms again.
func (a *aorActor) arm(ctx actor.Context) {
	next, ok := a.rec.NextExpiry()
	if ok && a.timer != nil && !a.due.After(next) {
		return
	}
	a.gen++
	if a.timer != nil {
		a.timer.Stop()
		a.timer = nil
	}
	if !ok {
		return
	}
	a.due = next
	a.timer = clock.SendAfter(a.s.opts.Clock, ctx, next.Sub(a.s.opts.Clock.Now()), &expiryDue{Gen: a.gen, At: next})
}

// retryExpiry replaces the expiry timer with one that fires after retryDelay.
func (a *aorActor) retryExpiry(ctx actor.Context) {
	if a.timer != nil {
		a.timer.Stop()
	}
	a.gen++
	d := retryDelay()
	a.due = a.s.opts.Clock.Now().Add(d)
	a.timer = clock.SendAfter(a.s.opts.Clock, ctx, d, &expiryDue{Gen: a.gen, At: a.due})
}

func ok(now time.Time, rec *registrar.Record, reg *registrar.Register) *base.Answer {
	return &base.Answer{Code: 200, Reason: "OK", Headers: registrar.OK(now, rec, reg)}
}
