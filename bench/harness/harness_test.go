package harness

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/partysip/partysip/bench/sipp"
)

// TestRampSmoke runs a short REGISTER ramp at low rates against a real partysip and checks that
// every field of the report is filled in. It asserts no speed: that is the harness's output.
func TestRampSmoke(t *testing.T) {
	sipp.SlowTier(t)
	if _, err := sipp.Path(); err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	bin, err := BuildPartysip(root, dir)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := sipp.FreePort()
	cfg := filepath.Join(dir, "partysip.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("listen: [udp:127.0.0.1:%d]\nstore:\n  driver: memory\n", port)), 0o644); err != nil {
		t.Fatal(err)
	}
	inf := filepath.Join(dir, "users.csv")
	if err := os.WriteFile(inf, []byte("SEQUENTIAL\nu1;127.0.0.1:9;600\nu2;127.0.0.1:9;600\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := StartPartysip(bin, cfg, filepath.Join(dir, "partysip.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	steps, err := Ramp{
		Scenario: filepath.Join(root, "bench", "scenarios", "register.xml"), Extra: []string{"-inf", inf},
		Target: fmt.Sprintf("127.0.0.1:%d", port), Rates: []int{20, 50}, Duration: time.Second,
		ProxyPID: p.PID(), Dir: dir,
	}.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 2 {
		t.Fatalf("%d steps, want 2", len(steps))
	}
	for _, s := range steps {
		if s.Calls != s.Rate || s.Successful != s.Calls || s.Failed != 0 || !s.Clean {
			t.Errorf("step %+v: want every call successful and clean", s)
		}
		// CPU is counted in 10 ms ticks: a light step may cost none.
		if s.Achieved <= 0 || s.CPUms1000 < 0 || s.PeakRSSMB <= 0 || s.PeakPSSMB <= 0 {
			t.Errorf("step %+v: rate, CPU, RSS and PSS must be measured", s)
		}
	}
	if cpu, err := CPUTime(p.PID()); err != nil || cpu <= 0 {
		t.Errorf("the daemon's CPU time: %v %v", cpu, err)
	}
	// A proxy whose process is not known (bench --target without --pid): calls measured, CPU
	// and RSS not.
	blind, err := Ramp{
		Scenario: filepath.Join(root, "bench", "scenarios", "register.xml"), Extra: []string{"-inf", inf},
		Target: fmt.Sprintf("127.0.0.1:%d", port), Rates: []int{20}, Duration: time.Second, Dir: filepath.Join(dir, "blind"),
	}.Run(context.Background())
	if err != nil || len(blind) != 1 || blind[0].Successful != 20 || blind[0].CPUms1000 != 0 || blind[0].PeakRSSMB != 0 || blind[0].PeakPSSMB != 0 {
		t.Errorf("ramp without the proxy's pid: %+v, %v", blind, err)
	}

	// The report: two runs of the same ramp, their medians, the Markdown and the chart.
	rep := &Report{Workload: "register", Unit: "REGISTER", Step: "1s", CPUs: 2}
	rep.Add("partysip", steps)
	rep.Add("partysip", steps[:1])
	rep.Finish()
	res := rep.Results["partysip"]
	if len(res.Median) != 2 || res.Median[0].Runs != 2 || res.Median[1].Runs != 1 || !res.Median[0].Clean {
		t.Fatalf("medians %+v: want the first rate over 2 runs and clean, the second over 1", res.Median)
	}
	if res.Median[0].Achieved != steps[0].Achieved || len(res.Best) != 2 || res.BestMedian <= 0 {
		t.Errorf("median of equal steps %v, best per run %v (median %v)", res.Median[0].Achieved, res.Best, res.BestMedian)
	}
	md := rep.Markdown()
	for _, want := range []string{"### partysip", "| 20 |", "| 50 |", "Highest clean rate: median"} {
		if !strings.Contains(md, want) {
			t.Errorf("summary lacks %q:\n%s", want, md)
		}
	}
	chart := filepath.Join(dir, "chart.png")
	if err := rep.Chart(chart); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(chart); err != nil || len(b) < 1000 || string(b[1:4]) != "PNG" {
		t.Errorf("chart.png: %d bytes, %v", len(b), err)
	}
}

// TestReportRatios checks the comparison against Kamailio on hand-made ramps: per run, the
// highest rate both ran clean and the CPU ratio there, then the medians.
func TestReportRatios(t *testing.T) {
	step := func(rate int, cpu float64, clean bool) Step {
		return Step{Rate: rate, Achieved: float64(rate), CPUms1000: cpu, Clean: clean}
	}
	rep := &Report{}
	rep.Add("partysip", []Step{step(1000, 300, true), step(2000, 280, true), step(3000, 270, false)})
	rep.Add("kamailio", []Step{step(1000, 200, true), step(2000, 200, true), step(3000, 200, true)})
	rep.Add("partysip", []Step{step(1000, 300, true), step(2000, 300, false)})
	rep.Add("kamailio", []Step{step(1000, 250, true), step(2000, 200, true), step(3000, 200, false)})
	rep.Finish()
	if want := []int{2000, 1000}; !slices.Equal(rep.CommonRate, want) {
		t.Fatalf("common rates %v, want %v", rep.CommonRate, want)
	}
	if want := []float64{1.4, 1.2}; !slices.Equal(rep.CPURatios, want) || math.Abs(rep.CPURatio-1.3) > 1e-9 {
		t.Errorf("CPU ratios %v (median %v), want %v (1.3)", rep.CPURatios, rep.CPURatio, want)
	}
	if want := []float64{2000.0 / 3000, 1000.0 / 2000}; !slices.Equal(rep.BestRatios, want) {
		t.Errorf("best-rate ratios %v, want %v", rep.BestRatios, want)
	}
	if m := rep.Results["kamailio"].Median; len(m) != 3 || m[2].Clean || m[2].Runs != 2 {
		t.Errorf("kamailio medians %+v: 3000/s was clean in one run of two, so not clean", m)
	}
}

// SIPp's error log names each call it aborted and what it received; only an abort for a
// provisional response counts as reordered (a forking proxy relayed it after the final one).
func TestReorderedAborts(t *testing.T) {
	log := "The following events occurred:\n" +
		"2026-12-03\t20:58:47.438538\t1796331527.438538: Aborting call on unexpected message for Call-Id '1452-1788@127.0.0.1': while pausing (index 5), received 'SIP/2.0 180 Ringing\nVia: SIP/2.0/UDP 127.0.0.1:39829\n\n" +
		"'2026-12-03\t20:58:47.438830\t1796331527.438830: Dead call 1452-1788@127.0.0.1 (aborted at index 5), received 'SIP/2.0 404 Not here\n\n" +
		"'2026-12-03\t20:58:48.000000\t1796331528.000000: Aborting call on unexpected message for Call-Id '1500-1788@127.0.0.1': while expecting '200' (index 3), received 'SIP/2.0 183 Session Progress\n\n" +
		"'2026-12-03\t20:58:49.000000\t1796331529.000000: Aborting call on unexpected message for Call-Id '1501-1788@127.0.0.1': while expecting '200' (index 3), received 'SIP/2.0 503 Service Unavailable\n\n'"
	p := filepath.Join(t.TempDir(), "uac_errors.log")
	if err := os.WriteFile(p, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	if n := reorderedAborts(p); n != 2 {
		t.Fatalf("%d reordered aborts, want 2 (the 180 and the 183, not the 503 nor the dead call)", n)
	}
	if n := reorderedAborts(filepath.Join(t.TempDir(), "none")); n != 0 {
		t.Fatalf("no log: %d", n)
	}
}
