package sim

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Horizon is how much virtual time a run may take: past Timer C (3 min 30 s) and every
// 64·T1 wait, so that a run that leaves something behind is caught by the quiet invariant.
const Horizon = 10 * time.Minute

// MaxSteps bounds a run's steps (a livelock is reported, not waited out).
const MaxSteps = 200000

// DefaultFaults are the network conditions of a run unless told otherwise: 1–6 ms per packet,
// so that packets sent close together may overtake each other.
var DefaultFaults = Faults{Latency: time.Millisecond, Jitter: 5 * time.Millisecond}

// Result is one run of a scenario on one seed.
type Result struct {
	Scenario string
	Seed     uint64
	Outcome  string
	// Races are the races the proxy's response contexts resolved in the run (by name).
	Races      map[string]int64
	Violations []Violation
	Steps      int
	World      *World
	Call       *Call
}

// RunScenario runs s on seed with the given network faults and checks the invariants.
func RunScenario(s Scenario, seed uint64, f Faults) (*Result, error) {
	return run(s, seed, f, nil)
}

// run runs s; ex, when set, makes the scheduling choices (exhaustive mode).
func run(s Scenario, seed uint64, f Faults, ex *explorer) (*Result, error) {
	cfg, err := proxyConfig(s)
	if err != nil {
		return nil, err
	}
	w, err := NewWorld(seed, cfg, ProxyAddr, f)
	if err != nil {
		return nil, err
	}
	defer w.Close()
	w.explorer = ex
	w.routeHops(cfg)
	call := s.Setup(w)
	w.names = map[netip.AddrPort]string{ProxyAddr: "proxy", call.Caller.At: "alice"}
	w.Add(call.Caller)
	for _, c := range call.Callees {
		w.Add(c)
		w.names[c.At] = c.Name
		c.Start(w, ProxyAddr)
	}
	call.Caller.Start(w)
	res := &Result{Scenario: s.Name, Seed: seed, World: w, Call: call}
	if err := w.Run(Horizon, MaxSteps); err != nil {
		res.Violations = append(res.Violations, Violation{Invariant: "quiet", Detail: err.Error()})
	}
	res.Violations = append(res.Violations, Check(w, call)...)
	res.Outcome, res.Steps, res.Races = Outcome(call), w.Steps(), w.engine.Races()
	return res, nil
}

// name is how an address is shown: the scenario's name for it, else the address.
func (w *World) name(a netip.AddrPort) string {
	if n, ok := w.names[a]; ok {
		return n
	}
	return a.String()
}

// TraceText is the run's trace, one line per event: virtual time, Lamport clock, what happened,
// the message and its Call-ID, branch and tags. The same seed gives the same text.
func (w *World) TraceText() string {
	var b strings.Builder
	for _, ev := range w.Trace {
		if a := ev.Actor; a != nil {
			fmt.Fprintf(&b, "%10.3fs L%-3d %-13s %-22s %-28s cause=L%d call=%s branch=%s %s\n", ev.At.Seconds(), a.Lamport,
				a.Kind, a.Actor, a.Msg, a.Cause, a.CallID, a.Branch, a.Detail)
			continue
		}
		fmt.Fprintf(&b, "%10.3fs L%-3d %-13s %-6s -> %-6s %-28s %s\n", ev.At.Seconds(), ev.Lamport, ev.Kind,
			w.name(ev.From), w.name(ev.To), ev.Summary, ids(ev.Msg))
	}
	return b.String()
}

// ids are a message's identifiers for a trace line.
func ids(msg sip.Message) string {
	if msg == nil {
		return ""
	}
	var parts []string
	if via := msg.Via(); via != nil {
		if br, ok := via.Params.Get("branch"); ok {
			parts = append(parts, "branch="+br)
		}
	}
	if to := msg.To(); to != nil {
		if tag, ok := to.Params.Get("tag"); ok {
			parts = append(parts, "to-tag="+tag)
		}
	}
	if h, ok := msg.(interface{ GetHeader(string) sip.Header }); ok {
		if mf := h.GetHeader("Max-Forwards"); mf != nil {
			parts = append(parts, "mf="+mf.Value())
		}
	}
	return strings.Join(parts, " ")
}

// Diagram is the run as a Mermaid sequence diagram: every message delivered (solid arrow) or
// lost (cross), with the virtual time of each.
//
// With actor events in the trace (Faults.Actors), the proxy's actors are participants too:
// each message between them is an async arrow from its sender (from "proxy" when it came from
// the network or a timer), each message dropped on purpose a note.
func (w *World) Diagram() string {
	var b strings.Builder
	b.WriteString("sequenceDiagram\n")
	for _, a := range w.participants() {
		fmt.Fprintf(&b, "    participant %s\n", w.name(a))
	}
	actorIDs := map[string]string{} // Mermaid ids: actor names have '.' and '#'
	id := func(name string) string {
		if name == "" {
			return "proxy"
		}
		if a, ok := actorIDs[name]; ok {
			return a
		}
		a := fmt.Sprintf("a%d", len(actorIDs)+1)
		actorIDs[name] = a
		fmt.Fprintf(&b, "    participant %s as %s\n", a, name)
		return a
	}
	for _, ev := range w.Trace {
		switch ev.Kind {
		case "deliver":
			fmt.Fprintf(&b, "    %s->>%s: %s (%.3fs)\n", w.name(ev.From), w.name(ev.To), ev.Summary, ev.At.Seconds())
		case "drop", "undeliverable", "refused":
			fmt.Fprintf(&b, "    %s-x%s: %s %s (%.3fs)\n", w.name(ev.From), w.name(ev.To), ev.Summary, ev.Kind, ev.At.Seconds())
		case "receive":
			if a := ev.Actor; a != nil {
				from, to := id(a.From), id(a.Actor)
				fmt.Fprintf(&b, "    %s-)%s: %s L%d\n", from, to, a.Msg, a.Lamport)
			}
		case "ignore":
			if a := ev.Actor; a != nil {
				fmt.Fprintf(&b, "    Note over %s: ignored %s: %s\n", id(a.Actor), a.Msg, a.Detail)
			}
		}
	}
	return b.String()
}

// participants are the caller, the proxy, then every other address in the trace, in order of
// appearance.
func (w *World) participants() []netip.AddrPort {
	out := []netip.AddrPort{CallerAddr, w.proxy}
	seen := map[netip.AddrPort]bool{CallerAddr: true, w.proxy: true}
	for _, ev := range w.Trace {
		if ev.Actor != nil {
			continue // the proxy's actors are drawn by name
		}
		for _, a := range []netip.AddrPort{ev.From, ev.To} {
			if !seen[a] {
				seen[a] = true
				out = append(out, a)
			}
		}
	}
	return out
}

// Shrunk is a failing run reduced to the fewest named faults that still make it fail.
type Shrunk struct {
	// Points are the faults left: removing any one of them makes the run pass.
	Points []FaultPoint
	// Result is the run with only those faults (no fault drawn at random).
	Result *Result
	// Tried is how many runs the shrinking took.
	Tried int
}

// Shrink takes a run of s on seed that fails (fails says whether a result does: e.g. it has
// violations) and looks for the fewest faults that keep it failing: the faults drawn at random
// are named (drop bob>proxy:200/INVITE#1, ...), the run is replayed with them named and nothing
// drawn, then each is dropped in turn while the run still fails. The schedule and the delays
// stay those of the seed. ok is false when the run does not fail, or does not fail again with
// its faults named (a failure that needs no fault at all shrinks to none).
func Shrink(s Scenario, seed uint64, f Faults, fails func(*Result) bool) (out Shrunk, ok bool, err error) {
	first, err := RunScenario(s, seed, f)
	if err != nil || !fails(first) {
		return Shrunk{Result: first, Tried: 1}, false, err
	}
	points := append(append([]FaultPoint(nil), f.Points...), first.World.Applied...)
	named := f
	named.Loss, named.Dup = 0, 0
	try := func(ps []FaultPoint) (*Result, bool, error) {
		named.Points = ps
		out.Tried++
		res, err := RunScenario(s, seed, named)
		if err != nil {
			return nil, false, err
		}
		return res, fails(res), nil
	}
	out.Tried = 1
	res, failing, err := try(points)
	if err != nil || !failing {
		return Shrunk{Result: first, Tried: out.Tried}, false, err
	}
	for i := 0; i < len(points); {
		fewer := append(append([]FaultPoint(nil), points[:i]...), points[i+1:]...)
		r, failing, err := try(fewer)
		if err != nil {
			return out, false, err
		}
		if failing {
			points, res = fewer, r
			continue
		}
		i++
	}
	out.Points, out.Result = points, res
	return out, true, nil
}
