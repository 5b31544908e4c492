package sim

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

// Every built-in scenario holds every invariant on a range of seeds, and the races they stage
// really go both ways: the seeds, not luck, decide who wins.
func TestScenariosHoldInvariants(t *testing.T) {
	seeds := uint64(150)
	if testing.Short() {
		seeds = 30
	}
	wantOutcomes := map[string][]string{
		"cancel-200":       {"200", "487"},
		"cancel-meets-200": {"200", "487"},
		"fork-2xx":         {"200", "200+200"},
		"fork-cancel":      {"200", "487"},
		"cancel-ignored":   {"487"},
		"busy-fork":        {"200"},
		"register-fork":    {"200", "200+200"},
		"dead-hop":         {"200"},
		"refused-tcp":      {"200"},
		"loop":             {"482"},
	}
	for _, name := range ScenarioNames() {
		t.Run(name, func(t *testing.T) {
			outcomes := map[string]int{}
			for seed := uint64(1); seed <= seeds; seed++ {
				res, err := RunScenario(Scenarios[name], seed, DefaultFaults)
				if err != nil {
					t.Fatal(err)
				}
				outcomes[res.Outcome]++
				for _, v := range res.Violations {
					t.Errorf("seed %d: %s\n%s", seed, v, res.World.TraceText())
				}
			}
			got := slices.Sorted(maps.Keys(outcomes))
			if !slices.Equal(got, wantOutcomes[name]) {
				t.Errorf("outcomes %v over %d seeds, want each of %v", outcomes, seeds, wantOutcomes[name])
			}
			t.Logf("%s: %v", name, outcomes)
		})
	}
}

// Same seed, same run, byte for byte; another seed, another run.
func TestSameSeedSameRun(t *testing.T) {
	for _, name := range ScenarioNames() {
		traces := map[uint64]string{}
		for _, seed := range []uint64{7, 7, 8} {
			res, err := RunScenario(Scenarios[name], seed, Faults{Latency: time.Millisecond, Jitter: 5 * time.Millisecond, Loss: 0.05, Dup: 0.05, Actors: true})
			if err != nil {
				t.Fatal(err)
			}
			text := res.World.TraceText() + res.World.Diagram() + fmt.Sprint(res.Violations)
			if prev, ok := traces[seed]; ok && prev != text {
				t.Fatalf("%s: seed %d ran differently the second time:\n%s\n----\n%s", name, seed, prev, text)
			}
			traces[seed] = text
		}
		if traces[7] == traces[8] {
			t.Errorf("%s: seeds 7 and 8 ran the same", name)
		}
	}
}

// A lossy, duplicating network changes nothing the invariants promise.
func TestInvariantsOnALossyNetwork(t *testing.T) {
	f := Faults{Latency: time.Millisecond, Jitter: 20 * time.Millisecond, Loss: 0.1, Dup: 0.1}
	for _, name := range ScenarioNames() {
		for seed := uint64(1); seed <= 40; seed++ {
			res, err := RunScenario(Scenarios[name], seed, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range res.Violations {
				t.Errorf("%s seed %d: %s\n%s", name, seed, v, res.World.TraceText())
			}
			if drops := strings.Count(res.World.TraceText(), " drop "); seed == 1 && drops == 0 && name == "fork-2xx" {
				t.Errorf("%s: no packet lost at 10%% loss", name)
			}
		}
	}
}

// The proxy names the races it resolved, and they match what the caller saw: a fork answered
// twice is exactly one second_2xx; the fork with a CANCEL meets the CANCEL-side races.
func TestRacesMatchOutcomes(t *testing.T) {
	for seed := uint64(1); seed <= 40; seed++ {
		res := mustRun(t, Scenarios["fork-2xx"], seed, DefaultFaults)
		if twice := res.Outcome == "200+200"; twice != (res.Races["second_2xx"] == 1) {
			t.Fatalf("fork-2xx seed %d: outcome %s, races %v", seed, res.Outcome, res.Races)
		}
	}
	seen := map[string]bool{}
	for seed := uint64(1); seed <= 60; seed++ {
		res := mustRun(t, Scenarios["fork-cancel"], seed, DefaultFaults)
		for r, n := range res.Races {
			if n > 0 {
				seen[r] = true
			}
		}
	}
	for _, r := range []string{"2xx_after_cancel", "failure_after_2xx", "cancel_after_final"} {
		if !seen[r] {
			t.Errorf("fork-cancel never resolved %s in 60 seeds: %v", r, seen)
		}
	}
}

// The actor-level trace is causal: each actor's clock only grows, a message is handled at a
// clock past its sender's when it was sent, messages from the network or a timer have no
// sender's clock, and the ids say which call and branch a message is about.
func TestCausalTrace(t *testing.T) {
	f := DefaultFaults
	f.Actors = true
	res := mustRun(t, Scenarios["fork-2xx"], 3, f)
	last := map[string]uint64{}
	fromNetwork, betweenActors := 0, 0
	for _, ev := range res.World.Trace {
		a := ev.Actor
		if a == nil {
			continue
		}
		if a.Lamport <= last[a.Actor] {
			t.Fatalf("actor %s: clock %d after %d", a.Actor, a.Lamport, last[a.Actor])
		}
		last[a.Actor] = a.Lamport
		if a.Cause > 0 && a.Lamport <= a.Cause {
			t.Fatalf("%+v: handled at a clock not past its cause", a)
		}
		if a.Msg == "txn.MessageReceived" && a.Cause == 0 && a.CallID == "sim-call" && a.Branch != "" {
			fromNetwork++
		}
		if a.Cause > 0 {
			betweenActors++
		}
	}
	if fromNetwork == 0 || betweenActors == 0 || len(last) < 4 {
		t.Fatalf("%d messages from the network, %d between actors, %d actors:\n%s", fromNetwork, betweenActors, len(last), res.World.TraceText())
	}
}
