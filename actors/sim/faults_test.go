package sim

import (
	"strings"
	"testing"
	"time"
)

func TestParseFaultPoint(t *testing.T) {
	for in, want := range map[string]FaultPoint{
		"drop 200/INVITE#2":            {Action: "drop", What: "200/INVITE", N: 2},
		"drop bob>proxy:200#1":         {Action: "drop", From: "bob", To: "proxy", What: "200", N: 1},
		"dup 180":                      {Action: "dup", What: "180"},
		"delay CANCEL#1 3ms":           {Action: "delay", What: "CANCEL", N: 1, Delay: 3 * time.Millisecond},
		"crash IST#1":                  {Action: "crash", What: "IST", N: 1},
		"crash relay.proxyContext#1@2": {Action: "crash", What: "relay.proxyContext", N: 1, At: 2},
		"crash dialogs.dialogActor#3":  {Action: "crash", What: "dialogs.dialogActor", N: 3},
		"  drop invite#1  ":            {Action: "drop", What: "INVITE", N: 1},
		"delay alice>proxy:ACK 1s":     {Action: "delay", From: "alice", To: "proxy", What: "ACK", Delay: time.Second},
	} {
		got, err := ParseFaultPoint(in)
		if err != nil || got != want {
			t.Errorf("%q: %+v %v, want %+v", in, got, err, want)
			continue
		}
		if again, err := ParseFaultPoint(got.String()); err != nil || again != got {
			t.Errorf("%q: %q does not read back (%v)", in, got.String(), err)
		}
	}
	for _, bad := range []string{"", "drop", "explode INVITE", "delay CANCEL", "delay CANCEL -3ms", "drop INVITE 3ms",
		"crash INVITE#1", "crash bob>proxy:IST#1", "drop INVITE#0", "drop 200/INVITE/x"} {
		if _, err := ParseFaultPoint(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func mustPoints(t *testing.T, specs ...string) []FaultPoint {
	t.Helper()
	var out []FaultPoint
	for _, s := range specs {
		p, err := ParseFaultPoint(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

func lines(res *Result, kind string) []string {
	var out []string
	for _, l := range strings.Split(res.World.TraceText(), "\n") {
		if strings.Contains(l, " "+kind+" ") {
			out = append(out, l)
		}
	}
	return out
}

// A named fault hits exactly the packet it names, and the proxy copes.
func TestNamedDrop(t *testing.T) {
	f := DefaultFaults
	f.Points = mustPoints(t, "drop bob>proxy:200/INVITE#1")
	res, err := RunScenario(Scenarios["cancel-200"], seedWith(t, "cancel-200", "200"), f)
	if err != nil {
		t.Fatal(err)
	}
	drops := lines(res, "drop")
	if len(drops) != 1 || !strings.Contains(drops[0], "bob    -> proxy  200 OK (INVITE)") {
		t.Fatalf("drops %q", drops)
	}
	for _, v := range res.Violations {
		t.Error(v)
	}
	// Without its first 200 the CANCEL reaches the proxy first and is relayed to bob, who has
	// answered already: he answers the CANCEL 200 and retransmits his 200 (§13.3.1.4), which
	// the proxy relays: the call goes through, one T1 later.
	if res.Outcome != "200" || res.Call.Caller.FinalAt[0] < T1 {
		t.Errorf("outcome %s at %v, want 200 after bob's retransmission", res.Outcome, res.Call.Caller.FinalAt)
	}
	if res.Call.Callees[0].Cancelled != 1 {
		t.Errorf("bob was sent %d CANCELs, want 1", res.Call.Callees[0].Cancelled)
	}
}

// Delaying the CANCEL by name turns a race the CANCEL won into one the 200 wins.
func TestNamedDelayFlipsTheRace(t *testing.T) {
	seed := seedWith(t, "cancel-200", "487")
	f := DefaultFaults
	f.Points = mustPoints(t, "delay alice>proxy:CANCEL#1 60ms")
	res, err := RunScenario(Scenarios["cancel-200"], seed, f)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != "200" || len(res.Violations) > 0 {
		t.Fatalf("outcome %s, violations %v, want 200:\n%s", res.Outcome, res.Violations, res.World.TraceText())
	}
}

// A crashed transaction actor fails its request alone: a server transaction that panics
// answers 500 and leaves nothing behind; a client transaction that panics fails its branch,
// which moves on to the route's alternate.
func TestNamedCrash(t *testing.T) {
	for point, want := range map[string]string{"crash IST#1": "500", "crash ICT#1": "200"} {
		f := DefaultFaults
		f.Points = mustPoints(t, point)
		res, err := RunScenario(Scenarios["dead-hop"], 1, f)
		if err != nil {
			t.Fatal(err)
		}
		if n := res.World.Engine().Stats().TxPanics.Load(); n != 1 {
			t.Errorf("%s: %d transaction panics, want 1", point, n)
		}
		if res.Outcome != want || len(res.Violations) > 0 {
			t.Errorf("%s: outcome %s, violations %v, want %s:\n%s", point, res.Outcome, res.Violations, want, res.World.TraceText())
		}
	}
}

// seedWith is the first seed on which scenario ends with outcome (no fault).
func seedWith(t *testing.T, scenario, outcome string) uint64 {
	t.Helper()
	for seed := uint64(1); seed <= 100; seed++ {
		if mustRun(t, Scenarios[scenario], seed, DefaultFaults).Outcome == outcome {
			return seed
		}
	}
	t.Fatalf("no seed of %s ends with %s", scenario, outcome)
	return 0
}

// A failure found on a lossy network shrinks to the one or two losses that cause it, and each
// of them is needed.
func TestShrinkFindsTheLossesThatMatter(t *testing.T) {
	retransmitted := func(r *Result) bool { // the caller had to send its INVITE again
		n := 0
		for _, l := range lines(r, "send") {
			if strings.Contains(l, "alice  -> proxy  INVITE") {
				n++
			}
		}
		return n > 1
	}
	f := Faults{Latency: time.Millisecond, Jitter: 5 * time.Millisecond, Loss: 0.3}
	s := Scenarios["fork-2xx"]
	for seed := uint64(1); seed <= 60; seed++ {
		got, ok, err := Shrink(s, seed, f, retransmitted)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			continue
		}
		if len(got.Result.World.Applied) != 0 {
			t.Fatalf("the shrunk run drew faults: %v", got.Result.World.Applied)
		}
		drawn := len(mustRun(t, s, seed, f).World.Applied)
		if len(got.Points) == 0 || len(got.Points) > 2 || len(got.Points) >= drawn && drawn > 2 {
			t.Fatalf("seed %d: %d faults drawn, shrunk to %v", seed, drawn, got.Points)
		}
		for i := range got.Points {
			fewer := append(append([]FaultPoint(nil), got.Points[:i]...), got.Points[i+1:]...)
			g := f
			g.Loss, g.Points = 0, fewer
			if retransmitted(mustRun(t, s, seed, g)) {
				t.Fatalf("seed %d: %v is not needed", seed, got.Points[i])
			}
		}
		t.Logf("seed %d: %d faults drawn, shrunk to %v in %d runs", seed, drawn, got.Points, got.Tried)
		return
	}
	t.Fatal("no seed lost a packet that made the caller retransmit")
}

func mustRun(t *testing.T, s Scenario, seed uint64, f Faults) *Result {
	t.Helper()
	r, err := RunScenario(s, seed, f)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Found by the simulator (fork-2xx, seed 910, 30% loss): bob's branch reaches him only after
// 31 s of lost INVITEs, long after carol's 200 went upstream; the proxy CANCELs it and bob's
// 487 (lost twice) arrives at 33 s — after the server transaction's Timer L (64·T1 after the
// 200) had ended it and, with it, the context and bob's client transaction. The 487 was then a
// stray response, forwarded statelessly: a 487 upstream after the 2xx. Now the accepted
// server transaction waits for its context, whose CANCELled branch absorbs and ACKs the 487.
func TestLateFailureAfterA2xxStaysDown(t *testing.T) {
	f := Faults{Latency: time.Millisecond, Jitter: 100 * time.Millisecond}
	f.Points = mustPoints(t, "drop proxy>bob:INVITE#1", "drop proxy>bob:INVITE#2", "drop proxy>bob:INVITE#3",
		"drop proxy>bob:INVITE#4", "drop proxy>bob:INVITE#5", "drop proxy>bob:INVITE#6",
		"drop bob>proxy:487/INVITE#1", "drop bob>proxy:487/INVITE#2")
	res := mustRun(t, Scenarios["fork-2xx"], 910, f)
	text := res.World.TraceText()
	late := strings.Index(text, "deliver       bob    -> proxy  487")
	if late < 0 || !strings.Contains(text[late:], "send          proxy  -> bob    ACK") {
		t.Fatalf("the staged late 487 did not happen, or the proxy did not ACK it:\n%s", text)
	}
	if res.Outcome != "200" || len(res.Violations) > 0 {
		t.Fatalf("outcome %s, violations %v:\n%s", res.Outcome, res.Violations, text)
	}
}

// An actor named as causal traces name it fails on the message the fault names, and the
// failure stays in its call: the proxy context of the call dies on its first message after it
// forked, the caller is answered 500 by its server transaction, nothing is left behind — and
// the callee's 200, arriving for a branch whose context is gone, goes up as a stray 2xx (§16.7)
// that no dialog actor tracks (the only invariant the crash costs).
func TestNamedActorCrash(t *testing.T) {
	f := DefaultFaults
	f.Points = mustPoints(t, "crash relay.proxyContext#1@1")
	res := mustRun(t, Scenarios["cancel-200"], 1, f)
	if n := res.World.Engine().Stats().TxPanics.Load(); n != 1 {
		t.Errorf("%d actor panics counted, want 1", n)
	}
	if !strings.HasPrefix(res.Outcome, "500") {
		t.Errorf("outcome %s, want the 500 first", res.Outcome)
	}
	for _, v := range res.Violations {
		if v.Invariant != "dialogs" {
			t.Errorf("%s", v)
		}
	}
}
