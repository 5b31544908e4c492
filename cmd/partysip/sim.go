package main

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/partysip/partysip/actors/sim"
	"github.com/partysip/partysip/config"
)

// cmdSim runs scenarios on the simulator: the real proxy on a seeded scheduler, a virtual clock
// and an in-memory network, with the invariants checked on every run.
func cmdSim(args []string) int {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	seed := fs.Uint64("seed", 1, "first seed")
	runs := fs.Int("runs", 100, "seeds to run per scenario (seed, seed+1, ...)")
	loss := fs.Float64("loss", sim.DefaultFaults.Loss, "chance that a packet is lost")
	dup := fs.Float64("dup", sim.DefaultFaults.Dup, "chance that a packet is delivered twice")
	latency := fs.Duration("latency", sim.DefaultFaults.Latency, "least delay of a packet")
	jitter := fs.Duration("jitter", sim.DefaultFaults.Jitter, "most delay added to a packet at random (packets overtake each other)")
	trace := fs.Bool("trace", false, "print every run's trace (virtual time, Lamport clock, event, message, ids)")
	diagram := fs.Bool("diagram", false, "print every run as a Mermaid sequence diagram")
	list := fs.Bool("list", false, "list the scenarios and the invariants")
	actorEvents := fs.Bool("actors", false, "trace actor-level events too: every message an actor handled and every one it dropped on purpose, with Lamport clocks")
	exhaustive := fs.Bool("exhaustive", false, "enumerate the schedules instead of drawing them: every order of due packets and timers among the ready mailboxes, up to --depth choices (1 ms network, scripted timings at their middle)")
	depth := fs.Int("depth", 8, "exhaustive mode: how many branching choices are enumerated")
	after := fs.Duration("after", 0, "exhaustive mode: branch only from this virtual time on (skip the start of the call)")
	maxRuns := fs.Int("max-runs", 20000, "exhaustive mode: the most schedules run per scenario")
	path := fs.String("path", "", "run one schedule of exhaustive mode, as reported (0,1,0), with --after")
	var replayLogs multi
	fs.Var(&replayLogs, "replay", "replay a SIPp message log (sipp -trace_msg), repeatable: one per endpoint; with -c, the daemon's configuration of the real run")
	pcap := fs.String("pcap", "", "replay the SIP over UDP of a capture file (read with tshark), with -c")
	cfgFile := fs.String("c", "", "replay: the configuration the real daemon ran with (its routes; the proxy listens on its first UDP listener)")
	proxyAddr := fs.String("proxy", "", "replay: the real proxy's address (host:port), if not the first UDP listener of -c")
	shrink := fs.Bool("shrink", false, "reduce a failing run to the fewest named faults that still make it fail")
	var faults multi
	fs.Var(&faults, "fault", "a fault by name, repeatable: 'drop 200/INVITE#2', 'dup bob>proxy:180', 'delay CANCEL#1 3ms', 'crash IST#1'")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: partysip sim [flags] [SCENARIO ...]   (every scenario when none is named)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *list {
		for _, n := range sim.ScenarioNames() {
			fmt.Printf("%-15s %s\n", n, sim.Scenarios[n].About)
		}
		fmt.Printf("\ninvariants: %s\n", strings.Join(sim.Invariants, ", "))
		return 0
	}
	names := fs.Args()
	if len(names) == 0 {
		names = sim.ScenarioNames()
	}
	for _, n := range names {
		if _, ok := sim.Scenarios[n]; !ok {
			fmt.Fprintf(os.Stderr, "partysip sim: unknown scenario %q (%s)\n", n, strings.Join(sim.ScenarioNames(), ", "))
			return 2
		}
	}
	if *runs < 1 || *loss < 0 || *loss >= 1 || *dup < 0 || *dup >= 1 || *latency < 0 || *jitter < 0 {
		fmt.Fprintln(os.Stderr, "partysip sim: --runs must be at least 1, --loss and --dup within [0, 1), delays not negative")
		return 2
	}
	if len(replayLogs) > 0 || *pcap != "" {
		return simReplay(replayLogs, *pcap, *cfgFile, *proxyAddr, *trace, *diagram)
	}
	if *exhaustive || *path != "" {
		return simExhaustive(names, *depth, *after, *maxRuns, *path, *trace, *diagram, *actorEvents)
	}
	f := sim.Faults{Loss: *loss, Dup: *dup, Latency: *latency, Jitter: *jitter, Actors: *actorEvents}
	for _, s := range faults {
		p, err := sim.ParseFaultPoint(s)
		if err != nil {
			fmt.Fprintf(os.Stderr, "partysip sim: %v\n", err)
			return 2
		}
		f.Points = append(f.Points, p)
	}
	failed := false
	for _, n := range names {
		outcomes := map[string]int{}
		races := map[string]int64{}
		violations := 0
		for s := *seed; s < *seed+uint64(*runs); s++ {
			res, err := sim.RunScenario(sim.Scenarios[n], s, f)
			if err != nil {
				fmt.Fprintf(os.Stderr, "partysip sim: %v\n", err)
				return 1
			}
			outcomes[res.Outcome]++
			for r, k := range res.Races {
				races[r] += k
			}
			if *trace || *diagram || len(res.Violations) > 0 {
				printRun(os.Stdout, res, *trace || len(res.Violations) > 0, *diagram || len(res.Violations) > 0, f)
			}
			if len(res.Violations) > 0 && *shrink {
				printShrunk(os.Stdout, n, s, f)
			}
			violations += len(res.Violations)
		}
		var parts []string
		for _, o := range slices.Sorted(maps.Keys(outcomes)) {
			parts = append(parts, fmt.Sprintf("%s ×%d", o, outcomes[o]))
		}
		fmt.Printf("%s: %d runs (seeds %d–%d): %s; %d invariant violations%s\n", n, *runs, *seed, *seed+uint64(*runs)-1,
			strings.Join(parts, ", "), violations, raceSummary(races))
		failed = failed || violations > 0
	}
	if failed {
		return 1
	}
	return 0
}

// printRun prints one run: its outcome and violations, with how to run it again.
func printRun(out io.Writer, res *sim.Result, trace, diagram bool, f sim.Faults) {
	fmt.Fprintf(out, "== %s seed %d: outcome %s, %d steps (again: %s)\n", res.Scenario, res.Seed, res.Outcome, res.Steps, again(res.Scenario, res.Seed, f))
	printDetail(out, res, trace, diagram)
}

// printDetail prints a run's violations, and its trace and diagram when asked.
func printDetail(out io.Writer, res *sim.Result, trace, diagram bool) {
	for _, v := range res.Violations {
		fmt.Fprintf(out, "VIOLATION %s\n", v)
	}
	if trace {
		fmt.Fprint(out, res.World.TraceText())
	}
	if diagram {
		fmt.Fprintf(out, "```mermaid\n%s```\n", res.World.Diagram())
	}
}

// again is the command that runs one run again.
func again(scenario string, seed uint64, f sim.Faults) string {
	cmd := fmt.Sprintf("partysip sim --seed %d --runs 1 --loss %g --dup %g --latency %s --jitter %s", seed, f.Loss, f.Dup, f.Latency, f.Jitter)
	for _, p := range f.Points {
		cmd += fmt.Sprintf(" --fault '%s'", p)
	}
	if f.Actors {
		cmd += " --actors"
	}
	return cmd + " --trace " + scenario
}

// printShrunk shrinks a failing run and prints the faults that make it fail.
func printShrunk(out io.Writer, scenario string, seed uint64, f sim.Faults) {
	got, ok, err := sim.Shrink(sim.Scenarios[scenario], seed, f, func(r *sim.Result) bool { return len(r.Violations) > 0 })
	switch {
	case err != nil:
		fmt.Fprintf(out, "shrink: %v\n", err)
	case !ok:
		fmt.Fprintf(out, "shrink: the failure does not come back with its faults named (%d runs)\n", got.Tried)
	default:
		g := f
		g.Loss, g.Dup, g.Points = 0, 0, got.Points
		fmt.Fprintf(out, "shrunk in %d runs to %d faults: %v\n", got.Tried, len(got.Points), got.Points)
		for _, v := range got.Result.Violations {
			fmt.Fprintf(out, "VIOLATION %s\n", v)
		}
		fmt.Fprintf(out, "again: %s\n%s```mermaid\n%s```\n", again(scenario, seed, g), got.Result.World.TraceText(), got.Result.World.Diagram())
	}
}

// simExhaustive runs exhaustive mode on each scenario, or the one schedule path names.
func simExhaustive(names []string, depth int, after time.Duration, maxRuns int, path string, trace, diagram, actorEvents bool) int {
	if depth < 1 || maxRuns < 1 || after < 0 {
		fmt.Fprintln(os.Stderr, "partysip sim: --depth and --max-runs must be at least 1, --after not negative")
		return 2
	}
	if path != "" {
		p, err := sim.ParsePath(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "partysip sim: %v\n", err)
			return 2
		}
		failed := false
		for _, n := range names {
			res, err := sim.RunPath(sim.Scenarios[n], p, after, actorEvents)
			if err != nil {
				fmt.Fprintf(os.Stderr, "partysip sim: %v\n", err)
				return 1
			}
			printPath(os.Stdout, res, p, after, true, trace || len(res.Violations) > 0, diagram || len(res.Violations) > 0)
			failed = failed || len(res.Violations) > 0
		}
		if failed {
			return 1
		}
		return 0
	}
	failed := false
	for _, n := range names {
		ex, err := sim.Explore(sim.Scenarios[n], sim.ExploreOptions{Depth: depth, After: after, MaxRuns: maxRuns, Actors: actorEvents})
		if err != nil {
			fmt.Fprintf(os.Stderr, "partysip sim: %v\n", err)
			return 1
		}
		violations := 0
		for _, f := range ex.Failures {
			printPath(os.Stdout, f.Result, f.Path, after, true, true, true)
			violations += len(f.Result.Violations)
		}
		var parts []string
		for _, o := range slices.Sorted(maps.Keys(ex.Outcomes)) {
			parts = append(parts, fmt.Sprintf("%s ×%d (--path %s)", o, ex.Outcomes[o], sim.PathString(ex.Witness[o])))
		}
		complete := "every schedule to that depth"
		if !ex.Complete {
			complete = fmt.Sprintf("stopped at --max-runs %d", maxRuns)
		}
		fmt.Printf("%s: exhaustive to depth %d from %s: %d schedules (%s), %d distinct states: %s; %d invariant violations%s\n",
			n, depth, after, ex.Paths, complete, ex.States, strings.Join(parts, ", "), violations, raceSummary(ex.Races))
		for _, why := range slices.Sorted(maps.Keys(ex.Ignored)) {
			fmt.Printf("  ignored in %d schedules (--path %s): %s\n", ex.Ignored[why], sim.PathString(ex.IgnoredWitness[why]), why)
		}
		failed = failed || violations > 0
	}
	if failed {
		return 1
	}
	return 0
}

// printPath prints one schedule's run, with how to run it again.
func printPath(out io.Writer, res *sim.Result, path []int, after time.Duration, head, trace, diagram bool) {
	if head {
		fmt.Fprintf(out, "== %s path %s: outcome %s, %d steps (again: partysip sim --path %s --after %s --trace %s)\n",
			res.Scenario, sim.PathString(path), res.Outcome, res.Steps, sim.PathString(path), after, res.Scenario)
	}
	printDetail(out, res, trace, diagram)
}

// raceSummary is "; races: second_2xx ×31, ..." for the races seen, "" for none.
func raceSummary(races map[string]int64) string {
	var parts []string
	for _, r := range slices.Sorted(maps.Keys(races)) {
		if races[r] > 0 {
			parts = append(parts, fmt.Sprintf("%s ×%d", r, races[r]))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "; races: " + strings.Join(parts, ", ")
}

// simReplay replays SIPp message logs or a capture against the simulated proxy.
func simReplay(logs []string, pcap, cfgFile, proxyAddr string, trace, diagram bool) int {
	if cfgFile == "" {
		fmt.Fprintln(os.Stderr, "partysip sim: a replay needs -c FILE, the configuration the real daemon ran with")
		return 2
	}
	cfg, err := config.Load(cfgFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	proxy, err := replayProxy(cfg, proxyAddr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "partysip sim: %v\n", err)
		return 2
	}
	var recs []*sim.Recording
	for _, path := range logs {
		f, err := os.Open(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "partysip sim: %v\n", err)
			return 1
		}
		// SIPp names its logs SCENARIO_PID_messages.log: the scenario names the endpoint.
		name, _, _ := strings.Cut(filepath.Base(path), "_")
		rec, err := sim.ReadSIPpLog(name, f)
		f.Close()
		if err != nil {
			fmt.Fprintf(os.Stderr, "partysip sim: %v\n", err)
			return 1
		}
		recs = append(recs, rec)
	}
	if pcap != "" {
		more, err := sim.ReadPcap(pcap, proxy)
		if err != nil {
			fmt.Fprintf(os.Stderr, "partysip sim: %v\n", err)
			return 1
		}
		recs = append(recs, more...)
	}
	res, err := sim.Replay(recs, cfg, proxy)
	if err != nil {
		fmt.Fprintf(os.Stderr, "partysip sim: %v\n", err)
		return 1
	}
	fmt.Printf("replay of %d endpoints through %s: %s, %d steps; %d invariant violations%s\n", len(recs), proxy,
		cmp.Or(res.Outcome, "no final response"), res.Steps, len(res.Violations), raceSummary(res.Races))
	printPath(os.Stdout, res, nil, 0, false, trace || len(res.Violations) > 0, diagram || len(res.Violations) > 0)
	if len(res.Violations) > 0 {
		return 1
	}
	return 0
}

// replayProxy is where the replayed proxy listens: --proxy, else cfg's first UDP listener.
func replayProxy(cfg *config.Config, addr string) (netip.AddrPort, error) {
	if addr != "" {
		return netip.ParseAddrPort(addr)
	}
	for _, l := range cfg.Listeners() {
		if l.Transport == "udp" {
			return netip.ParseAddrPort(l.Addr())
		}
	}
	return netip.AddrPort{}, errors.New("the configuration has no UDP listener: give --proxy")
}
