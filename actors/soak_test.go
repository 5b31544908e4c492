package actors

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"runtime"
	rtmetrics "runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/partysip/partysip/bench/sipp"
	"github.com/partysip/partysip/config"
)

var soakFor = flag.Duration("soak", 30*time.Second, "how long TestSoak keeps its steady load")

// TestSoak runs a steady SIPp load through the engine (30 s by default; -soak 10m for a real
// soak), then waits for quiet: every transaction, call and goroutine it made is gone, the
// transaction gauges are back to zero, and the heap does not grow with the number of calls.
func TestSoak(t *testing.T) {
	sipp.SlowTier(t)
	if _, err := sipp.Path(); err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	uasPort, _ := sipp.FreePort()
	e, port := startEngineWith(t, fmt.Sprintf("sip:127.0.0.1:%d", uasPort), func(c *config.Config) {
		c.Timers.T1 = 100 * time.Millisecond // transactions leave 64*T1 = 6.4 s after their answer
	})
	// A UAS that answers with 200 alone: with T1 = 100 ms the proxy retransmits an INVITE the
	// UAS is slow to answer, and SIPp's built-in uas (180, then 200) aborts such a call.
	scenario, _ := filepath.Abs(filepath.Join("..", "bench", "scenarios", "uas_answer.xml"))
	uas, err := sipp.StartUASScenario(dir, scenario, "udp", uasPort)
	if err != nil {
		t.Fatal(err)
	}
	defer uas.Stop()
	time.Sleep(200 * time.Millisecond)
	var uacDir string // the last run's, for its error log
	run := func(d time.Duration, rate int) sipp.Result {
		port2, _ := sipp.FreePort()
		uacDir = t.TempDir()
		res, err := sipp.UAC{Dir: uacDir, Target: fmt.Sprintf("127.0.0.1:%d", port), Transport: "udp", Port: port2,
			Calls: int(d.Seconds()) * rate, Rate: rate, Timeout: d + time.Minute}.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	quiet := func() {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for e.Stats().LiveTx.Load() != 0 || e.Stats().Parked.Load() != 0 || e.Stats().Dialogs.Load() != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("not quiet: %d transactions, %d parked, %d dialogs",
					e.Stats().LiveTx.Load(), e.Stats().Parked.Load(), e.Stats().Dialogs.Load())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	measure := func() (goroutines int, heap uint64) {
		time.Sleep(200 * time.Millisecond) // let finished goroutines exit
		runtime.GC()
		// Live heap bytes as the last GC marked them (HeapInuse also counts free room in spans).
		sample := []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}}
		rtmetrics.Read(sample)
		return goroutinesOfOurs(), sample[0].Value.Uint64()
	}

	// Warm up at the soak's rate for longer than a transaction lives (64*T1), so that what
	// grows with the peak number of live actors and stays (Go maps keep their size, pools) is
	// there before the baseline. Then two equal periods: a leak makes the heap grow in each,
	// what is bounded grows in neither after the first.
	const rate = 200
	if res := run(8*time.Second, rate); res.Failed != 0 {
		t.Fatalf("warm-up: %d ok, %d failed, %d retransmissions; UAC errors:\n%s\nUAS errors:\n%s",
			res.Successful, res.Failed, res.Retransmissions, sipp.ErrorLog(uacDir, "uac"), sipp.ErrorLog(dir, "uas"))
	}
	quiet()
	warmRegistry(e)
	g0, h0 := measure()
	period := *soakFor / 2
	var heaps []uint64
	for i := 0; i < 2; i++ {
		res := run(period, rate)
		if res.Failed != 0 || res.Successful != int(period.Seconds())*rate {
			t.Fatalf("soak period %d: %d ok, %d failed; UAC errors:\n%s\nUAS errors:\n%s", i+1, res.Successful,
				res.Failed, sipp.ErrorLog(uacDir, "uac"), sipp.ErrorLog(dir, "uas"))
		}
		quiet()
		g, h := measure()
		if g > g0+5 {
			var b strings.Builder
			_ = pprof.Lookup("goroutine").WriteTo(&b, 1)
			t.Errorf("goroutines %d after period %d, %d before the soak:\n%s", g, i+1, g0, b.String())
		}
		heaps = append(heaps, h)
	}
	t.Logf("%d calls at %d/s in two periods: live heap %.1f MB before, %.1f and %.1f MB after each",
		2*int(period.Seconds())*rate, rate, float64(h0)/(1<<20), float64(heaps[0])/(1<<20), float64(heaps[1])/(1<<20))
	if heaps[1] > heaps[0]+4<<20 { // a leak of 1.4 KB a call shows here
		t.Errorf("the heap grew again in the second period (%.1f → %.1f MB): something is kept per call",
			float64(heaps[0])/(1<<20), float64(heaps[1])/(1<<20))
	}
	for k := range e.c.metrics.txStates {
		for s := range e.c.metrics.txStates[k] {
			if v := e.c.metrics.txStates[k][s].Load(); v != 0 {
				t.Errorf("transaction gauge kind %d state %d = %d after quiet", k, s, v)
			}
		}
	}
}

// warmRegistry touches every map of protoactor's process registry (1,024 buckets of 32 shards,
// each a Go map allocated on its first entry) by adding and removing enough ids. Actor ids are
// never reused, so in a running daemon the registry's footprint grows towards that of 32,768
// small maps over the first few hundred thousand actors and then stays: bounded, but it would
// read as a slow leak in a soak that starts before it is reached.
func warmRegistry(e *Engine) {
	reg := e.system.ProcessRegistry
	for i := 0; i < 300_000; i++ {
		pid, _ := reg.Add(e.system.DeadLetter, "warm-"+strconv.Itoa(i))
		reg.Remove(pid)
	}
}

// goroutinesOfOurs counts the live goroutines but protoactor's dead-letter throttle timers: each
// actor system that saw a dead letter (a Stop to an actor already gone, common as transactions
// end) runs one for DeadLetterThrottleInterval (10 s), and systems of earlier tests count too.
// They end by themselves (TestMain's goleak ignores them as well); counted, they made the soak
// fail at random with 6 to 8 of them.
func goroutinesOfOurs() int {
	var b strings.Builder
	_ = pprof.Lookup("goroutine").WriteTo(&b, 2)
	n := 0
	for _, g := range strings.Split(b.String(), "\n\ngoroutine ") {
		if strings.TrimSpace(g) != "" && !strings.Contains(g, ".NewThrottle.") {
			n++
		}
	}
	return n
}

// goroutinesOfOurs leaves out a dead-letter throttle timer (a message to a stopped actor starts
// one), and counts the rest.
func TestGoroutinesOfOursLeavesOutThrottles(t *testing.T) {
	sys := actor.NewActorSystem()
	defer sys.Shutdown()
	pid := sys.Root.Spawn(actor.PropsFromFunc(func(actor.Context) {}))
	_ = sys.Root.StopFuture(pid).Wait()
	sys.Root.Send(pid, "late") // a dead letter: its throttle's timer goroutine starts
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine()-goroutinesOfOurs() < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("no throttle goroutine left out: %d counted of %d", goroutinesOfOurs(), runtime.NumGoroutine())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
