package sim

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

// Exhaustive mode finds both ends of the CANCEL-against-200 race by enumeration, not luck; every
// schedule holds the invariants; the counts are the same each time; a reported path replays the
// schedule it names.
func TestExhaustiveCancelAgainst200(t *testing.T) {
	ex, err := Explore(Scenarios["cancel-200"], ExploreOptions{Depth: 6, MaxRuns: 2000})
	if err != nil {
		t.Fatal(err)
	}
	if !ex.Complete || ex.Paths < 10 || ex.States < ex.Paths {
		t.Fatalf("%d paths, %d states, complete %v", ex.Paths, ex.States, ex.Complete)
	}
	if got := slices.Sorted(maps.Keys(ex.Outcomes)); !slices.Equal(got, []string{"200", "487"}) {
		t.Fatalf("outcomes %v, want both 200 and 487", ex.Outcomes)
	}
	for _, f := range ex.Failures {
		t.Errorf("path %s: %v", PathString(f.Path), f.Result.Violations)
	}
	again, err := Explore(Scenarios["cancel-200"], ExploreOptions{Depth: 6, MaxRuns: 2000})
	if err != nil {
		t.Fatal(err)
	}
	if again.Paths != ex.Paths || again.States != ex.States || !maps.Equal(again.Outcomes, ex.Outcomes) {
		t.Fatalf("second exploration differs: %+v vs %+v", again, ex)
	}
	// Each outcome's witness path replays it.
	for outcome, path := range ex.Witness {
		res, err := RunPath(Scenarios["cancel-200"], path, 0, false)
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != outcome {
			t.Errorf("path %s replayed to %s, want %s", PathString(path), res.Outcome, outcome)
		}
	}
}

// Branching only from a chosen moment spends the depth on the race, not on the start-up.
func TestExhaustiveAfter(t *testing.T) {
	from0, err := Explore(Scenarios["fork-cancel"], ExploreOptions{Depth: 4, MaxRuns: 5000})
	if err != nil {
		t.Fatal(err)
	}
	late, err := Explore(Scenarios["fork-cancel"], ExploreOptions{Depth: 4, After: 150 * time.Millisecond, MaxRuns: 5000})
	if err != nil {
		t.Fatal(err)
	}
	if len(from0.Outcomes) != 1 || len(late.Outcomes) != 2 || len(late.Failures)+len(from0.Failures) > 0 {
		t.Fatalf("from 0: %v; from 150 ms: %v (failures %d, %d)", from0.Outcomes, late.Outcomes, len(from0.Failures), len(late.Failures))
	}
}

func TestParsePath(t *testing.T) {
	if p, err := ParsePath("0,2, 1"); err != nil || PathString(p) != "0,2,1" {
		t.Fatalf("%v %v", p, err)
	}
	for _, bad := range []string{"a", "1,-1", "1,,2"} {
		if _, err := ParsePath(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// The race the trace of the old code could not show: the caller's CANCEL and the callee's 200
// reach the proxy together; in some schedules the response context asks the branch to CANCEL
// after its client transaction already took the 200, which drops the request — recorded as an
// ignored event, with why. Every schedule still gives the caller its call.
func TestExhaustiveFindsTheIgnoredCancel(t *testing.T) {
	ex, err := Explore(Scenarios["cancel-meets-200"], ExploreOptions{Depth: 12, After: 150 * time.Millisecond, MaxRuns: 3000, Actors: true})
	if err != nil {
		t.Fatal(err)
	}
	if !ex.Complete || len(ex.Failures) > 0 || len(ex.Outcomes) != 1 || ex.Outcomes["200"] != ex.Paths {
		t.Fatalf("%d schedules, outcomes %v, %d failures", ex.Paths, ex.Outcomes, len(ex.Failures))
	}
	if ex.Ignored["CANCEL asked for a branch already answered (Accepted)"] == 0 {
		t.Fatalf("no schedule dropped the CANCEL request: %v", ex.Ignored)
	}
	if ex.Races["2xx_after_cancel"] == 0 || ex.Races["cancel_after_final"] == 0 {
		t.Fatalf("races %v: both orders should be reached", ex.Races)
	}
	// The witness replays it, and the causal diagram shows who dropped what.
	why := "CANCEL asked for a branch already answered (Accepted)"
	res, err := RunPath(Scenarios["cancel-meets-200"], ex.IgnoredWitness[why], 150*time.Millisecond, true)
	if err != nil {
		t.Fatal(err)
	}
	d := res.World.Diagram()
	for _, want := range []string{"participant a1 as txn.shard#1", "-)", "Note over a", "ignored relay.BranchCancelRequested: " + why} {
		if !strings.Contains(d, want) {
			t.Fatalf("diagram lacks %q:\n%s", want, d)
		}
	}
}
