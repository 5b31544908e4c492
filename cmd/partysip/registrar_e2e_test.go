package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/partysip/partysip/actors/store"
	"github.com/partysip/partysip/bench/sipp"
	"github.com/partysip/partysip/sipcore/registrar"
)

// scenario returns the path of a SIPp scenario file shipped in bench/scenarios.
func scenario(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "bench", "scenarios", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// usersFile writes a SIPp injection file: one line per user, "user;contact;expires[;password]".
func usersFile(t *testing.T, lines ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "users.csv")
	if err := os.WriteFile(p, []byte("SEQUENTIAL\n"+strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func userLines(prefix string, n int, contact string, expires int, extra ...string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%03d;%s;%d", prefix, i, contact, expires)
		for _, e := range extra {
			out[i] += ";" + e
		}
	}
	return out
}

// runScenario runs a SIPp scenario file against the proxy for every line of users and fails the
// test unless every call succeeded.
func runScenario(t *testing.T, d *daemon, proxyPort int, file, users string, n int) {
	t.Helper()
	expectScenario(t, d, proxyPort, file, users, n, n)
}

// expectScenario runs a SIPp scenario file for n lines of users and fails the test unless
// exactly ok calls succeeded and the others failed.
func expectScenario(t *testing.T, d *daemon, proxyPort int, file, users string, n, ok int) {
	t.Helper()
	dir := t.TempDir()
	port, _ := sipp.FreePort()
	res, err := sipp.UAC{
		Dir: dir, Target: fmt.Sprintf("127.0.0.1:%d", proxyPort), Transport: "udp", Port: port,
		Calls: n, Rate: 200, Scenario: file, Extra: []string{"-inf", users}, Timeout: 60 * time.Second,
	}.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Successful != ok || res.Failed != n-ok {
		t.Fatalf("%s: %d successful, %d failed (want %d, %d)\nsipp errors:\n%s\nproxy log tail:\n%s",
			filepath.Base(file), res.Successful, res.Failed, ok, n-ok, sipp.ErrorLog(dir, "uac"), tailString(d.logs.String(), 3000))
	}
}

// rig is a registrar test's setup: a configuration with a store of its own, the proxy's port,
// and a real SIPp UAS (bench/scenarios/uas.xml) whose address users register as their contact.
type rig struct {
	cfg       string
	store     string // the bindings file the configuration names
	proxyPort int
	contact   string
}

// newRig skips the test without sipp, writes the configuration (extra YAML appended) and starts
// the UAS; the daemon is the test's to start.
func newRig(t *testing.T, extra string) *rig {
	t.Helper()
	if _, err := sipp.Path(); err != nil {
		t.Skip(err)
	}
	proxyPort, _ := sipp.FreePort()
	uasPort, _ := sipp.FreePort()
	// uas.xml copies the Record-Route into its answers as RFC 3261 §12.1.1 asks (sipp -sn uas
	// does not): the caller's ACK and BYE then bring back our signed Record-Route, the proof
	// that they belong to the call.
	uas, err := sipp.StartUASScenario(t.TempDir(), scenario(t, "uas.xml"), "udp", uasPort)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(uas.Stop)
	storePath := filepath.Join(t.TempDir(), "bindings.db")
	return &rig{
		cfg:       registrarConfig(t, proxyPort, storePath, extra),
		store:     storePath,
		proxyPort: proxyPort,
		contact:   fmt.Sprintf("127.0.0.1:%d", uasPort),
	}
}

// registrarConfig writes a configuration for a registrar test: one UDP listener, bindings in
// store, and a minimum expiry low enough to watch a binding expire.
func registrarConfig(t *testing.T, port int, store string, extra string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "partysip.yaml")
	body := fmt.Sprintf("listen: [udp:127.0.0.1:%d]\nregistrar:\n  min_expires: 1s\nstore:\n  path: %s\n%s", port, store, extra)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRegistrationOverTheWire drives the registrar with real SIPp processes: users register with
// the address of a `sipp -sn uas` as their contact, calls placed to their AORs through the
// proxy reach that UAS; re-registration keeps them reachable; unregistration and expiry make
// them unavailable (480).
func TestRegistrationOverTheWire(t *testing.T) {
	sipp.SlowTier(t)
	r := newRig(t, "")
	d := startDaemon(t, "-c", r.cfg)
	proxyPort, contact := r.proxyPort, r.contact
	const n = 50

	users := usersFile(t, userLines("user", n, contact, 300)...)
	runScenario(t, d, proxyPort, scenario(t, "register.xml"), users, n)
	runScenario(t, d, proxyPort, scenario(t, "call.xml"), users, n)

	// Re-registration (new Call-IDs, same contacts): still one binding each, still reachable.
	runScenario(t, d, proxyPort, scenario(t, "register.xml"), users, n)
	runScenario(t, d, proxyPort, scenario(t, "call.xml"), users, n)

	// Unregister the first ten: calls to them get 480; the others still ring.
	gone := usersFile(t, userLines("user", 10, contact, 0)...)
	runScenario(t, d, proxyPort, scenario(t, "register.xml"), gone, 10)
	runScenario(t, d, proxyPort, scenario(t, "call_unavailable.xml"), gone, 10)

	// A binding of 1 s expires on its timer: 480 afterwards.
	short := usersFile(t, userLines("short", 5, contact, 1)...)
	runScenario(t, d, proxyPort, scenario(t, "register.xml"), short, 5)
	runScenario(t, d, proxyPort, scenario(t, "call.xml"), short, 5)
	time.Sleep(2 * time.Second)
	runScenario(t, d, proxyPort, scenario(t, "call_unavailable.xml"), short, 5)

	if code := d.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// TestBindingsSurviveKill registers users, kills the daemon with SIGKILL (no chance to flush
// anything), restarts it on the same store and calls every user.
func TestBindingsSurviveKill(t *testing.T) {
	sipp.SlowTier(t)
	r := newRig(t, "")
	cfg, proxyPort := r.cfg, r.proxyPort
	const n = 200
	users := usersFile(t, userLines("k", n, r.contact, 600)...)

	d := startDaemon(t, "-c", cfg)
	runScenario(t, d, proxyPort, scenario(t, "register.xml"), users, n)
	// Every REGISTER was answered 200, so every binding is on disk: kill at once.
	_ = d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.done

	d = startDaemon(t, "-c", cfg)
	if !strings.Contains(d.logs.String(), fmt.Sprintf(`"stored_aors":%d`, n)) {
		t.Fatalf("restarted daemon did not report %d stored AORs:\n%s", n, tailString(d.logs.String(), 2000))
	}
	runScenario(t, d, proxyPort, scenario(t, "call.xml"), users, n)
	if code := d.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// TestRestartWith100kStoredAORs starts the daemon on a store that already holds 100,000
// addresses-of-record (more than the store queues operations: it used to fail from ~4,500 with
// "too many operations queued"): it says READY, reports them all, and calls to users sampled
// across the store reach their contact at once.
func TestRestartWith100kStoredAORs(t *testing.T) {
	sipp.SlowTier(t)
	const n, every = 100_000, 5_000
	r := newRig(t, "")
	recs := make([]registrar.Record, n)
	var sampled []string
	expires := time.Now().Add(time.Hour)
	for i := range recs {
		user := fmt.Sprintf("m%06d", i)
		contact := "sip:" + user + "@127.0.0.2:9" // loopback: never called
		if i%every == 0 || i == n-1 {
			contact = "sip:" + user + "@" + r.contact
			sampled = append(sampled, fmt.Sprintf("%s;%s;3600", user, r.contact))
		}
		recs[i] = registrar.Record{AOR: "sip:" + user + "@127.0.0.1", Bindings: []registrar.Binding{{
			Contact: contact, Q: registrar.QUnset, CallID: user, CSeq: 1, Expires: expires, Updated: time.Now(),
		}}}
	}
	st, err := store.OpenBolt(r.store)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.SaveAll(st, recs); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	d := startDaemon(t, "-c", r.cfg)
	ready := time.Since(start)
	if !strings.Contains(d.logs.String(), fmt.Sprintf(`"stored_aors":%d`, n)) {
		t.Fatalf("daemon did not report %d stored AORs:\n%s", n, tailString(d.logs.String(), 2000))
	}
	t.Logf("READY %v after exec with %d stored AORs; %s", ready.Round(time.Millisecond), n, rss(d.cmd.Process.Pid))
	runScenario(t, d, r.proxyPort, scenario(t, "call.xml"), usersFile(t, sampled...), len(sampled))
	if got := metric(t, d, "partysip_registrations"); got != n {
		t.Fatalf("partysip_registrations %v, want %d", got, n)
	}
	if code := d.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// rss is a process's resident memory as /proc says it, for a test's log.
func rss(pid int) string {
	if b := rssBytes(pid); b > 0 {
		return fmt.Sprintf("RSS %d kB", b>>10)
	}
	return "RSS unknown"
}

// TestRegistrationWithDigest registers users through the auth plugin with real SIPp digest
// credentials (401, then REGISTER with Authorization); a wrong password never gets its 200.
func TestRegistrationWithDigest(t *testing.T) {
	const n = 20
	var users strings.Builder
	users.WriteString("users:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&users, "  - name: auth%03d\n    password: pw%03d\n", i, i)
	}
	usersPath := filepath.Join(t.TempDir(), "users.yaml")
	if err := os.WriteFile(usersPath, []byte(users.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	r := newRig(t, authConfig(usersPath)+"  methods: [REGISTER]\n")
	d := startDaemon(t, "-c", r.cfg)
	proxyPort, contact := r.proxyPort, r.contact

	lines := make([]string, n)
	for i := range lines {
		lines[i] = fmt.Sprintf("auth%03d;%s;300;[authentication username=auth%03d password=pw%03d]", i, contact, i, i)
	}
	runScenario(t, d, proxyPort, scenario(t, "register_auth.xml"), usersFile(t, lines...), n)

	// Wrong passwords: challenged again instead of 200; every one of these registrations fails.
	wrong := make([]string, 5)
	for i := range wrong {
		wrong[i] = fmt.Sprintf("auth%03d;%s;300;[authentication username=auth%03d password=nope]", i, contact, i)
	}
	expectScenario(t, d, proxyPort, scenario(t, "register_auth.xml"), usersFile(t, wrong...), 5, 0)
	if !strings.Contains(d.logs.String(), "authentication failed") {
		t.Fatal("no log line for the failed authentications")
	}
	// The authenticated bindings route calls (only REGISTER is challenged in this setup).
	plain := make([]string, n)
	for i := range plain {
		plain[i] = fmt.Sprintf("auth%03d;%s;300", i, contact)
	}
	runScenario(t, d, proxyPort, scenario(t, "call.xml"), usersFile(t, plain...), n)
	if code := d.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// ctl runs `partysip ctl` against d and returns its output and exit code.
func ctl(t *testing.T, d *daemon, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"ctl", "--admin", d.admin, "--token-file", d.tokenFile}, args...)...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

// TestCtlListsAndRemovesBindings registers users with SIPp, lists them with partysip ctl,
// removes one, and finds calls to it answered 480.
func TestCtlListsAndRemovesBindings(t *testing.T) {
	r := newRig(t, "")
	d := startDaemon(t, "-c", r.cfg)
	waitAdmin(t, d)
	proxyPort, contact := r.proxyPort, r.contact
	users := usersFile(t, userLines("c", 3, contact, 300)...)
	runScenario(t, d, proxyPort, scenario(t, "register.xml"), users, 3)

	out, code := ctl(t, d, "bindings", "list")
	if code != 0 || !strings.Contains(out, "3 binding(s), 3 address(es)-of-record") || !strings.Contains(out, "sip:c001@"+contact) {
		t.Fatalf("list (exit %d):\n%s", code, out)
	}
	out, code = ctl(t, d, "--json", "bindings", "list", "c001@127.0.0.1")
	if code != 0 || strings.Count(out, `"contact"`) != 1 || !strings.Contains(out, `"aor": "sip:c001@127.0.0.1"`) {
		t.Fatalf("list one (exit %d):\n%s", code, out)
	}
	out, code = ctl(t, d, "bindings", "rm", "c001@127.0.0.1", "sip:c001@"+contact)
	if code != 0 || !strings.Contains(out, "removed") {
		t.Fatalf("rm (exit %d):\n%s", code, out)
	}
	if out, code = ctl(t, d, "bindings", "rm", "c001@127.0.0.1", "sip:c001@"+contact); code != 1 || !strings.Contains(out, "has no binding") {
		t.Fatalf("second rm (exit %d):\n%s", code, out)
	}
	if out, code = ctl(t, d, "bindings", "list", "not an aor"); code != 1 || !strings.Contains(out, "not an address-of-record") {
		t.Fatalf("bad AOR (exit %d):\n%s", code, out)
	}
	runScenario(t, d, proxyPort, scenario(t, "call_unavailable.xml"), usersFile(t, "c001;x;0"), 1)
	if out, _ = ctl(t, d, "bindings", "list"); !strings.Contains(out, "2 binding(s)") {
		t.Fatalf("after rm:\n%s", out)
	}
	// The same facts through /metrics and the health endpoints.
	waitHTTP(t, "http://"+d.admin+"/healthz", 200)
	waitHTTP(t, "http://"+d.admin+"/debug/pprof/", 404, d.token(t)) // admin.pprof is off by default
	waitHTTP(t, "http://"+d.admin+"/readyz", 200)
	for sample, want := range map[string]float64{
		"partysip_registrations":                              2,
		"partysip_registers_total":                            3, // the removal is not a REGISTER
		`partysip_requests_received_total{method="REGISTER"}`: 3,
		`partysip_requests_received_total{method="INVITE"}`:   1,
		`partysip_responses_sent_total{class="4xx"}`:          1, // the 480
	} {
		if got := metric(t, d, sample); got != want {
			t.Errorf("%s = %v, want %v", sample, got, want)
		}
	}
	if out, code := ctl(t, d, "transactions", "list"); code != 0 || !strings.Contains(out, "transaction(s)") {
		t.Errorf("transactions list (exit %d):\n%s", code, out)
	}
	if q := metric(t, d, `partysip_shard_queue{shard="0"}`); q != 0 {
		t.Errorf("shard 0 has %v messages queued at rest", q)
	}
	if n := metric(t, d, "partysip_response_seconds_count"); n < 4 {
		t.Errorf("response latency observed %v times, want at least 4", n)
	}
	if code := d.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// TestRedirectServer runs partysip as a redirect server: registered users are answered 302 with
// their contact (checked by the scenario), a known user without a binding 480.
func TestRedirectServer(t *testing.T) {
	r := newRig(t, "plugins: [sanity, maxfwd, registrar, location, redirect, forward]\n")
	d := startDaemon(t, "-c", r.cfg)
	proxyPort := r.proxyPort
	users := usersFile(t, userLines("r", 10, "10.1.2.3:5062", 300)...)
	runScenario(t, d, proxyPort, scenario(t, "register.xml"), users, 10)
	// The contacts (10.1.2.3) are not reachable: the calls succeed only as redirections.
	runScenario(t, d, proxyPort, scenario(t, "call_redirected.xml"), users, 10)
	gone := usersFile(t, userLines("r", 3, "10.1.2.3:5062", 0)...)
	runScenario(t, d, proxyPort, scenario(t, "register.xml"), gone, 3)
	runScenario(t, d, proxyPort, scenario(t, "call_unavailable.xml"), gone, 3)
	if code := d.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// TestRuntimeUsers adds users with partysip ctl (the password once as an argument, once on
// standard input), registers them with digest over SIPp, finds them again after a restart, and
// removes one; a user of the users file cannot be changed at run time.
func TestRuntimeUsers(t *testing.T) {
	usersPath := filepath.Join(t.TempDir(), "users.yaml")
	if err := os.WriteFile(usersPath, []byte("users:\n  - name: fileuser\n    password: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := newRig(t, authConfig(usersPath))
	cfg, proxyPort := r.cfg, r.proxyPort
	adminPort, _ := sipp.FreePort()
	admin := fmt.Sprintf("127.0.0.1:%d", adminPort)
	d := startDaemon(t, "-c", cfg, "--admin", admin)
	waitAdmin(t, d)
	if out, code := ctl(t, d, "users", "add", "dyn1", "pw1"); code != 0 || !strings.Contains(out, "user dyn1 set") {
		t.Fatalf("add dyn1 (exit %d): %s", code, out)
	}
	cmd := exec.Command(binary, "ctl", "--admin", d.admin, "--token-file", d.tokenFile, "users", "add", "dyn2")
	cmd.Stdin = strings.NewReader("pw2\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("add dyn2 from stdin: %v %s", err, out)
	}
	if out, code := ctl(t, d, "users", "add", "fileuser", "y"); code != 1 || !strings.Contains(out, "users file") {
		t.Fatalf("changing a file user (exit %d): %s", code, out)
	}
	creds := usersFile(t, "dyn1;127.0.0.1:9;300;[authentication username=dyn1 password=pw1]",
		"dyn2;127.0.0.1:9;300;[authentication username=dyn2 password=pw2]")
	runScenario(t, d, proxyPort, scenario(t, "register_auth.xml"), creds, 2)

	// Stored with the bindings: a restarted daemon knows them.
	if code := d.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
	d = startDaemon(t, "-c", cfg, "--admin", admin)
	waitAdmin(t, d)
	if out, _ := ctl(t, d, "users", "list"); !strings.Contains(out, "dyn1") || !strings.Contains(out, "dyn2") || !strings.Contains(out, "fileuser  file") {
		t.Fatalf("users after restart:\n%s", out)
	}
	runScenario(t, d, proxyPort, scenario(t, "register_auth.xml"), creds, 2)

	if out, code := ctl(t, d, "users", "rm", "dyn1"); code != 0 {
		t.Fatalf("rm (exit %d): %s", code, out)
	}
	if out, code := ctl(t, d, "users", "rm", "dyn1"); code != 1 || !strings.Contains(out, "no such user") {
		t.Fatalf("second rm (exit %d): %s", code, out)
	}
	dir := t.TempDir()
	port, _ := sipp.FreePort()
	res, err := sipp.UAC{Dir: dir, Target: fmt.Sprintf("127.0.0.1:%d", proxyPort), Transport: "udp", Port: port,
		Calls: 1, Rate: 10, Scenario: scenario(t, "register_auth.xml"),
		Extra:   []string{"-inf", usersFile(t, "dyn1;127.0.0.1:9;300;[authentication username=dyn1 password=pw1]")},
		Timeout: 20 * time.Second}.Run(context.Background())
	if err != nil || res.Failed != 1 {
		t.Fatalf("a removed user registered: %+v %v", res, err)
	}
	if code := d.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// authConfig is the configuration of the auth plugin with a users file. SIPp 3.6 computes MD5
// only and reads the first challenge only.
// authConfig turns digest authentication on with the default settings: SIPp (MD5 only, and it
// reads the first challenge only) must register and call with them as they are.
func authConfig(usersPath string) string {
	return fmt.Sprintf("plugins: [sanity, maxfwd, auth, registrar, location, forward]\nauth:\n  users_file: %s\n", usersPath)
}

func waitAdmin(t *testing.T, d *daemon) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(d.logs.String(), "admin API listening") {
		if time.Now().After(deadline) {
			t.Fatalf("admin API not started:\n%s", d.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
