package clock

import (
	"slices"
	"testing"
	"time"
)

func TestFake(t *testing.T) {
	start := time.Unix(1000, 0)
	f := NewFake(start)
	var got []string
	var at []time.Duration
	mark := func(s string) func() {
		return func() { got = append(got, s); at = append(at, f.Now().Sub(start)) }
	}
	f.AfterFunc(3*time.Second, mark("c"))
	f.AfterFunc(time.Second, mark("a"))
	stopped := f.AfterFunc(2*time.Second, mark("never"))
	f.AfterFunc(time.Second, func() {
		mark("b")()
		f.AfterFunc(500*time.Millisecond, mark("a+1.5")) // armed while advancing
	})
	if !stopped.Stop() || stopped.Stop() {
		t.Fatal("Stop reports the first stop only")
	}
	f.Advance(time.Second - 1)
	if len(got) != 0 || f.Pending() != 3 {
		t.Fatalf("fired early: %v, %d pending", got, f.Pending())
	}
	f.Advance(5 * time.Second)
	want := []string{"a", "b", "a+1.5", "c"}
	if !slices.Equal(got, want) || !slices.Equal(at, []time.Duration{time.Second, time.Second, 1500 * time.Millisecond, 3 * time.Second}) {
		t.Fatalf("ran %v at %v, want %v", got, at, want)
	}
	if f.Now() != start.Add(6*time.Second-1) || f.Pending() != 0 {
		t.Fatalf("now %v, %d pending", f.Now(), f.Pending())
	}
}
