package sim

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ExhaustiveFaults are the network of exhaustive mode: every packet takes exactly 1 ms and none
// is lost, so that events a scenario times alike meet at the proxy at the same instant, and
// the order they are handled in is the scheduler's choice — which exhaustive mode enumerates.
var ExhaustiveFaults = Faults{Latency: time.Millisecond}

// explorer makes a run's scheduling choices: it follows a prefix of choices, then takes the
// first option, and records how many options each choice point had. Only the first depth
// points that had more than one option branch; later ones take the first.
type explorer struct {
	prefix []int
	depth  int
	// after: choices before this virtual time take the first option (the run's start-up is
	// not what is studied).
	after  time.Duration
	taken  []int // the choice at each branching point
	widths []int // the options at each branching point
	// states are the distinct states seen at branching points: what the network has carried
	// so far and what it carries now.
	states map[[32]byte]bool
}

func (e *explorer) choose(w *World, n int) int {
	if n < 2 || len(e.taken) >= e.depth || w.Elapsed() < e.after {
		return 0
	}
	e.states[w.state()] = true
	k := 0
	if i := len(e.taken); i < len(e.prefix) {
		k = min(e.prefix[i], n-1)
	}
	e.taken = append(e.taken, k)
	e.widths = append(e.widths, n)
	return k
}

// state digests what the run has shown so far: every packet sent and delivered (in order),
// the packets in flight, and the mailboxes waiting. Two schedules that lead to the same
// digest are the same state as far as anything outside the proxy can tell.
func (w *World) state() [32]byte {
	h := sha256.New()
	for _, ev := range w.Trace {
		fmt.Fprintf(h, "%d %s %s>%s %s|", ev.At, ev.Kind, ev.From, ev.To, ev.Summary)
	}
	inflight := make([]string, 0, len(w.packets))
	for _, p := range w.packets {
		inflight = append(inflight, fmt.Sprintf("%d %s>%s %x", p.at.UnixNano(), p.from, p.to, sha256.Sum256(p.b)))
	}
	slices.Sort(inflight)
	fmt.Fprintf(h, "%s|%d", strings.Join(inflight, ","), len(w.tasks))
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// ExploreOptions bound and shape an exploration.
type ExploreOptions struct {
	// Depth is how many branching choices are enumerated, from virtual time After on; MaxRuns
	// bounds the schedules run.
	Depth   int
	After   time.Duration
	MaxRuns int
	// Actors traces actor-level events (and counts the ignored ones in Ignored).
	Actors bool
}

// Exploration is what exhaustive mode found for a scenario.
type Exploration struct {
	Scenario string
	Depth    int
	After    time.Duration
	// Paths is how many schedules were run; States how many distinct states their branching
	// points reached; Outcomes how the runs ended.
	Paths    int
	States   int
	Outcomes map[string]int
	// Races counts the races the proxy resolved, over all schedules; Ignored the messages
	// actors dropped on purpose, by why (with Actors).
	Races   map[string]int64
	Ignored map[string]int
	// IgnoredWitness is, for each reason, the first path whose run dropped a message for it.
	IgnoredWitness map[string][]int
	// Witness is, for each outcome, the first path that reached it (RunPath replays it).
	Witness map[string][]int
	// Failures are the runs that broke an invariant, each with the path that replays it.
	Failures []PathResult
	// Complete is false when the run budget ended the exploration early.
	Complete bool
}

// PathResult is one schedule's run.
type PathResult struct {
	Path   []int
	Result *Result
}

// trim drops a path's trailing first choices: a replay takes the first option past its end.
func trim(p []int) []int {
	n := len(p)
	for n > 1 && p[n-1] == 0 {
		n--
	}
	if n == 0 {
		return []int{0}
	}
	return slices.Clone(p[:n])
}

// PathString writes a path as --path takes it: "0,1,0".
func PathString(p []int) string {
	parts := make([]string, len(p))
	for i, k := range p {
		parts[i] = strconv.Itoa(k)
	}
	return strings.Join(parts, ",")
}

// ParsePath reads "0,1,0".
func ParsePath(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		k, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || k < 0 {
			return nil, fmt.Errorf("path %q: want choices such as 0,1,0", s)
		}
		out = append(out, k)
	}
	return out, nil
}

// Explore runs s under every schedule that differs in its first depth branching choices made
// from virtual time after on (depth-first, each run replaying a prefix and extending it), with
// the network of ExhaustiveFaults and every scripted timing at its middle value, and checks
// the invariants on each. A branching choice is where a due packet or a timer due at that
// instant falls among the ready mailboxes. maxRuns bounds the work.
func Explore(s Scenario, o ExploreOptions) (*Exploration, error) {
	depth, after, maxRuns := o.Depth, o.After, o.MaxRuns
	out := &Exploration{Scenario: s.Name, Depth: depth, After: after, Outcomes: map[string]int{}, Witness: map[string][]int{},
		Races: map[string]int64{}, Ignored: map[string]int{}, IgnoredWitness: map[string][]int{}, Complete: true}
	f := ExhaustiveFaults
	f.Actors = o.Actors
	states := map[[32]byte]bool{}
	var prefix []int
	for {
		if out.Paths >= maxRuns {
			out.Complete = false
			break
		}
		ex := &explorer{prefix: prefix, depth: depth, after: after, states: states}
		res, err := run(s, 1, f, ex)
		if err != nil {
			return nil, err
		}
		out.Paths++
		for r, n := range res.Races {
			out.Races[r] += n
		}
		for _, ev := range res.World.Trace {
			if ev.Actor != nil && ev.Actor.Kind == "ignore" {
				out.Ignored[ev.Actor.Detail]++
				if _, ok := out.IgnoredWitness[ev.Actor.Detail]; !ok {
					out.IgnoredWitness[ev.Actor.Detail] = trim(ex.taken)
				}
			}
		}
		out.Outcomes[res.Outcome]++
		if _, ok := out.Witness[res.Outcome]; !ok {
			out.Witness[res.Outcome] = trim(ex.taken)
		}
		if len(res.Violations) > 0 {
			out.Failures = append(out.Failures, PathResult{Path: trim(ex.taken), Result: res})
		}
		// The next schedule: the deepest choice with an option left, advanced by one.
		i := len(ex.taken) - 1
		for i >= 0 && ex.taken[i]+1 >= ex.widths[i] {
			i--
		}
		if i < 0 {
			break
		}
		prefix = append(slices.Clone(ex.taken[:i]), ex.taken[i]+1)
	}
	out.States = len(states)
	return out, nil
}

// RunPath runs s under one schedule of exhaustive mode (a path Explore reported, with its after).
func RunPath(s Scenario, path []int, after time.Duration, actorEvents bool) (*Result, error) {
	f := ExhaustiveFaults
	f.Actors = actorEvents
	return run(s, 1, f, &explorer{prefix: path, depth: len(path), after: after, states: map[[32]byte]bool{}})
}
