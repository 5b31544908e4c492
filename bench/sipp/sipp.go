// Package sipp starts real SIPp processes on loopback and reads their statistics. The tests and
// the bench harness share it.
package sipp

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrNotInstalled means the sipp binary is not on PATH (Debian: apt-get install sip-tester).
var ErrNotInstalled = errors.New("sipp not found on PATH (apt-get install -y sip-tester)")

// Path returns the sipp binary.
func Path() (string, error) {
	p, err := exec.LookPath("sipp")
	if err != nil {
		return "", ErrNotInstalled
	}
	return p, nil
}

// FreePort returns a port free for both UDP and TCP on 127.0.0.1 at the time of asking.
func FreePort() (int, error) {
	for i := 0; i < 50; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		_ = l.Close()
		if err == nil {
			_ = u.Close()
			return port, nil
		}
	}
	return 0, errors.New("no free port")
}

// Proc is a running sipp.
type Proc struct {
	cmd  *exec.Cmd
	dir  string
	done chan error
}

// Errors is the process's SIPp error log (the first 5,000 bytes), for a failing test's message.
func (p *Proc) Errors() string { return ErrorLog(p.dir, "uas") }

// transportFlag maps "udp"/"tcp" to sipp's -t value (one socket for all calls).
func transportFlag(tp string) string {
	if strings.EqualFold(tp, "tcp") {
		return "t1"
	}
	return "u1"
}

// StartUAS starts `sipp -sn uas` on 127.0.0.1:port. dir receives its logs.
func StartUAS(dir, transport string, port int, extra ...string) (*Proc, error) {
	return StartUASScenario(dir, "", transport, port, extra...)
}

// StartUASScenario starts a SIPp UAS that serves calls until stopped, on 127.0.0.1:port, with
// a scenario file (empty: SIPp's built-in uas). dir receives its logs.
func StartUASScenario(dir, scenario, transport string, port int, extra ...string) (*Proc, error) {
	sc := []string{"-sn", "uas"}
	if scenario != "" {
		sc = []string{"-sf", scenario}
	}
	args := append(append(sc, "-i", "127.0.0.1", "-p", strconv.Itoa(port),
		"-t", transportFlag(transport), "-nostdin", "-trace_err",
		"-error_file", filepath.Join(dir, "uas_errors.log")), extra...)
	return startListening(dir, transport, port, args)
}

// StartServer starts a SIPp server scenario (one that begins by receiving) on 127.0.0.1:port,
// over UDP, for calls calls; Wait returns its statistics once it has served them.
func StartServer(dir, scenario string, port, calls int, extra ...string) (*Proc, error) {
	args := append([]string{"-sf", scenario, "-i", "127.0.0.1", "-p", strconv.Itoa(port), "-t", "u1",
		"-m", strconv.Itoa(calls), "-nostdin", "-trace_stat", "-stf", filepath.Join(dir, "uas_stats.csv"),
		"-trace_err", "-error_file", filepath.Join(dir, "uas_errors.log")}, extra...)
	return startListening(dir, "udp", port, args)
}

// startListening starts a SIPp that listens on 127.0.0.1:port and returns once it does, rather
// than after a guessed sleep. The kernel's socket table says so (/proc/net): probing by binding
// the port ourselves would take it from SIPp for a moment.
func startListening(dir, transport string, port int, args []string) (*Proc, error) {
	p, err := start(dir, "uas", args)
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	table := "/proc/net/udp"
	if strings.EqualFold(transport, "tcp") { // as transportFlag: all but tcp is UDP
		table = "/proc/net/tcp"
	}
	deadline := time.Now().Add(5 * time.Second)
	for !listening(table, port) {
		select {
		case err := <-p.done:
			p.done <- err
			return nil, fmt.Errorf("sipp exited before listening on %s: %v\n%s", addr, err, ErrorLog(dir, "uas"))
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.Stop()
			return nil, fmt.Errorf("sipp did not listen on %s within 5 s", addr)
		}
	}
	return p, nil
}

// Wait waits up to timeout for a server started with StartServer to finish, and returns its
// statistics. It stops the process at the deadline.
func (p *Proc) Wait(timeout time.Duration) (Result, error) {
	var waitErr error
	select {
	case waitErr = <-p.done:
	case <-time.After(timeout):
		p.Stop()
		return Result{}, fmt.Errorf("sipp server did not finish within %s", timeout)
	}
	p.cmd.Process = nil // finished: Stop has nothing to do
	res := Result{}
	var ee *exec.ExitError
	if errors.As(waitErr, &ee) {
		res.ExitCode = ee.ExitCode()
	}
	stats, err := ReadStats(filepath.Join(p.dir, "uas_stats.csv"))
	if err != nil {
		return res, err
	}
	res.fill(stats)
	return res, nil
}

func start(dir, name string, args []string) (*Proc, error) {
	bin, err := Path()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	out, err := os.Create(filepath.Join(dir, name+".out"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = out.Close()
		return nil, err
	}
	p := &Proc{cmd: cmd, dir: dir, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); _ = out.Close() }()
	return p, nil
}

// listening reports whether a socket of /proc/net table (udp or tcp, IPv4) is bound to
// 127.0.0.1:port (and, for TCP, listening).
func listening(table string, port int) bool {
	b, err := os.ReadFile(table)
	if err != nil {
		return false
	}
	want := fmt.Sprintf("0100007F:%04X", port)
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 3 && f[1] == want && (table != "/proc/net/tcp" || f[3] == "0A") {
			return true
		}
	}
	return false
}

// Stop ends the process (SIGTERM, then SIGKILL after a second).
func (p *Proc) Stop() {
	if p == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// UAC describes a `sipp -sn uac` run (or a scenario file's run).
type UAC struct {
	Dir       string // working directory for logs and the stats file
	Target    string // host:port of the proxy
	Transport string // "udp" or "tcp"
	Port      int    // local port of the UAC
	Calls     int    // -m
	Rate      int    // calls per second (-r)
	Scenario  string // scenario file; empty for the built-in uac
	Extra     []string
	Timeout   time.Duration // hard limit for the run; default 2 minutes
}

// Result is the UAC's final statistics.
type Result struct {
	Successful, Failed, Retransmissions, Created int
	ExitCode                                     int
	Stats                                        map[string]string // the last CSV row, by column
}

// Run runs the UAC to completion and returns its statistics.
func (u UAC) Run(ctx context.Context) (Result, error) {
	if u.Timeout == 0 {
		u.Timeout = 2 * time.Minute
	}
	stf := filepath.Join(u.Dir, "uac_stats.csv")
	args := []string{u.Target, "-i", "127.0.0.1", "-p", strconv.Itoa(u.Port),
		"-t", transportFlag(u.Transport),
		"-m", strconv.Itoa(u.Calls), "-r", strconv.Itoa(u.Rate),
		"-nostdin", "-trace_stat", "-stf", stf, "-trace_err",
		"-error_file", filepath.Join(u.Dir, "uac_errors.log"),
		"-timeout", strconv.Itoa(int(u.Timeout.Seconds())) + "s", "-timeout_error"}
	if u.Scenario != "" {
		args = append(args, "-sf", u.Scenario)
	} else {
		args = append(args, "-sn", "uac")
	}
	args = append(args, u.Extra...)
	ctx, cancel := context.WithTimeout(ctx, u.Timeout+10*time.Second)
	defer cancel()
	p, err := start(u.Dir, "uac", args)
	if err != nil {
		return Result{}, err
	}
	var waitErr error
	select {
	case waitErr = <-p.done:
	case <-ctx.Done():
		p.Stop()
		return Result{}, fmt.Errorf("sipp uac did not finish in time: %w", ctx.Err())
	}
	res := Result{}
	var ee *exec.ExitError
	if errors.As(waitErr, &ee) {
		res.ExitCode = ee.ExitCode()
	}
	stats, err := ReadStats(stf)
	if err != nil {
		out, _ := os.ReadFile(filepath.Join(u.Dir, "uac.out"))
		return res, fmt.Errorf("%w (sipp exit %d): %s", err, res.ExitCode, tail(out, 2000))
	}
	res.fill(stats)
	return res, nil
}

func (res *Result) fill(stats map[string]string) {
	res.Stats = stats
	res.Successful, _ = strconv.Atoi(stats["SuccessfulCall(C)"])
	res.Failed, _ = strconv.Atoi(stats["FailedCall(C)"])
	res.Retransmissions, _ = strconv.Atoi(stats["Retransmissions(C)"])
	res.Created, _ = strconv.Atoi(stats["TotalCallCreated"])
}

// ReadStats reads the last row of a sipp -trace_stat CSV file into a map by column name.
func ReadStats(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.Comma = ';'
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		return nil, err
	}
	if len(rows) < 2 {
		return nil, fmt.Errorf("%s: no statistics row", path)
	}
	head, last := rows[0], rows[len(rows)-1]
	m := make(map[string]string, len(head))
	for i, h := range head {
		if i < len(last) {
			m[h] = last[i]
		}
	}
	return m, nil
}

// ErrorLog returns a sipp error log in dir for a test failure message: its beginning, where the
// first error (the cause) is, and its end, where the last are (often that cause's echoes).
func ErrorLog(dir, name string) string {
	b, _ := os.ReadFile(filepath.Join(dir, name+"_errors.log"))
	if len(b) <= 5000 {
		return string(b)
	}
	return string(b[:2500]) + "\n[…]\n" + tail(b, 2500)
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
