// Package sim runs the real proxy — the engine, its actors and the sipcore machines — on a
// seeded single-threaded scheduler, a virtual clock and an in-memory network, with scripted SIP
// endpoints around it, and checks invariants on what happens. The same seed gives the same run,
// byte for byte: every choice (which ready mailbox or due packet goes next, each packet's delay,
// loss and duplication) comes from one seeded generator, and nothing runs on a goroutine of its
// own.
//
// The scheduler is protoactor's Dispatcher: an actor's mailbox, once it has messages, becomes a
// task the world runs when its turn is drawn (a task drains the mailbox, as protoactor does).
// The clock is the engine's one clock (clock.Fake), moved to the next timer or packet when
// nothing else is ready. The network is the transport port (transport.Wire): messages are bytes,
// parsed where they arrive, and no socket is opened.
package sim

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/google/uuid"

	"github.com/partysip/partysip/actors"
	"github.com/partysip/partysip/actors/internal/clock"
	"github.com/partysip/partysip/actors/transport"
	"github.com/partysip/partysip/config"
	"github.com/partysip/partysip/sipcore/transaction"
)

// Epoch is the virtual time a run starts at.
var Epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Faults are the seeded network faults of a run.
type Faults struct {
	// Loss and Dup are the chances that a packet is dropped, or delivered twice.
	Loss, Dup float64
	// Latency is every packet's least delay; Jitter the most added to it at random (packets
	// overtake each other when it is larger than the gap between them).
	Latency, Jitter time.Duration
	// Points are faults chosen by name (drop the 2nd 200, crash the 1st IST).
	Points []FaultPoint
	// Actors adds the actor-level causal events to the trace: every message an actor handled
	// and every one it dropped on purpose, with Lamport clocks (as the daemon logs at debug).
	Actors bool
}

// Endpoint is a scripted SIP user agent on the simulated network.
type Endpoint interface {
	// Addr is where it listens (and sends from).
	Addr() netip.AddrPort
	// Receive is given each message that arrives for it.
	Receive(w *World, msg sip.Message)
}

type packet struct {
	at       time.Time
	seq      uint64
	from, to netip.AddrPort
	b        []byte
	lamport  uint64
}

// World is one simulated run.
type World struct {
	// sched draws which ready thing runs next, net the packets' fates and delays, script the
	// endpoints' timings: separate streams, so that naming a fault does not move the schedule.
	sched, net, script *rand.Rand
	clock              *clock.Fake
	faults             Faults
	tasks              []func()
	// passthrough runs tasks on goroutines of their own, as protoactor does: once the run is
	// over, so that stopping the engine (which waits for actors) cannot wait on the world.
	passthrough bool
	packets     []*packet
	seq         uint64
	endpoints   map[netip.AddrPort]Endpoint
	proxy       netip.AddrPort
	sock        *transport.Socket
	engine      *actors.Engine
	// lamport is each node's Lamport clock (the proxy counts as one node).
	lamport map[netip.AddrPort]uint64
	// Trace is everything that happened on the network, in order.
	Trace []Event
	steps int
	// routedTo are the hops the proxy's routes name; names show addresses by role.
	routedTo []netip.AddrPort
	names    map[netip.AddrPort]string
	points   []*pointState
	// sent counts the packets of each from>to:name, to name the faults drawn at random.
	sent map[string]int
	// Applied are the faults drawn at random in this run, named as fault points (what Shrink
	// starts from).
	Applied []FaultPoint
	// explorer, in exhaustive mode, makes the scheduling choices instead of sched, and the
	// scripts' timings are their middle values.
	explorer *explorer
}

// choose picks which of n ready things runs next.
func (w *World) choose(n int) int {
	if w.explorer != nil {
		return w.explorer.choose(w, n)
	}
	return w.sched.IntN(n)
}

// Event is one line of a trace.
type Event struct {
	At      time.Duration // since Epoch
	Lamport uint64
	Kind    string // send, deliver, drop, dup, undeliverable
	From    netip.AddrPort
	To      netip.AddrPort
	Msg     sip.Message // parsed (nil when the bytes did not parse)
	Summary string
	// Actor is set for an actor-level event (Kind "receive" or "ignore").
	Actor *actors.ActorEvent
}

// one is held by the world that runs: sipgo draws response To tags from google/uuid's generator,
// which a world seeds for its run, so two worlds cannot run at once in a process.
var one sync.Mutex

// NewWorld makes a world for seed with the proxy configured by cfg listening at proxy (cfg's
// listen entries are replaced by it).
func NewWorld(seed uint64, cfg *config.Config, proxy netip.AddrPort, faults Faults) (*World, error) {
	one.Lock()
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	uuid.SetRand(rand.NewChaCha8(key)) // the To tags sipgo makes for our own responses
	w := &World{
		sched:     rand.New(rand.NewPCG(seed, 1)),
		net:       rand.New(rand.NewPCG(seed, 2)),
		script:    rand.New(rand.NewPCG(seed, 3)),
		sent:      map[string]int{},
		clock:     clock.NewFake(Epoch),
		faults:    faults,
		endpoints: map[netip.AddrPort]Endpoint{},
		proxy:     proxy,
		lamport:   map[netip.AddrPort]uint64{},
	}
	w.sock = transport.NewSimSocket(proxy, func(b []byte, to netip.AddrPort) error { return w.send(proxy, to, b) })
	l := config.Listener{Transport: "udp", Host: proxy.Addr().String(), Port: int(proxy.Port())}
	cfg.Listen = []string{l.String()}
	for _, p := range faults.Points {
		w.points = append(w.points, &pointState{FaultPoint: p})
	}
	var intercept func(string, int, any)
	for _, p := range w.points {
		if p.actorName() {
			intercept = w.intercept
		}
	}
	var trace func(actors.ActorEvent)
	if faults.Actors {
		trace = func(ev actors.ActorEvent) {
			if !w.passthrough { // the run is over once the world closes
				w.Trace = append(w.Trace, Event{At: w.Elapsed(), Lamport: ev.Lamport, Kind: ev.Kind, Actor: &ev})
			}
		}
	}
	e, err := actors.Start(actors.Options{
		Config: cfg, Clock: w.clock, Dispatcher: w, BranchPrefix: fmt.Sprintf("s%x", seed), Fault: w.crash, Trace: trace, Intercept: intercept,
		Network: &actors.Network{Wire: &wire{w: w}, Listeners: []config.Listener{l}},
	})
	if err != nil {
		uuid.SetRand(nil)
		one.Unlock()
		return nil, err
	}
	w.engine = e
	return w, nil
}

// Schedule is protoactor's Dispatcher: a mailbox with messages becomes a ready task.
func (w *World) Schedule(fn func()) {
	if w.passthrough {
		go fn()
		return
	}
	w.tasks = append(w.tasks, fn)
}

// Throughput is how many messages a mailbox handles before yielding (protoactor drains the
// mailbox in one task anyway).
func (w *World) Throughput() int { return 1 }

// Add puts an endpoint on the network.
func (w *World) Add(e Endpoint) { w.endpoints[e.Addr()] = e }

// Now is the virtual time.
func (w *World) Now() time.Time { return w.clock.Now() }

// Elapsed is the virtual time since the run started.
func (w *World) Elapsed() time.Duration { return w.clock.Now().Sub(Epoch) }

// Engine is the proxy under test.
func (w *World) Engine() *actors.Engine { return w.engine }

// After runs f once d has passed on the virtual clock (endpoints' timers).
func (w *World) After(d time.Duration, f func()) clock.Timer { return w.clock.AfterFunc(d, f) }

// Rand is the run's seeded generator for endpoints' scripted choices.
func (w *World) Rand() *rand.Rand { return w.script }

// intercept crashes the actors crash points name, on the message they name.
func (w *World) intercept(actor string, n int, _ any) {
	for _, p := range w.points {
		if p.actorName() && actor == p.What+"#"+strconv.Itoa(p.N) && n == max(p.At, 1) {
			panic("fault injected: crash " + p.String())
		}
	}
}

// crash is the engine's fault hook: the crash points that name a new transaction actor.
func (w *World) crash(kind transaction.Kind, _ *sip.Request) bool {
	hit := false
	for _, p := range w.points {
		if p.Action == "crash" && !p.actorName() && kinds[p.What] == kind && p.hit() {
			hit = true
		}
	}
	return hit
}

// Send puts a message from an endpoint on the network.
func (w *World) Send(from, to netip.AddrPort, msg sip.Message) {
	var b bytes.Buffer
	msg.StringWrite(&b)
	_ = w.send(from, to, b.Bytes())
}

// send puts bytes on the network, with the run's faults: the named ones, then those drawn.
// Each packet draws its fate and delays whether or not they apply, so that a run replayed with
// its drawn faults named instead keeps every other packet's delay.
func (w *World) send(from, to netip.AddrPort, b []byte) error {
	w.lamport[from]++
	p := &packet{from: from, to: to, b: bytes.Clone(b), lamport: w.lamport[from]}
	ev := w.record("send", p)
	lossRoll, dupRoll := w.net.Float64(), w.net.Float64()
	delay, dupDelay := w.delay(), w.delay()
	key := w.name(from) + ">" + w.name(to) + ":" + name(ev.Msg)
	w.sent[key]++
	drop, dup := false, false
	for _, fp := range w.points {
		if fp.Action != "crash" && fp.matches(w.name(from), w.name(to), name(ev.Msg)) && fp.hit() {
			drop = drop || fp.Action == "drop"
			dup = dup || fp.Action == "dup"
			delay += fp.Delay
		}
	}
	named := FaultPoint{From: w.name(from), To: w.name(to), What: name(ev.Msg), N: w.sent[key]}
	if !drop && lossRoll < w.faults.Loss {
		drop = true
		named.Action = "drop"
		w.Applied = append(w.Applied, named)
	}
	if drop {
		w.record("drop", p)
		return nil
	}
	w.enqueue(p, delay)
	if !dup && dupRoll < w.faults.Dup {
		dup = true
		named.Action = "dup"
		w.Applied = append(w.Applied, named)
	}
	if dup {
		d := *p
		w.record("dup", &d)
		w.enqueue(&d, dupDelay)
	}
	return nil
}

// delay is a packet's drawn delay.
func (w *World) delay() time.Duration {
	d := w.faults.Latency
	if w.faults.Jitter > 0 {
		d += time.Duration(w.net.Int64N(int64(w.faults.Jitter) + 1))
	}
	return d
}

func (w *World) enqueue(p *packet, d time.Duration) {
	w.seq++
	p.at, p.seq = w.clock.Now().Add(d), w.seq
	w.packets = append(w.packets, p)
}

// deliver hands a packet to its endpoint, or to the proxy.
func (w *World) deliver(p *packet) {
	w.lamport[p.to] = max(w.lamport[p.to], p.lamport) + 1
	msg, err := sip.NewParser().ParseSIP(p.b)
	if err != nil {
		w.record("undeliverable", p)
		return
	}
	w.record("deliver", p)
	if p.to == w.proxy {
		transport.StampSource(msg, "UDP", p.from)
		w.engine.Deliver(msg, transport.NewPeer("UDP", p.from.String(), w.sock))
		return
	}
	if e, ok := w.endpoints[p.to]; ok {
		e.Receive(w, msg)
		return
	}
	w.record("undeliverable", p) // nobody listens there: a dead hop
}

// routeHops notes the next hops cfg's static routes name (where the proxy may send).
func (w *World) routeHops(cfg *config.Config) {
	for _, r := range cfg.Routes {
		for _, hop := range append([]string{r.To}, r.Alternates...) {
			var u sip.Uri
			if sip.ParseUri(hop, &u) != nil {
				continue
			}
			if a, err := hostPort(u.Host, u.Port); err == nil {
				w.routedTo = append(w.routedTo, a)
			}
		}
	}
}

// refused records a connection to a stream next hop that was refused.
func (w *World) refused(to netip.AddrPort, req *sip.Request) {
	var b bytes.Buffer
	req.StringWrite(&b)
	w.lamport[w.proxy]++
	w.record("refused", &packet{from: w.proxy, to: to, b: b.Bytes(), lamport: w.lamport[w.proxy]})
}

func (w *World) record(kind string, p *packet) Event {
	ev := Event{At: w.Elapsed(), Lamport: w.lamport[p.from], Kind: kind, From: p.from, To: p.to}
	if kind == "deliver" || kind == "undeliverable" {
		ev.Lamport = w.lamport[p.to]
	}
	if msg, err := sip.NewParser().ParseSIP(p.b); err == nil {
		ev.Msg, ev.Summary = msg, summary(msg)
	} else {
		ev.Summary = "unparsable"
	}
	w.Trace = append(w.Trace, ev)
	return ev
}

// ErrTooLong means the run did not go quiet within its step budget.
var ErrTooLong = errors.New("sim: the run did not go quiet within its step budget")

// Run runs the world until nothing is left to do — no ready task, no packet in flight, no timer
// due before until — or until the step budget is spent. Each step runs one ready thing drawn
// at random among the ready mailboxes and the packets due; when none is ready, the clock moves
// to the next timer or packet.
func (w *World) Run(until time.Duration, maxSteps int) error {
	end := Epoch.Add(until)
	for ; w.steps < maxSteps; w.steps++ {
		now := w.clock.Now()
		var due []int
		for i, p := range w.packets {
			if !p.at.After(now) {
				due = append(due, i)
			}
		}
		tasks, timer := len(w.tasks), 0
		if w.explorer != nil {
			// Exhaustive mode runs the mailboxes in the order they became ready and branches
			// on where each due packet, and each timer due at this instant, falls among them:
			// the orders of independent actors' steps among themselves would multiply the
			// schedules without new states.
			tasks = min(tasks, 1)
			if next, ok := w.clock.Next(); ok && !next.After(now) {
				timer = 1
			}
		}
		if n := tasks + timer + len(due); n > 0 {
			k := w.choose(n)
			if k == tasks+len(due) {
				w.clock.RunDue()
				continue
			}
			if k < tasks {
				fn := w.tasks[k]
				w.tasks = slices.Delete(w.tasks, k, k+1)
				fn()
			} else {
				i := due[k-tasks]
				p := w.packets[i]
				w.packets = slices.Delete(w.packets, i, i+1)
				w.deliver(p)
			}
			continue
		}
		next, ok := w.clock.Next()
		for _, p := range w.packets {
			if !ok || p.at.Before(next) {
				next, ok = p.at, true
			}
		}
		if !ok || next.After(end) {
			return nil
		}
		if w.explorer != nil {
			w.clock.Set(next) // its timers are choices too
			continue
		}
		w.clock.Advance(next.Sub(now))
	}
	return ErrTooLong
}

// Steps is how many things the run did.
func (w *World) Steps() int { return w.steps }

// Close stops the engine (its actors then run on goroutines of their own).
func (w *World) Close() {
	w.passthrough = true
	for _, fn := range w.tasks {
		go fn()
	}
	w.tasks = nil
	w.engine.Stop()
	uuid.SetRand(nil)
	one.Unlock()
}

// summary is a message's first line, short: "INVITE", "180 Ringing".
func summary(msg sip.Message) string {
	switch m := msg.(type) {
	case *sip.Request:
		return string(m.Method)
	case *sip.Response:
		cseq := ""
		if c := m.CSeq(); c != nil {
			cseq = " (" + string(c.MethodName) + ")"
		}
		return fmt.Sprintf("%d %s%s", m.StatusCode, m.Reason, cseq)
	}
	return "?"
}
