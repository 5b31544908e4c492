package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/partysip/partysip/bench/harness"
	"github.com/partysip/partysip/bench/sipp"
)

// CallsReport is a calls run: each proxy's ramp, and their ratios.
type CallsReport struct {
	Kind    string                    `json:"kind"`
	Step    string                    `json:"step"`
	Started time.Time                 `json:"started"`
	CPUs    int                       `json:"cpus"`
	Proxies map[string][]harness.Step `json:"proxies"`
	Best    map[string]float64        `json:"best_clean_rate"`
	// At the highest rate every proxy ran clean: CPU ms per call of each, and partysip's over
	// Kamailio's.
	CommonRate   int                `json:"common_rate"`
	CPUPerCall   map[string]float64 `json:"cpu_ms_per_call"`
	CPURatio     float64            `json:"cpu_ratio_partysip_over_kamailio,omitempty"`
	BestRatio    float64            `json:"best_rate_ratio_partysip_over_kamailio,omitempty"`
	KamailioSeen bool               `json:"kamailio"`
}

// calls ramps full calls (call.xml: INVITE/100/180/200/ACK/BYE/200 through a Record-Routing
// proxy to an answering SIPp callee) against partysip and, when installed, Kamailio with
// bench/kamailio/kamailio.cfg doing the same work.
func calls(args []string) error {
	fs := flag.NewFlagSet("calls", flag.ExitOnError)
	rates := fs.String("rates", "500,1000,2000,3000,4000,5000", "call rates per second, in order")
	step := fs.Duration("step", 5*time.Second, "how long each rate runs")
	withKamailio := fs.Bool("kamailio", true, "also run Kamailio when it is installed")
	out := fs.String("out", "bench/results", "where results go")
	_ = fs.Parse(args)
	if _, err := sipp.Path(); err != nil {
		return err
	}
	rs, err := parseRates(*rates)
	if err != nil {
		return err
	}
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	dir, _ := filepath.Abs(filepath.Join(*out, time.Now().UTC().Format("20060102T150405Z")+"-calls"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	bin, err := harness.BuildPartysip(root, dir)
	if err != nil {
		return err
	}
	users := filepath.Join(dir, "users.csv")
	if err := os.WriteFile(users, []byte("SEQUENTIAL\nbench;x;0\n"), 0o644); err != nil {
		return err
	}
	rep := CallsReport{Kind: "calls", Step: step.String(), Started: time.Now().UTC(), CPUs: numCPU(),
		Proxies: map[string][]harness.Step{}, Best: map[string]float64{}, CPUPerCall: map[string]float64{}}
	targets := []string{"partysip"}
	if _, err := exec.LookPath("kamailio"); err == nil && *withKamailio {
		targets = append(targets, "kamailio")
		rep.KamailioSeen = true
	}
	for _, name := range targets {
		sub := filepath.Join(dir, "run-"+name)
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return err
		}
		uasPort, _ := sipp.FreePort()
		uas, err := sipp.StartServer(sub, filepath.Join(root, "bench", "scenarios", "uas.xml"), uasPort, 100_000_000)
		if err != nil {
			return err
		}
		port, _ := sipp.FreePort()
		var proxy *harness.Proxy
		switch name {
		case "partysip":
			cfg := filepath.Join(sub, "partysip.yaml")
			body := fmt.Sprintf("listen: [udp:127.0.0.1:%d]\nroutes:\n  - match: '.*'\n    to: sip:127.0.0.1:%d\nstore:\n  driver: memory\n", port, uasPort)
			if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
				uas.Stop()
				return err
			}
			proxy, err = harness.StartPartysip(bin, cfg, filepath.Join(sub, "proxy.log"))
		case "kamailio":
			proxy, err = harness.StartCommand(filepath.Join(sub, "proxy.log"), time.Second, "kamailio",
				// 512 MB of shared memory: the 64 MB default runs out above ~600 calls/s
				// (tm cannot allocate transactions); production configs raise it too.
				"-f", filepath.Join(root, "bench", "kamailio", "kamailio.cfg"), "-D", "-E", "-m", "512", "-M", "16",
				"-l", fmt.Sprintf("udp:127.0.0.1:%d", port), "-A", fmt.Sprintf(`UAS="sip:127.0.0.1:%d"`, uasPort))
		}
		if err != nil {
			uas.Stop()
			return err
		}
		fmt.Fprintln(os.Stderr, "==", name)
		steps, err := harness.Ramp{
			Scenario: filepath.Join(root, "bench", "scenarios", "call.xml"), Extra: []string{"-inf", users},
			Target: fmt.Sprintf("127.0.0.1:%d", port), Rates: rs, Duration: *step, ProxyPID: proxy.PID(), Dir: sub,
			Log: func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) },
		}.Run(context.Background())
		proxy.Stop()
		uas.Stop()
		if err != nil {
			return err
		}
		rep.Proxies[name] = steps
		for _, s := range steps {
			if s.Clean && s.Achieved > rep.Best[name] {
				rep.Best[name] = s.Achieved
			}
		}
	}
	// The highest rate every proxy ran clean.
	for _, r := range rs {
		all := true
		for _, name := range targets {
			ok := false
			for _, s := range rep.Proxies[name] {
				ok = ok || (s.Rate == r && s.Clean)
			}
			all = all && ok
		}
		if all {
			rep.CommonRate = r
		}
	}
	for _, name := range targets {
		for _, s := range rep.Proxies[name] {
			if s.Rate == rep.CommonRate {
				rep.CPUPerCall[name] = s.CPUms1000 / 1000
			}
		}
	}
	if k := rep.CPUPerCall["kamailio"]; k > 0 {
		rep.CPURatio = rep.CPUPerCall["partysip"] / k
	}
	if k := rep.Best["kamailio"]; k > 0 {
		rep.BestRatio = rep.Best["partysip"] / k
	}
	js, _ := json.MarshalIndent(rep, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "results.json"), js, 0o644); err != nil {
		return err
	}
	md := callsSummary(rep, targets)
	if err := os.WriteFile(filepath.Join(dir, "summary.md"), []byte(md), 0o644); err != nil {
		return err
	}
	fmt.Print(md)
	fmt.Fprintln(os.Stderr, "results in", dir)
	return nil
}

func callsSummary(r CallsReport, targets []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Calls through a Record-Routing stateful proxy (%s per step, %d CPUs, SIPp on the same box)\n\n", r.Step, r.CPUs)
	for _, name := range targets {
		fmt.Fprintf(&b, "### %s\n\n", name)
		b.WriteString("| rate asked | achieved/s | failed | retrans | p50 ms | p95 ms | p99 ms | CPU ms / call | peak RSS MB | clean |\n")
		b.WriteString("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | :---: |\n")
		for _, s := range r.Proxies[name] {
			fmt.Fprintf(&b, "| %d | %.0f | %d | %d | %.1f | %.1f | %.1f | %.3f | %.0f | %v |\n",
				s.Rate, s.Achieved, s.Failed, s.Retransmissions, s.P50ms, s.P95ms, s.P99ms, s.CPUms1000/1000, s.PeakRSSMB, s.Clean)
		}
		fmt.Fprintf(&b, "\nHighest clean rate: %.0f calls/s\n\n", r.Best[name])
	}
	if r.KamailioSeen {
		fmt.Fprintf(&b, "At %d calls/s (clean for both): partysip %.3f CPU-ms per call, Kamailio %.3f: ratio %.2f. "+
			"Highest clean rate ratio partysip/Kamailio: %.2f.\n", r.CommonRate, r.CPUPerCall["partysip"], r.CPUPerCall["kamailio"], r.CPURatio, r.BestRatio)
	}
	return b.String()
}
