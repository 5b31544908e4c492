package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/partysip/partysip/bench/sipp"
	"github.com/partysip/partysip/config"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "partysip-e2e")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "partysip")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building partysip:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// daemon is a partysip process started by a test.
type daemon struct {
	cmd       *exec.Cmd
	logs      *syncLog
	done      chan error
	admin     string // host:port of its admin API
	tokenFile string // its admin API's token
}

// token is the daemon's admin API token (it makes it at start).
func (d *daemon) token(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(d.tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// syncLog collects the daemon's output from its reader goroutine for the test to read.
type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncLog) add(line string) {
	l.mu.Lock()
	l.b.WriteString(line + "\n")
	l.mu.Unlock()
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startDaemon runs the real binary and waits until it says it is listening.
func startDaemon(t *testing.T, args ...string) *daemon {
	t.Helper()
	// Bindings go to a store of the test's own unless it names one (or a config file does).
	if !slices.Contains(args, "--store") && !slices.Contains(args, "-c") {
		args = append(args, "--store", filepath.Join(t.TempDir(), "bindings.db"))
	}
	// The admin API on a port of the test's own, so daemons never contend for the default.
	adminAddr := ""
	if i := slices.Index(args, "--admin"); i >= 0 {
		adminAddr = args[i+1]
	} else {
		port, err := sipp.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		adminAddr = fmt.Sprintf("127.0.0.1:%d", port)
		args = append(args, "--admin", adminAddr)
	}
	cmd := exec.Command(binary, append([]string{"run", "--log-format", "json"}, args...)...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemon{cmd: cmd, logs: &syncLog{}, done: make(chan error, 1), admin: adminAddr, tokenFile: tokenFileOf(t, args)}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		once := false
		for sc.Scan() {
			line := sc.Text()
			d.logs.add(line)
			if !once && strings.Contains(line, "partysip listening") {
				once = true
				close(ready)
			}
		}
	}()
	go func() { err := cmd.Wait(); _ = pw.Close(); d.done <- err }()
	select {
	case <-ready:
	case err := <-d.done:
		t.Fatalf("partysip exited before listening: %v\n%s", err, d.logs.String())
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("partysip did not start listening")
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return d
}

// tokenFileOf is where a daemon started with args keeps its admin token: beside the store the
// flags or the configuration file name.
func tokenFileOf(t *testing.T, args []string) string {
	t.Helper()
	cfg := config.Default()
	if i := slices.Index(args, "-c"); i >= 0 {
		var err error
		if cfg, err = config.Load(args[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if i := slices.Index(args, "--store"); i >= 0 {
		cfg.Store.Path = args[i+1]
	}
	return cfg.AdminTokenFile()
}

// stop sends SIGTERM and returns the exit code.
func (d *daemon) stop(t *testing.T) int {
	t.Helper()
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	return d.wait(t)
}

// wait waits (up to 30 s) for the daemon to exit and returns its exit code.
func (d *daemon) wait(t *testing.T) int {
	t.Helper()
	select {
	case err := <-d.done:
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatalf("wait: %v", err)
		}
		return 0
	case <-time.After(30 * time.Second):
		_ = d.cmd.Process.Kill()
		t.Fatalf("partysip did not exit after SIGTERM")
		return -1
	}
}

// TestCallsThroughProxy places 1,000 calls from a real `sipp -sn uac` through the partysip
// binary to a real `sipp -sn uas`, over UDP, over TCP, and from UDP to TCP. The built-in UAC sends its ACK
// and BYE to the proxy with the proxy's address in the Request-URI, so the catch-all route
// carries those to the UAS as well.
func TestCallsThroughProxy(t *testing.T) {
	sipp.SlowTier(t)
	if _, err := sipp.Path(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, uac, uas string
		extra          []string
	}{
		{"udp", "udp", "udp", nil},
		{"tcp", "tcp", "tcp", nil},
		{"udp-to-tcp", "udp", "tcp", nil},                        // a transport change: double Record-Route
		{"udp-stateless", "udp", "udp", []string{"--stateless"}}, // §16.11: no transactions at all
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			proxyPort, _ := sipp.FreePort()
			uasPort, _ := sipp.FreePort()
			uacPort, _ := sipp.FreePort()
			d := startDaemon(t, append([]string{
				"--listen", fmt.Sprintf("udp:127.0.0.1:%d", proxyPort),
				"--listen", fmt.Sprintf("tcp:127.0.0.1:%d", proxyPort),
				"--route", fmt.Sprintf(".*=sip:127.0.0.1:%d;transport=%s", uasPort, c.uas)}, c.extra...)...)
			uas, err := sipp.StartUAS(dir, c.uas, uasPort)
			if err != nil {
				t.Fatal(err)
			}
			defer uas.Stop()
			res, err := sipp.UAC{
				Dir: dir, Target: fmt.Sprintf("127.0.0.1:%d", proxyPort), Transport: c.uac, Port: uacPort,
				Calls: 1000, Rate: 200, Timeout: 90 * time.Second,
			}.Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if res.Successful != 1000 || res.Failed != 0 {
				t.Fatalf("calls: %d successful, %d failed (want 1000, 0)\nuac errors:\n%s\nproxy log tail:\n%s",
					res.Successful, res.Failed, sipp.ErrorLog(dir, "uac"), tailString(d.logs.String(), 3000))
			}
			t.Logf("%s: %d calls ok, %d failed, %d retransmissions", c.name, res.Successful, res.Failed, res.Retransmissions)
			if code := d.stop(t); code != 0 {
				t.Fatalf("exit code %d after SIGTERM\n%s", code, tailString(d.logs.String(), 2000))
			}
			if !strings.Contains(d.logs.String(), `"stopped"`) {
				t.Fatalf("no clean stop logged:\n%s", tailString(d.logs.String(), 2000))
			}
		})
	}
}

func tailString(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// TestSIGTERMDuringLoad sends SIGTERM in the middle of a SIPp run of 2-second calls: every call
// answered before it completes (its BYE still goes through), every call tried after it gets 503
// (and nothing else fails), and the daemon exits 0 once the last call hung up.
func TestSIGTERMDuringLoad(t *testing.T) {
	sipp.SlowTier(t)
	if _, err := sipp.Path(); err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	proxyPort, _ := sipp.FreePort()
	uasPort, _ := sipp.FreePort()
	uacPort, _ := sipp.FreePort()
	d := startDaemon(t, "--listen", fmt.Sprintf("udp:127.0.0.1:%d", proxyPort),
		"--route", fmt.Sprintf(".*=sip:127.0.0.1:%d", uasPort), "--drain-timeout", "30s")
	uas, err := sipp.StartUAS(dir, "udp", uasPort)
	if err != nil {
		t.Fatal(err)
	}
	defer uas.Stop()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("uac errors:\n%s\ndaemon log tail:\n%s", sipp.ErrorLog(dir, "uac"), tailString(d.logs.String(), 3000))
		}
	})
	time.Sleep(200 * time.Millisecond)
	const calls = 150
	type result struct {
		res sipp.Result
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := sipp.UAC{Dir: dir, Target: fmt.Sprintf("127.0.0.1:%d", proxyPort), Transport: "udp", Port: uacPort,
			Calls: calls, Rate: 50, Extra: []string{"-d", "2000"}, Timeout: 60 * time.Second}.Run(context.Background())
		done <- result{res, err}
	}()
	time.Sleep(1500 * time.Millisecond)
	start := time.Now()
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	// While it drains: not ready for new calls, and the calls in progress are visible.
	waitHTTP(t, "http://"+d.admin+"/readyz", http.StatusServiceUnavailable)
	if live := metric(t, d, "partysip_dialogs_live"); live <= 0 {
		t.Errorf("no call in progress visible during the drain (partysip_dialogs_live %v)", live)
	}
	code := d.wait(t)
	took := time.Since(start)
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	res := r.res
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var rejected int
	for _, line := range strings.Split(d.logs.String(), "\n") {
		if strings.Contains(line, `"msg":"stopped"`) {
			_, _ = fmt.Sscanf(line[strings.Index(line, `"rejected_while_draining":`):], `"rejected_while_draining":%d`, &rejected)
		}
	}
	t.Logf("SIGTERM after 1.5 s: exit after %s; %d calls completed, %d refused with 503, daemon counted %d", took.Round(time.Millisecond), res.Successful, res.Failed, rejected)
	if res.Successful == 0 || rejected == 0 {
		t.Fatalf("want calls both completed and refused: %+v, rejected %d", res, rejected)
	}
	if res.Failed != rejected || res.Successful+res.Failed != calls {
		t.Fatalf("every failed call must be one refused by the drain: %d failed, %d refused, %d ok of %d",
			res.Failed, rejected, res.Successful, calls)
	}
	if took > 20*time.Second {
		t.Fatalf("the drain took %s: a transaction or call was left behind", took)
	}
	if took < 1500*time.Millisecond {
		t.Fatalf("exited after %s: the answered 2 s calls cannot all have ended", took)
	}
}

// waitHTTP polls url until it answers status (5 s at most).
func waitHTTP(t *testing.T, url string, status int, token ...string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if len(token) > 0 {
			req.Header.Set("Authorization", "Bearer "+token[0])
		}
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == status {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never answered %d (last: %v %v)", url, status, res, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// metric reads one sample of the daemon's /metrics ("name" or "name{labels}").
func metric(t *testing.T, d *daemon, sample string) float64 {
	t.Helper()
	res, err := http.Get("http://" + d.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, sample+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return v
		}
	}
	t.Fatalf("no sample %s in /metrics", sample)
	return 0
}

// TestSystemdReadiness runs the daemon as systemd's Type=notify would: it says READY=1 once it
// listens, and STOPPING=1 when SIGTERM starts the drain.
func TestSystemdReadiness(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	port, _ := sipp.FreePort()
	t.Setenv("NOTIFY_SOCKET", sock)
	d := startDaemon(t, "--listen", fmt.Sprintf("udp:127.0.0.1:%d", port))
	read := func(want string) {
		t.Helper()
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 256)
		n, err := conn.Read(buf)
		if err != nil || !strings.Contains(string(buf[:n]), want) {
			t.Fatalf("want %s from the daemon, got %q %v", want, buf[:n], err)
		}
	}
	read("READY=1")
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	read("STOPPING=1")
	if code := d.wait(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// TestFaultInjectionUnderLoad turns on panics in 1% of new transaction actors (through the
// admin API) during a SIPp run: the calls that fail are the ones a fault hit, no more; the
// daemon stays up, counts the failures, and serves a clean run once faults are off again.
func TestFaultInjectionUnderLoad(t *testing.T) {
	sipp.SlowTier(t)
	if _, err := sipp.Path(); err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	proxyPort, _ := sipp.FreePort()
	uasPort, _ := sipp.FreePort()
	d := startDaemon(t, "--listen", fmt.Sprintf("udp:127.0.0.1:%d", proxyPort),
		"--route", fmt.Sprintf(".*=sip:127.0.0.1:%d", uasPort))
	uas, err := sipp.StartUAS(dir, "udp", uasPort)
	if err != nil {
		t.Fatal(err)
	}
	defer uas.Stop()
	waitHTTP(t, "http://"+d.admin+"/readyz", 200)
	setFaults := func(body string) {
		req, _ := http.NewRequest(http.MethodPut, "http://"+d.admin+"/v1/faults", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+d.token(t))
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("PUT /v1/faults: %v %v", res, err)
		}
		res.Body.Close()
	}
	run := func(calls int) sipp.Result {
		port, _ := sipp.FreePort()
		res, err := sipp.UAC{Dir: t.TempDir(), Target: fmt.Sprintf("127.0.0.1:%d", proxyPort), Transport: "udp", Port: port,
			Calls: calls, Rate: 250, Timeout: 90 * time.Second}.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	setFaults(`{"transaction": 0.01, "dialog": 0, "registration": 0}`)
	res := run(1000)
	panics := int(metric(t, d, `partysip_actor_failures_total{kind="transaction"}`))
	t.Logf("1%% of transaction actors panic: %d calls ok, %d failed, %d actors failed", res.Successful, res.Failed, panics)
	// Each fault fails the one call it hit (about 4 transactions a call: INVITE and BYE, each
	// on both sides); two faults in one call (rare) make one failure.
	if panics == 0 || res.Failed == 0 || res.Failed > panics || res.Failed < panics-3 || res.Successful+res.Failed != 1000 {
		t.Fatalf("%d failed calls for %d injected faults", res.Failed, panics)
	}
	setFaults(`{"transaction": 0, "dialog": 0, "registration": 0}`)
	if res := run(200); res.Successful != 200 || res.Failed != 0 {
		t.Fatalf("after faults off: %+v", res)
	}
	// The stall drill: 2% of server transactions sit still for 1 s, dropping what arrives. Their
	// callers retransmit and get through once the stall ends; nothing fails.
	setFaults(`{"stall": 0.02, "stall_for": 1000000000}`)
	res = run(500)
	stalls := metric(t, d, "partysip_transactions_stalled_total")
	t.Logf("2%% of server transactions stalled 1 s: %d calls ok, %d failed, %v stalls", res.Successful, res.Failed, stalls)
	if res.Successful != 500 || res.Failed != 0 || stalls == 0 {
		t.Fatalf("stall drill: %+v, %v stalls", res, stalls)
	}
	if code := d.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
}
