package causal

import (
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

type ping struct{ To *actor.PID }
type pong struct{}

type relayer struct{ done chan struct{} }

func (r *relayer) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *ping:
		ctx.Send(m.To, &pong{})
	case *pong:
		close(r.done)
	}
}

// A message between traced actors carries its sender's clock: the receiver's event names it as
// the cause and moves past it; a message from outside has none; actors are named by kind and
// order; an ignored message is recorded with why.
func TestLamportThroughEnvelopes(t *testing.T) {
	var mu sync.Mutex
	var events []Event
	tr := New(func(e Event) { mu.Lock(); events = append(events, e); mu.Unlock() }, nil)
	sys := actor.NewActorSystem()
	done := make(chan struct{})
	props := actor.PropsFromProducer(func() actor.Actor { return &relayer{done: done} }, tr.Options()...)
	a, b := sys.Root.Spawn(props), sys.Root.Spawn(props)
	sys.Root.Send(a, &ping{To: b})
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("no pong")
	}
	tr.Ignored(b, &pong{}, "test")
	mu.Lock()
	defer mu.Unlock()
	if len(events) != 3 {
		t.Fatalf("%d events: %+v", len(events), events)
	}
	p, q, ig := events[0], events[1], events[2]
	if p.Msg != "causal.ping" || p.Cause != 0 || p.Actor != "causal.relayer#1" || p.Lamport != 1 {
		t.Errorf("ping from outside: %+v", p)
	}
	if q.Msg != "causal.pong" || q.Cause != 2 || q.Lamport != 3 || q.Actor != "causal.relayer#2" {
		t.Errorf("pong from a (its clock 2 when it sent): %+v", q)
	}
	if ig.Kind != "ignore" || ig.Detail != "test" || ig.Lamport != 4 || ig.Actor != "causal.relayer#2" {
		t.Errorf("ignored: %+v", ig)
	}
	var none *Tracer
	if none.Options() != nil {
		t.Error("a nil tracer installs middleware")
	}
	none.Ignored(b, &pong{}, "nothing happens")
}
