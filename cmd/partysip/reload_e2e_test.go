package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/partysip/partysip/bench/sipp"
)

// callee is an answering SIPp callee with statistics written every second.
type callee struct {
	proc *sipp.Proc
	dir  string
	port int
}

func startCallee(t *testing.T) *callee {
	t.Helper()
	c := &callee{dir: t.TempDir()}
	c.port, _ = sipp.FreePort()
	var err error
	if c.proc, err = sipp.StartServer(c.dir, scenario(t, "uas.xml"), c.port, 1_000_000, "-fd", "1"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.proc.Stop)
	return c
}

// answered is how many calls the callee completed (statistics lag up to a second).
func (c *callee) answered(t *testing.T) int {
	t.Helper()
	time.Sleep(1200 * time.Millisecond)
	st, err := sipp.ReadStats(filepath.Join(c.dir, "uas_stats.csv"))
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(st["SuccessfulCall(C)"])
	return n
}

// TestReloadDuringCalls changes the static route with SIGHUP while SIPp calls are in progress:
// no call fails (calls in progress keep their route: their dialog's requests follow the route
// set), new calls go to the new callee. Then a configuration that does not parse is refused and
// the one in force keeps serving.
func TestReloadDuringCalls(t *testing.T) {
	sipp.SlowTier(t)
	if _, err := sipp.Path(); err != nil {
		t.Skip(err)
	}
	a, b := startCallee(t), startCallee(t)
	proxyPort, _ := sipp.FreePort()
	cfgPath := filepath.Join(t.TempDir(), "partysip.yaml")
	write := func(body string) {
		if err := os.WriteFile(cfgPath, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The memory store has no file: the admin token goes where token_file says (by default it
	// would be beside store.path, in the working directory).
	base := fmt.Sprintf("listen: [udp:127.0.0.1:%d]\nstore:\n  driver: memory\nadmin:\n  pprof: true\n  token_file: %s\n",
		proxyPort, filepath.Join(t.TempDir(), "admin.token"))
	write(base + fmt.Sprintf("routes:\n  - match: '.*'\n    to: sip:127.0.0.1:%d\n", a.port))
	d := startDaemon(t, "-c", cfgPath)
	waitHTTP(t, "http://"+d.admin+"/debug/pprof/", 200, d.token(t)) // admin.pprof: true
	users := usersFile(t, repeat("anyone;x;0", 1)...)

	done := make(chan sipp.Result, 1)
	go func() {
		port, _ := sipp.FreePort()
		res, err := sipp.UAC{Dir: t.TempDir(), Target: fmt.Sprintf("127.0.0.1:%d", proxyPort), Transport: "udp", Port: port,
			Calls: 600, Rate: 100, Scenario: scenario(t, "call.xml"), Extra: []string{"-inf", users}, Timeout: 60 * time.Second}.Run(context.Background())
		if err != nil {
			t.Log(err)
		}
		done <- res
	}()
	time.Sleep(2 * time.Second)
	write(base + fmt.Sprintf("routes:\n  - match: '.*'\n    to: sip:127.0.0.1:%d\n", b.port))
	_ = d.cmd.Process.Signal(syscall.SIGHUP)
	res := <-done
	if res.Successful != 600 || res.Failed != 0 {
		t.Fatalf("calls across the reload: %d ok, %d failed\n%s", res.Successful, res.Failed, tailString(d.logs.String(), 2000))
	}
	toA, toB := a.answered(t), b.answered(t)
	t.Logf("600 calls, SIGHUP after 2 s: %d answered by the old route's callee, %d by the new one", toA, toB)
	if toA == 0 || toB == 0 || toA+toB != 600 {
		t.Fatalf("calls by route: old %d, new %d", toA, toB)
	}
	if !strings.Contains(d.logs.String(), "configuration reloaded") {
		t.Fatal("no reload logged")
	}

	// A broken file: refused, logged with its line, and the routing in force stays.
	write(base + "routes: [\n")
	_ = d.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(d.logs.String(), "reload refused") {
		if time.Now().After(deadline) {
			t.Fatalf("no refusal logged:\n%s", tailString(d.logs.String(), 2000))
		}
		time.Sleep(20 * time.Millisecond)
	}
	runScenario(t, d, proxyPort, scenario(t, "call.xml"), usersFile(t, repeat("anyone;x;0", 50)...), 50)
	if got := b.answered(t); got != toB+50 {
		t.Fatalf("after the refused reload the new callee answered %d, want %d", got, toB+50)
	}
	if code := d.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
}
