package protofix

import (
	"runtime"
	"testing"
	"time"
	"weak"

	"github.com/asynkron/protoactor-go/actor"
)

type child struct{ ballast [1 << 10]byte }

func (*child) Receive(actor.Context) {}

type started struct{}

// parent spawns n children (keeping a weak pointer to each), stops them all, and reports when
// it has seen every Terminated.
type parent struct {
	n       int
	release bool
	weak    []weak.Pointer[child]
	left    int
	done    chan struct{}
}

func (p *parent) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *started:
		for i := 0; i < p.n; i++ {
			c := &child{}
			p.weak = append(p.weak, weak.Make(c))
			pid := ctx.Spawn(actor.PropsFromProducer(func() actor.Actor { return c }))
			ctx.Send(pid, "hello") // a send caches the child's process in its PID
		}
		p.left = p.n
		for _, pid := range ctx.Children() {
			ctx.Stop(pid)
		}
	case *actor.Terminated:
		if p.release {
			ReleaseChild(ctx)
		}
		if p.left--; p.left == 0 {
			close(p.done)
		}
	}
}

// alive spawns and stops n children and counts those the garbage collector cannot free.
func alive(t *testing.T, release bool) int {
	system := actor.NewActorSystem()
	p := &parent{n: 200, release: release, done: make(chan struct{})}
	pid := system.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return p }))
	system.Root.Send(pid, &started{})
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the children did not all stop")
	}
	runtime.GC()
	runtime.GC()
	n := 0
	for _, w := range p.weak {
		if w.Value() != nil {
			n++
		}
	}
	system.Root.Stop(pid)
	return n
}

// Stopped children are freed when their parent releases each one on Terminated; without it,
// protoactor's children set keeps some of them (when this half fails, protoactor fixed
// PIDSet.Remove and ReleaseChild can go).
func TestReleaseChild(t *testing.T) {
	if n := alive(t, true); n != 0 {
		t.Fatalf("%d of 200 stopped children still reachable with ReleaseChild", n)
	}
	if n := alive(t, false); n == 0 {
		t.Fatal("protoactor no longer keeps stopped children: ReleaseChild can go")
	} else {
		t.Logf("without ReleaseChild, %d of 200 stopped children stay reachable", n)
	}
}
