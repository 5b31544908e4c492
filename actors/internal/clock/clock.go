// Package clock is the actor layer's one source of time. Every timer an actor arms, and every
// "now" a machine is stepped with, goes through a Clock: the wall clock in the daemon, a Fake in
// tests (and, later, a simulator) that stands still until it is advanced, so a test of a 32 s
// timer takes no 32 s and runs the same every time.
package clock

import (
	"container/heap"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// Clock tells the time and runs functions later.
type Clock interface {
	Now() time.Time
	// AfterFunc runs f once d has passed: on a goroutine of its own for the wall clock, inside
	// Advance for a Fake. f must not block (actors' timers only send a message).
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is an armed AfterFunc; Stop reports whether it stopped it before it ran.
type Timer interface{ Stop() bool }

// Wall is the real clock.
var Wall Clock = wall{}

type wall struct{}

func (wall) Now() time.Time                            { return time.Now() }
func (wall) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// SendAfter sends msg to the actor of ctx once d has passed on c. A timer stopped late can still
// deliver: the message should say which arming it belongs to (a generation) when that matters.
func SendAfter(c Clock, ctx actor.Context, d time.Duration, msg any) Timer {
	self, root := ctx.Self(), ctx.ActorSystem().Root
	return c.AfterFunc(d, func() { root.Send(self, msg) })
}

// Fake is a clock that moves only when Advance moves it. It is safe for concurrent use.
type Fake struct {
	mu     sync.Mutex
	now    time.Time
	seq    uint64
	timers fakeHeap
}

// NewFake returns a Fake standing at start.
func NewFake(start time.Time) *Fake { return &Fake{now: start} }

// Now is the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// AfterFunc arms a timer that Advance runs once the fake time reaches now+d.
func (f *Fake) AfterFunc(d time.Duration, fn func()) Timer {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	t := &fakeTimer{f: f, at: f.now.Add(d), seq: f.seq, fn: fn}
	heap.Push(&f.timers, t)
	return t
}

// Advance moves the time by d, running every timer that falls due on the way, in the order of
// their due times (and of arming, for equal ones), each with the time set to its due time.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	until := f.now.Add(d)
	for len(f.timers) > 0 && !f.timers[0].at.After(until) {
		t := heap.Pop(&f.timers).(*fakeTimer)
		t.index = -1
		f.now = t.at
		f.mu.Unlock()
		t.fn() // outside the lock: it may arm timers
		f.mu.Lock()
	}
	f.now = until
	f.mu.Unlock()
}

// Set moves the time to t without running the timers due by then: a simulator that wants to
// choose the order of a timer and other events at one instant runs them with RunDue. A t
// before the current time changes nothing.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t.After(f.now) {
		f.now = t
	}
}

// RunDue runs the earliest timer due at or before the current time and reports whether there
// was one.
func (f *Fake) RunDue() bool {
	f.mu.Lock()
	if len(f.timers) == 0 || f.timers[0].at.After(f.now) {
		f.mu.Unlock()
		return false
	}
	t := heap.Pop(&f.timers).(*fakeTimer)
	t.index = -1
	f.mu.Unlock()
	t.fn()
	return true
}

// Next is when the earliest armed timer falls due; false when none is armed.
func (f *Fake) Next() (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.timers) == 0 {
		return time.Time{}, false
	}
	return f.timers[0].at, true
}

// Pending is the number of timers armed and not yet run or stopped.
func (f *Fake) Pending() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.timers)
}

type fakeTimer struct {
	f     *Fake
	at    time.Time
	seq   uint64
	fn    func()
	index int
}

func (t *fakeTimer) Stop() bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	if t.index < 0 {
		return false
	}
	heap.Remove(&t.f.timers, t.index)
	t.index = -1
	return true
}

type fakeHeap []*fakeTimer

func (h fakeHeap) Len() int { return len(h) }
func (h fakeHeap) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}
func (h fakeHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *fakeHeap) Push(x any) {
	t := x.(*fakeTimer)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *fakeHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}
