// Command bench is partysip's load harness: it starts the daemon, drives it with SIPp on
// loopback at increasing rates and reports what each rate cost.
//
//	go run ./bench register [--auth] [--store bolt|memory] [--rates 500,1000,2000] [--step 5s]
//	go run ./bench calls [--rates 500,1000,2000] [--step 5s] [--kamailio=true|false]
//
// Results go to bench/results/<run>/ as results.json and summary.md (and on stdout).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/partysip/partysip/bench/harness"
	"github.com/partysip/partysip/bench/sipp"
)

func main() {
	var err error
	switch {
	case len(os.Args) >= 2 && os.Args[1] == "register":
		err = register(os.Args[2:])
	case len(os.Args) >= 2 && os.Args[1] == "calls":
		err = calls(os.Args[2:])
	default:
		fmt.Fprintln(os.Stderr, "usage: go run ./bench register [--auth] [--store bolt|memory] [--rates 500,1000,...] [--step 5s] [--users N]")
		fmt.Fprintln(os.Stderr, "       go run ./bench calls [--rates 500,1000,...] [--step 5s] [--kamailio=true|false]")
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// Report is one run's results.
type Report struct {
	Kind     string         `json:"kind"`
	Auth     bool           `json:"auth"`
	Store    string         `json:"store"`
	Users    int            `json:"users"`
	Step     string         `json:"step"`
	Started  time.Time      `json:"started"`
	CPUs     int            `json:"cpus"`
	Steps    []harness.Step `json:"steps"`
	BestRate float64        `json:"best_clean_rate"`
	// Kamailio's in-memory registrar (usrloc db_mode 0) on the same ramp, when installed.
	Kamailio     []harness.Step `json:"kamailio_steps,omitempty"`
	KamailioBest float64        `json:"kamailio_best_clean_rate,omitempty"`
}

func register(args []string) error {
	fs := flag.NewFlagSet("register", flag.ExitOnError)
	auth := fs.Bool("auth", false, "challenge every REGISTER (digest MD5; two round trips each)")
	storeKind := fs.String("store", "bolt", "bindings store: bolt (durable, the default) or memory")
	rates := fs.String("rates", "500,1000,2000,4000,8000,12000,16000", "REGISTER rates per second, in order")
	step := fs.Duration("step", 5*time.Second, "how long each rate runs")
	users := fs.Int("users", 10000, "distinct users registering")
	out := fs.String("out", "bench/results", "where results go")
	withKamailio := fs.Bool("kamailio", true, "also run Kamailio's in-memory registrar when it is installed (not with --auth)")
	_ = fs.Parse(args)
	if _, err := sipp.Path(); err != nil {
		return err
	}
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	name := "register"
	if *auth {
		name += "-auth"
	}
	dir := filepath.Join(*out, time.Now().UTC().Format("20060102T150405Z")+"-"+name+"-"+*storeKind)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	dir, _ = filepath.Abs(dir)
	bin, err := harness.BuildPartysip(root, dir)
	if err != nil {
		return err
	}
	port, err := sipp.FreePort()
	if err != nil {
		return err
	}
	// Users: the SIPp injection file, and for --auth the daemon's users file.
	var inf, usersYAML strings.Builder
	inf.WriteString("SEQUENTIAL\n")
	usersYAML.WriteString("users:\n")
	for i := 0; i < *users; i++ {
		fmt.Fprintf(&inf, "u%06d;127.0.0.1:9;3600", i)
		if *auth {
			fmt.Fprintf(&inf, ";[authentication username=u%06d password=p%06d]", i, i)
			fmt.Fprintf(&usersYAML, "  - name: u%06d\n    password: p%06d\n", i, i)
		}
		inf.WriteString("\n")
	}
	infPath := filepath.Join(dir, "users.csv")
	if err := os.WriteFile(infPath, []byte(inf.String()), 0o644); err != nil {
		return err
	}
	cfg := fmt.Sprintf("listen: [udp:127.0.0.1:%d]\nstore:\n  driver: %s\n  path: %s\n",
		port, *storeKind, filepath.Join(dir, "bindings.db"))
	scenario := filepath.Join(root, "bench", "scenarios", "register.xml")
	if *auth {
		usersPath := filepath.Join(dir, "users.yaml")
		if err := os.WriteFile(usersPath, []byte(usersYAML.String()), 0o600); err != nil {
			return err
		}
		// SIPp computes MD5 only and reads the first challenge only.
		cfg += fmt.Sprintf("plugins: [sanity, maxfwd, auth, registrar, location, forward]\nauth:\n  users_file: %s\n  algorithms: [MD5]\n", usersPath)
		scenario = filepath.Join(root, "bench", "scenarios", "register_auth.xml")
	}
	cfgPath := filepath.Join(dir, "partysip.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return err
	}
	proxy, err := harness.StartPartysip(bin, cfgPath, filepath.Join(dir, "partysip.log"))
	if err != nil {
		return err
	}
	defer proxy.Stop()

	rs, err := parseRates(*rates)
	if err != nil {
		return err
	}
	rep := Report{Kind: "register", Auth: *auth, Store: *storeKind, Users: *users, Step: step.String(),
		Started: time.Now().UTC(), CPUs: numCPU()}
	rep.Steps, err = harness.Ramp{
		Scenario: scenario, Extra: []string{"-inf", infPath}, Target: fmt.Sprintf("127.0.0.1:%d", port),
		Rates: rs, Duration: *step, ProxyPID: proxy.PID(), Dir: dir,
		Log: func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) },
	}.Run(context.Background())
	if err != nil {
		return err
	}
	proxy.Stop()
	for _, s := range rep.Steps {
		if s.Clean && s.Achieved > rep.BestRate {
			rep.BestRate = s.Achieved
		}
	}
	if _, err := exec.LookPath("kamailio"); err == nil && *withKamailio && !*auth {
		kport, _ := sipp.FreePort()
		sub := filepath.Join(dir, "run-kamailio")
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return err
		}
		kam, err := harness.StartCommand(filepath.Join(sub, "proxy.log"), time.Second, "kamailio",
			"-f", filepath.Join(root, "bench", "kamailio", "kamailio.cfg"), "-D", "-E", "-m", "512", "-M", "16",
			"-l", fmt.Sprintf("udp:127.0.0.1:%d", kport), "-A", `UAS="sip:127.0.0.1:9"`)
		if err != nil {
			return err
		}
		fmt.Fprintln(os.Stderr, "== kamailio")
		rep.Kamailio, err = harness.Ramp{
			Scenario: scenario, Extra: []string{"-inf", infPath}, Target: fmt.Sprintf("127.0.0.1:%d", kport),
			Rates: rs, Duration: *step, ProxyPID: kam.PID(), Dir: sub,
			Log: func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) },
		}.Run(context.Background())
		kam.Stop()
		if err != nil {
			return err
		}
		for _, s := range rep.Kamailio {
			if s.Clean && s.Achieved > rep.KamailioBest {
				rep.KamailioBest = s.Achieved
			}
		}
	}
	js, _ := json.MarshalIndent(rep, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "results.json"), js, 0o644); err != nil {
		return err
	}
	md := summary(rep)
	if err := os.WriteFile(filepath.Join(dir, "summary.md"), []byte(md), 0o644); err != nil {
		return err
	}
	fmt.Print(md)
	fmt.Fprintln(os.Stderr, "results in", dir)
	return nil
}

func summary(r Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## REGISTER ramp (auth: %v, store: %s, %d users, %s per step, %d CPUs)\n\n", r.Auth, r.Store, r.Users, r.Step, r.CPUs)
	b.WriteString("| rate asked | achieved/s | failed | retrans | p50 ms | p95 ms | p99 ms | CPU ms / 1000 | peak RSS MB | clean |\n")
	b.WriteString("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | :---: |\n")
	for _, s := range r.Steps {
		fmt.Fprintf(&b, "| %d | %.0f | %d | %d | %.1f | %.1f | %.1f | %.0f | %.0f | %v |\n",
			s.Rate, s.Achieved, s.Failed, s.Retransmissions, s.P50ms, s.P95ms, s.P99ms, s.CPUms1000, s.PeakRSSMB, s.Clean)
	}
	fmt.Fprintf(&b, "\nHighest clean rate: %.0f REGISTER/s\n", r.BestRate)
	if len(r.Kamailio) > 0 {
		b.WriteString("\n### Kamailio (in-memory usrloc)\n\n| rate asked | achieved/s | failed | retrans | p50 ms | p95 ms | p99 ms | CPU ms / 1000 | peak RSS MB | clean |\n")
		b.WriteString("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | :---: |\n")
		for _, s := range r.Kamailio {
			fmt.Fprintf(&b, "| %d | %.0f | %d | %d | %.1f | %.1f | %.1f | %.0f | %.0f | %v |\n",
				s.Rate, s.Achieved, s.Failed, s.Retransmissions, s.P50ms, s.P95ms, s.P99ms, s.CPUms1000, s.PeakRSSMB, s.Clean)
		}
		fmt.Fprintf(&b, "\nHighest clean rate: Kamailio %.0f REGISTER/s; partysip/Kamailio %.2f\n", r.KamailioBest, r.BestRate/max(r.KamailioBest, 1))
	}
	return b.String()
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" {
		return "", fmt.Errorf("run from inside the partysip module: %v", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out))), nil
}

func numCPU() int { return runtime.NumCPU() }

func parseRates(s string) ([]int, error) {
	var rs []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("--rates: %q is not a rate", f)
		}
		rs = append(rs, n)
	}
	return rs, nil
}
