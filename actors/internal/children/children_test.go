package children

import (
	"testing"

	"github.com/asynkron/protoactor-go/actor"
)

func pid(id string) *actor.PID { return &actor.PID{Id: id} }

func TestRegistry(t *testing.T) {
	var r Registry[string]
	if _, ok := r.Get("a"); ok || r.Len() != 0 {
		t.Fatal("zero value not empty")
	}
	r.Add("a", pid("1"))
	r.Add("b", pid("2"))
	if p, ok := r.Get("a"); !ok || p.Id != "1" || r.Len() != 2 {
		t.Fatal("add/get")
	}
	// A key served again by a newer child: the old child's end does not take the key away.
	r.Add("a", pid("3"))
	if k, ok := r.Gone("1"); !ok || k != "a" {
		t.Fatalf("gone 1: %q %v", k, ok)
	}
	if p, ok := r.Get("a"); !ok || p.Id != "3" {
		t.Fatal("the newer child lost its key")
	}
	// Forget: no longer routed to, still ours until it is gone.
	r.Forget("b")
	if _, ok := r.Get("b"); ok {
		t.Fatal("forgotten key still routed")
	}
	if k, ok := r.Gone("2"); !ok || k != "b" {
		t.Fatalf("gone 2: %q %v", k, ok)
	}
	if _, ok := r.Gone("2"); ok {
		t.Fatal("gone twice")
	}
	if _, ok := r.Gone("nobody"); ok {
		t.Fatal("a stranger's id")
	}
	n := 0
	r.Each(func(string, *actor.PID) { n++ })
	if n != 1 {
		t.Fatalf("each: %d", n)
	}
}

// After a flood the maps are made anew once empty.
func TestRegistryShrinks(t *testing.T) {
	var r Registry[int]
	for i := range shrinkAfter + 1 {
		r.Add(i, pid(string(rune('a'+i%26))+string(rune(i))))
	}
	r.Each(func(_ int, p *actor.PID) { r.Gone(p.Id) })
	if r.Len() != 0 || r.byKey != nil || r.peak != 0 {
		t.Fatalf("not remade: len %d, peak %d", r.Len(), r.peak)
	}
	r.Add(1, pid("x"))
	if p, ok := r.Get(1); !ok || p.Id != "x" {
		t.Fatal("unusable after shrinking")
	}
}
