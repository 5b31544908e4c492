// Command bench is partysip's load harness: it starts the daemon (and Kamailio, when installed,
// with bench/kamailio/kamailio.cfg doing the same work), drives each with SIPp on loopback at
// increasing rates, and reports what each rate cost, side by side.
//
//	go run ./bench all [--runs 3]                        every workload below, one report
//	go run ./bench calls [--runs N] [--rates ...]        INVITE…BYE through a Record-Routing proxy
//	go run ./bench fork                                  the same calls to a user on two phones
//	go run ./bench register [--auth] [--store bolt|memory] [--users N]
//	go run ./bench options                               OPTIONS answered by the proxy itself
//
// Common flags: --runs (ramps per proxy, alternating between proxies; the report gives
// medians), --rates, --step, --kamailio=false, --out, --profile; --target HOST:PORT [--pid N]
// [--uas-port N] drives a proxy already running instead. Results go to bench/results/<run>/:
// results.json, summary.md and chart.png per workload (report.md for `all`).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
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
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "all":
		err = all(os.Args[2:])
	case "calls", "fork", "register", "options":
		var o options
		var w workload
		if w, o, err = parse(os.Args[1], os.Args[2:]); err == nil {
			_, err = o.run(w, "")
		}
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, `usage: go run ./bench all [--runs N] [--step 5s]
       go run ./bench calls [--runs N] [--rates 500,1000,...] [--step 5s] [--kamailio=true|false]
       go run ./bench fork [common flags]
       go run ./bench register [--auth] [--store bolt|memory] [--users N] [common flags]
       go run ./bench options [common flags]
common flags: --runs N --rates R1,R2,... --step D --kamailio=false --out DIR --profile
              --target HOST:PORT [--pid N] [--uas-port N]  (a proxy already running)`)
	os.Exit(2)
}

// options are the flags every workload takes.
type options struct {
	runs     int
	rates    []int
	step     time.Duration
	kamailio bool
	out      string
	profile  bool
	// target: a proxy already running (host:port) is driven instead of starting partysip and
	// Kamailio; pid is its process for CPU and RSS (0: not measured); uasPort is where the
	// SIPp UAS listens (0: a free port), for a running proxy's route to the calls' callee.
	target  string
	pid     int
	uasPort int
	log     func(string, ...any)
}

// workload is one kind of load: its SIPp scenario and how each proxy is set up for it.
type workload struct {
	name, unit, scenario, note string
	rates                      string // default ramp
	users                      int    // lines of the injection file (0: one dummy line)
	auth                       bool
	store                      string
	uas                        bool // a SIPp UAS answers the calls
	kamailio                   bool // Kamailio can do the same work
	// fork: the callee is registered from two phones, one answering (uas.xml), one ringing
	// until the proxy CANCELs it (uas_ring_cancel.xml); no static route.
	fork bool
}

func workloads(name string, auth bool, store string, users int) workload {
	switch name {
	case "calls":
		return workload{name: "calls", unit: "call", scenario: "call.xml", rates: "500,1000,1500,2000,2500,3000,3500,4000,5000",
			uas: true, kamailio: true, store: "memory",
			note: "Full calls (INVITE/100/180/200/ACK/BYE/200, `call.xml`) through a stateful Record-Routing proxy to a SIPp UAS."}
	case "fork":
		return workload{name: "fork", unit: "call", scenario: "call.xml", rates: "250,500,1000,1500,2000,2500,3000",
			uas: true, fork: true, kamailio: true, store: "memory",
			note: "Forked calls (`call.xml`): the callee is registered from two phones and both ring at once; " +
				"one answers (`uas.xml`), the proxy CANCELs the other (`uas_ring_cancel.xml`: 180, then 200 to the CANCEL, " +
				"487, ACK). Kamailio: `lookup(\"location\")` appends both branches, `t_relay` forks them."}
	case "options":
		return workload{name: "options", unit: "OPTIONS", scenario: "options.xml", rates: "2000,4000,8000,12000,16000,20000",
			kamailio: true, store: "memory",
			note: "OPTIONS to the proxy itself, answered 200 (partysip: a server transaction; Kamailio: `sl_send_reply`)."}
	}
	w := workload{name: "register-" + store, unit: "REGISTER", scenario: "register.xml", users: users, store: store,
		rates: "1000,2000,4000,8000,12000,16000,18000,20000", kamailio: !auth,
		note: fmt.Sprintf("One REGISTER per SIPp call, %d users in turn (`register.xml`), bindings store `%s`; "+
			"Kamailio: usrloc in memory (db_mode 0), replying statelessly.", users, store)}
	if auth {
		w.name, w.scenario, w.auth = "register-auth-"+store, "register_auth.xml", true
		w.note = fmt.Sprintf("Digest-authenticated REGISTER (401, then REGISTER with MD5 credentials; "+
			"`register_auth.xml`), %d users, store `%s`. partysip only.", users, store)
	}
	return w
}

func parse(name string, args []string) (workload, options, error) {
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	auth := fs.Bool("auth", false, "register: challenge every REGISTER (digest MD5; two round trips each)")
	store := fs.String("store", "bolt", "register: bindings store, bolt (durable, the default) or memory")
	users := fs.Int("users", 10000, "register: distinct users registering")
	o, rates := commonFlags(fs)
	_ = fs.Parse(args)
	w := workloads(name, *auth, *store, *users)
	if *rates == "" {
		*rates = w.rates
	}
	var err error
	o.rates, err = parseRates(*rates)
	return w, *o, err
}

func commonFlags(fs *flag.FlagSet) (*options, *string) {
	o := &options{log: func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }}
	fs.IntVar(&o.runs, "runs", 1, "ramps per proxy (alternating between proxies); the report gives medians")
	fs.DurationVar(&o.step, "step", 5*time.Second, "how long each rate runs")
	fs.BoolVar(&o.kamailio, "kamailio", true, "also run Kamailio when it is installed")
	fs.StringVar(&o.out, "out", "bench/results", "where results go")
	fs.BoolVar(&o.profile, "profile", false, "profile partysip during each step (cpu.pprof and heap.pprof beside the step's SIPp files)")
	fs.StringVar(&o.target, "target", "", "host:port of a proxy already running: drive it instead of starting partysip and Kamailio")
	fs.IntVar(&o.pid, "pid", 0, "with --target: the proxy's process id, for CPU per operation and peak RSS (0: not measured)")
	fs.IntVar(&o.uasPort, "uas-port", 0, "loopback port of the SIPp UAS that answers calls (0: a free one); with --target, route calls there")
	return o, fs.String("rates", "", "rates per second, in order (default: the workload's)")
}

// all runs every workload with the same options and writes one report.
func all(args []string) error {
	fs := flag.NewFlagSet("all", flag.ExitOnError)
	users := fs.Int("users", 10000, "register: distinct users registering")
	o, rates := commonFlags(fs)
	_ = fs.Parse(args)
	root := filepath.Join(o.out, stamp()+"-all")
	o.out = root
	var md strings.Builder
	fmt.Fprintf(&md, "# partysip bench report\n\n%s, %d CPUs, %s per step, %d run(s) per proxy and workload; "+
		"SIPp UAC (and UAS) on the same machine, loopback.\n\n", time.Now().UTC().Format(time.RFC1123), runtime.NumCPU(), o.step, o.runs)
	for _, w := range []workload{
		workloads("calls", false, "", 0),
		workloads("fork", false, "", 0),
		workloads("register", false, "memory", *users),
		workloads("register", false, "bolt", *users),
		workloads("register", true, "bolt", *users),
		workloads("options", false, "", 0),
	} {
		oo := *o
		var err error
		r := w.rates
		if *rates != "" {
			r = *rates
		}
		if oo.rates, err = parseRates(r); err != nil {
			return err
		}
		fmt.Fprintln(os.Stderr, "### workload", w.name)
		rep, err := oo.run(w, w.name)
		if err != nil {
			return err
		}
		md.WriteString(rep.Markdown())
		fmt.Fprintf(&md, "\n![%s](%s/chart.png)\n\n", w.name, w.name)
	}
	path := filepath.Join(root, "report.md")
	if err := os.WriteFile(path, []byte(md.String()), 0o644); err != nil {
		return err
	}
	fmt.Print(md.String())
	fmt.Fprintln(os.Stderr, "report in", path)
	return nil
}

// run measures workload w: o.runs ramps per proxy, alternating which proxy goes first, each
// proxy started afresh for each ramp. sub names the results directory under o.out (default:
// a time stamp and the workload).
func (o options) run(w workload, sub string) (*harness.Report, error) {
	if _, err := sipp.Path(); err != nil {
		return nil, err
	}
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	if sub == "" {
		sub = stamp() + "-" + w.name
	}
	dir, _ := filepath.Abs(filepath.Join(o.out, sub))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	inf, usersYAML, err := writeUsers(dir, w)
	if err != nil {
		return nil, err
	}
	var bin string
	proxies := []string{"target"}
	if o.target == "" {
		if bin, err = harness.BuildPartysip(root, dir); err != nil {
			return nil, err
		}
		proxies = []string{"partysip"}
		if _, err := exec.LookPath("kamailio"); err == nil && o.kamailio && w.kamailio {
			proxies = append(proxies, "kamailio")
		}
	}
	rep := &harness.Report{Workload: w.name, Unit: w.unit, Note: w.note, Step: o.step.String(),
		Started: time.Now().UTC(), CPUs: runtime.NumCPU()}
	for run := 0; run < o.runs; run++ {
		order := proxies
		if run%2 == 1 && len(proxies) == 2 {
			order = []string{proxies[1], proxies[0]}
		}
		for _, name := range order {
			sub := filepath.Join(dir, fmt.Sprintf("run%d-%s", run+1, name))
			o.log("== %s, run %d/%d: %s", w.name, run+1, o.runs, name)
			steps, err := o.ramp(root, bin, sub, name, w, inf, usersYAML)
			if err != nil {
				return nil, err
			}
			rep.Add(name, steps)
		}
	}
	rep.Finish()
	js, _ := json.MarshalIndent(rep, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "results.json"), js, 0o644); err != nil {
		return nil, err
	}
	md := rep.Markdown()
	if err := os.WriteFile(filepath.Join(dir, "summary.md"), []byte(md), 0o644); err != nil {
		return nil, err
	}
	if err := rep.Chart(filepath.Join(dir, "chart.png")); err != nil {
		return nil, fmt.Errorf("chart: %w", err)
	}
	if sub != w.name {
		fmt.Print(md)
	}
	o.log("results in %s", dir)
	return rep, nil
}

// ramp starts one proxy (none for "target": o.target runs already) and the UAS the workload
// needs in dir, and ramps the scenario at it.
func (o options) ramp(root, bin, dir, name string, w workload, inf, usersYAML string) ([]harness.Step, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	uasAddr := "127.0.0.1:9" // nothing listens: registrations only
	if w.uas {
		uasPort := o.uasPort
		if uasPort == 0 {
			uasPort, _ = sipp.FreePort()
		}
		uas, err := sipp.StartServer(dir, filepath.Join(root, "bench", "scenarios", "uas.xml"), uasPort, 100_000_000,
			"-buff_size", harness.SocketBuffer)
		if err != nil {
			return nil, err
		}
		defer uas.Stop()
		uasAddr = fmt.Sprintf("127.0.0.1:%d", uasPort)
	}
	var phones []string // fork: the callee's two contacts
	if w.fork {
		ringDir := filepath.Join(dir, "ringing")
		ringPort, _ := sipp.FreePort()
		if err := os.MkdirAll(ringDir, 0o755); err != nil {
			return nil, err
		}
		ring, err := sipp.StartServer(ringDir, filepath.Join(root, "bench", "scenarios", "uas_ring_cancel.xml"), ringPort, 100_000_000,
			"-buff_size", harness.SocketBuffer)
		if err != nil {
			return nil, err
		}
		defer ring.Stop()
		phones = []string{uasAddr, fmt.Sprintf("127.0.0.1:%d", ringPort)}
	}
	port, _ := sipp.FreePort()
	target, pid := fmt.Sprintf("127.0.0.1:%d", port), 0
	var proxy *harness.Proxy
	var err error
	var during func(int, time.Duration, string)
	switch name {
	case "target":
		target, pid = o.target, o.pid
	case "partysip":
		// SIPp sends every call from one address: the per-source limits would ban it. The access
		// log is off: the harness measures the proxy, not its log writer.
		cfg := fmt.Sprintf("listen: [udp:127.0.0.1:%d]\nstore:\n  driver: %s\n  path: %s\nlimits:\n  source_requests: 0\n  source_transactions: 0\nlog:\n  access: 0\n",
			port, w.store, filepath.Join(dir, "bindings.db"))
		adminPort, _ := sipp.FreePort()
		adminAddr := fmt.Sprintf("127.0.0.1:%d", adminPort)
		if o.profile {
			cfg += "admin:\n  pprof: true\n"
			during = func(_ int, d time.Duration, stepDir string) {
				profile(adminAddr, filepath.Join(dir, "admin.token"), d, stepDir, o.log)
			}
		}
		if w.uas && !w.fork {
			cfg += fmt.Sprintf("routes:\n  - match: '.*'\n    to: sip:%s\n", uasAddr)
		}
		if w.auth {
			// SIPp computes MD5 only and reads the first challenge only.
			cfg += fmt.Sprintf("plugins: [sanity, maxfwd, auth, registrar, location, forward]\nauth:\n  users_file: %s\n  algorithms: [MD5]\n", usersYAML)
		}
		path := filepath.Join(dir, "partysip.yaml")
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			return nil, err
		}
		var args []string
		if o.profile {
			args = []string{"--admin", adminAddr}
		}
		proxy, err = harness.StartPartysip(bin, path, filepath.Join(dir, "proxy.log"), args...)
	case "kamailio":
		proxy, err = harness.StartCommand(filepath.Join(dir, "proxy.log"), time.Second, "kamailio",
			// Forked, as operators run it: -DD stays in the foreground but forks the workers
			// of kamailio.cfg's children (-D alone is the single-process no-fork mode, which
			// ignores children). 2 GB of shared memory: the 64 MB default runs out above ~600
			// calls/s (tm cannot allocate transactions) and 512 MB near 2,000; production
			// configs raise it too. Its memory is measured as PSS, shared pages counted once.
			"-f", filepath.Join(root, "bench", "kamailio", "kamailio.cfg"), "-DD", "-E", "-m", "2048", "-M", "16",
			"-b", harness.SocketBuffer, // its UDP receive buffer may grow as large as partysip's
			"-l", fmt.Sprintf("udp:127.0.0.1:%d", port), "-A", fmt.Sprintf(`UAS="sip:%s"`, uasAddr))
	}
	if err != nil {
		return nil, err
	}
	if proxy != nil {
		defer proxy.Stop()
		pid = proxy.PID()
	}
	if w.fork {
		if err := registerPhones(root, dir, target, phones); err != nil {
			return nil, err
		}
	}
	return harness.Ramp{
		Scenario: filepath.Join(root, "bench", "scenarios", w.scenario), Extra: []string{"-inf", inf},
		Target: target, Rates: o.rates, Duration: o.step, ProxyPID: pid, Dir: dir,
		Log: o.log, During: during,
	}.Run(context.Background())
}

// registerPhones registers the user every call of the ramp calls ("bench", see writeUsers)
// at each of the contacts, through the proxy at target.
func registerPhones(root, dir, target string, contacts []string) error {
	dir = filepath.Join(dir, "register")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var inf strings.Builder
	inf.WriteString("SEQUENTIAL\n")
	for _, c := range contacts {
		fmt.Fprintf(&inf, "bench;%s;3600\n", c)
	}
	path := filepath.Join(dir, "phones.csv")
	if err := os.WriteFile(path, []byte(inf.String()), 0o644); err != nil {
		return err
	}
	uacPort, _ := sipp.FreePort()
	res, err := sipp.UAC{Dir: dir, Target: target, Transport: "udp", Port: uacPort,
		Calls: len(contacts), Rate: 10, Scenario: filepath.Join(root, "bench", "scenarios", "register.xml"),
		Extra: []string{"-inf", path}, Timeout: 10 * time.Second}.Run(context.Background())
	if err != nil {
		return fmt.Errorf("registering the phones: %w", err)
	}
	if res.Successful != len(contacts) {
		return fmt.Errorf("registering the phones: %d of %d REGISTERs answered 200 (%s)",
			res.Successful, len(contacts), sipp.ErrorLog(dir, "uac"))
	}
	return nil
}

// profile saves a CPU profile of the daemon (its admin API, pprof on) over most of a step,
// then a heap profile (what is live, and what was allocated) at the step's end. The admin API's
// token is in tokenFile (the daemon made it at start).
func profile(admin, tokenFile string, d time.Duration, stepDir string, log func(string, ...any)) {
	token, err := os.ReadFile(tokenFile)
	if err != nil {
		log("profile: %v", err)
		return
	}
	bearer := "Bearer " + strings.TrimSpace(string(token))
	secs := max(int(d.Seconds())-1, 1)
	fetch(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", admin, secs), bearer, filepath.Join(stepDir, "cpu.pprof"), log)
	fetch(fmt.Sprintf("http://%s/debug/pprof/heap", admin), bearer, filepath.Join(stepDir, "heap.pprof"), log)
}

// fetch saves one pprof endpoint's answer to path.
func fetch(url, bearer, path string, log func(string, ...any)) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		log("profile: %v", err)
		return
	}
	req.Header.Set("Authorization", bearer)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log("profile: %v", err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		log("profile: %s: %s", url, resp.Status)
		return
	}
	f, err := os.Create(path)
	if err != nil {
		log("profile: %v", err)
		return
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil {
		log("profile: %v", err)
	}
}

// writeUsers writes the SIPp injection file (and for digest runs the daemon's users file).
func writeUsers(dir string, w workload) (inf, usersYAML string, err error) {
	var csv, yaml strings.Builder
	csv.WriteString("SEQUENTIAL\n")
	yaml.WriteString("users:\n")
	if w.users == 0 {
		csv.WriteString("bench;x;0\n")
	}
	for i := 0; i < w.users; i++ {
		fmt.Fprintf(&csv, "u%06d;127.0.0.1:9;3600", i)
		if w.auth {
			fmt.Fprintf(&csv, ";[authentication username=u%06d password=p%06d]", i, i)
			fmt.Fprintf(&yaml, "  - name: u%06d\n    password: p%06d\n", i, i)
		}
		csv.WriteString("\n")
	}
	inf, usersYAML = filepath.Join(dir, "users.csv"), filepath.Join(dir, "users.yaml")
	if err := os.WriteFile(inf, []byte(csv.String()), 0o644); err != nil {
		return "", "", err
	}
	return inf, usersYAML, os.WriteFile(usersYAML, []byte(yaml.String()), 0o600)
}

func stamp() string { return time.Now().UTC().Format("20060102T150405Z") }

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" {
		return "", fmt.Errorf("run from inside the partysip module: %v", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out))), nil
}

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
