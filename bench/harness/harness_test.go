package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/partysip/partysip/bench/sipp"
)

// TestRampSmoke runs a short REGISTER ramp at low rates against a real partysip and checks that
// every field of the report is filled in. It asserts no speed: that is the harness's output.
func TestRampSmoke(t *testing.T) {
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
		if s.Achieved <= 0 || s.CPUms1000 < 0 || s.PeakRSSMB <= 0 {
			t.Errorf("step %+v: rate, CPU and RSS must be measured", s)
		}
	}
	if cpu, err := CPUTime(p.PID()); err != nil || cpu <= 0 {
		t.Errorf("the daemon's CPU time: %v %v", cpu, err)
	}
}
