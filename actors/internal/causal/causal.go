// Package causal traces what happens between actors with Lamport clocks: every message an actor
// sends carries its clock in the envelope's header, every message it handles moves its clock
// past the sender's, and events that are dropped on purpose (a CANCEL for a branch already
// answered) are recorded as ignored. The simulator collects these events into its trace; the
// daemon writes them at debug level. Nothing is installed unless a Tracer is: the daemon's hot
// path pays nothing otherwise.
package causal

import (
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/asynkron/protoactor-go/actor"
)

// Event is one actor-level event.
type Event struct {
	Seq     uint64 // order of recording
	Lamport uint64 // the actor's clock after the event
	Kind    string // "receive" or "ignore"
	// Actor names the actor by what it is and the order it first appeared in: txn.serverTx#2
	// (stable from run to run); PID is its protoactor id.
	Actor string
	PID   string
	Msg   string // the message's type, e.g. txn.MessageReceived
	// Cause is the sender's clock when it sent the message (0: from outside the actors: the
	// network, a timer); From is the sender's name ("" then).
	Cause  uint64
	From   string
	CallID string
	Branch string
	Detail string // for "ignore": what was dropped and why
}

// Tracer stamps and records.
type Tracer struct {
	mu     sync.Mutex
	seq    uint64
	clocks map[string]uint64
	names  map[string]string // actor name by PID id
	counts map[string]int    // actors named so far, by type
	emit   func(Event)
	// ids names a message's call and branch, when it carries them.
	ids func(msg any) (callID, branch string)
	// Before, when set, is called before an actor handles a message, with the actor's name and
	// how many messages it has handled with this one: a simulator's fault injection (it may
	// panic, failing the actor as its own code would).
	Before  func(actor string, n int, msg any)
	handled map[string]int
}

// New is a tracer that passes every event to emit; ids, when set, names a message's call and
// branch.
func New(emit func(Event), ids func(msg any) (callID, branch string)) *Tracer {
	return &Tracer{clocks: map[string]uint64{}, names: map[string]string{}, counts: map[string]int{}, handled: map[string]int{},
		emit: emit, ids: ids}
}

const (
	header     = "lamport"
	fromHeader = "lamport-from"
)

// Options are the props options that trace an actor: its sends are stamped, its receipts
// recorded. A nil tracer gives none.
func (t *Tracer) Options() []actor.PropsOption {
	if t == nil {
		return nil
	}
	return []actor.PropsOption{actor.WithSenderMiddleware(t.stamp), actor.WithReceiverMiddleware(t.record)}
}

func (t *Tracer) stamp(next actor.SenderFunc) actor.SenderFunc {
	return func(c actor.SenderContext, target *actor.PID, env *actor.MessageEnvelope) {
		id := c.Self().Id
		name := t.nameOf(id, c.Actor())
		t.mu.Lock()
		t.clocks[id]++
		l := t.clocks[id]
		t.mu.Unlock()
		if env.Header == nil {
			env.Header = map[string]string{}
		}
		env.Header.Set(header, strconv.FormatUint(l, 10))
		env.Header.Set(fromHeader, name)
		next(c, target, env)
	}
}

func (t *Tracer) record(next actor.ReceiverFunc) actor.ReceiverFunc {
	return func(c actor.ReceiverContext, env *actor.MessageEnvelope) {
		var cause uint64
		from := ""
		if env.Header != nil {
			cause, _ = strconv.ParseUint(env.Header.Get(header), 10, 64)
			from = env.Header.Get(fromHeader)
		}
		_, system := env.Message.(actor.SystemMessage)
		_, auto := env.Message.(actor.AutoReceiveMessage) // Stopping, Stopped, PoisonPill, ...
		if !system && !auto {
			name, n := t.name(c.Self().Id, c.Actor())
			t.event("receive", c.Self().Id, env.Message, cause, from, "")
			if t.Before != nil {
				t.Before(name, n, env.Message)
			}
		}
		next(c, env)
		if _, stopped := env.Message.(*actor.Stopped); stopped {
			t.forget(c.Self().Id)
		}
	}
}

// Ignored records that an actor dropped msg on purpose, and why.
func (t *Tracer) Ignored(self *actor.PID, msg any, why string) {
	if t == nil {
		return
	}
	t.event("ignore", self.Id, msg, 0, "", why)
}

func (t *Tracer) event(kind, actorID string, msg any, cause uint64, from, detail string) {
	t.mu.Lock()
	l := max(t.clocks[actorID], cause) + 1
	t.clocks[actorID] = l
	t.seq++
	name := t.names[actorID]
	if name == "" {
		name = actorID
	}
	ev := Event{Seq: t.seq, Lamport: l, Kind: kind, Actor: name, PID: actorID, Msg: typeName(msg), Cause: cause, From: from, Detail: detail}
	t.mu.Unlock()
	if t.ids != nil {
		ev.CallID, ev.Branch = t.ids(msg)
	}
	t.emit(ev)
}

// name is nameOf that also counts the message the actor is about to handle.
func (t *Tracer) name(id string, a actor.Actor) (string, int) {
	name := t.nameOf(id, a)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.handled[id]++
	return name, t.handled[id]
}

// nameOf gives an actor its name the first time it is seen (sending or handling).
func (t *Tracer) nameOf(id string, a actor.Actor) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.names[id]; !ok {
		kind := typeName(a)
		t.counts[kind]++
		t.names[id] = kind + "#" + strconv.Itoa(t.counts[kind])
	}
	return t.names[id]
}

// forget drops a stopped actor's clock and name.
func (t *Tracer) forget(id string) {
	t.mu.Lock()
	delete(t.clocks, id)
	delete(t.names, id)
	delete(t.handled, id)
	t.mu.Unlock()
}

// typeName is a message's type without its module path: "txn.MessageReceived".
func typeName(msg any) string {
	tp := reflect.TypeOf(msg)
	if tp == nil {
		return "nil"
	}
	for tp.Kind() == reflect.Pointer {
		tp = tp.Elem()
	}
	path := tp.PkgPath()
	return path[strings.LastIndex(path, "/")+1:] + "." + tp.Name()
}
