package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/partysip/partysip/bench/sipp"
)

// The addresses of the attack tests: the proxy listens on 127.0.0.1, the attacker sends from
// 127.0.0.3, and 127.0.0.2 plays the foreign destination it wants to reach through us.
const (
	attackerIP = "127.0.0.3"
	foreignIP  = "127.0.0.2"
)

// sink is a UDP socket on the foreign address that records every datagram it receives: what
// reaches it was relayed.
type sink struct {
	conn *net.UDPConn
	mu   sync.Mutex
	got  []string
}

func newSink(t *testing.T) *sink {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(foreignIP)})
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{conn: conn}
	t.Cleanup(func() { _ = conn.Close() })
	go func() {
		buf := make([]byte, 65535)
		for {
			n, _, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			s.mu.Lock()
			s.got = append(s.got, firstLine(string(buf[:n])))
			s.mu.Unlock()
		}
	}()
	return s
}

func (s *sink) port() int { return s.conn.LocalAddr().(*net.UDPAddr).Port }

func (s *sink) received() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}

func firstLine(msg string) string {
	line, _, _ := strings.Cut(msg, "\r\n")
	return line
}

// attacker is a UDP socket on the attacker's address that sends raw SIP to the proxy.
type attacker struct {
	t     *testing.T
	conn  *net.UDPConn
	proxy *net.UDPAddr
	seq   int
}

func newAttacker(t *testing.T, proxyPort int) *attacker {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(attackerIP)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &attacker{t: t, conn: conn, proxy: &net.UDPAddr{IP: net.ParseIP("127.0.0.1"), Port: proxyPort}}
}

// send sends a request (start line and headers, Via, Call-ID, CSeq and Content-Length added)
// and returns the status of the final response, 0 when none came within 2 s (an ACK, or a
// request dropped).
func (a *attacker) send(method, ruri string, hdrs ...string) int {
	a.t.Helper()
	code, _ := a.exchange(method, ruri, hdrs...)
	return code
}

// nonce asks for a digest challenge (a REGISTER without credentials) and returns its nonce, ""
// when none came.
func (a *attacker) nonce(t *testing.T) string {
	t.Helper()
	_, msg := a.exchange("REGISTER", "sip:127.0.0.1", "From: <sip:alice@127.0.0.1>;tag=n", "To: <sip:alice@127.0.0.1>")
	_, rest, ok := strings.Cut(msg, `nonce="`)
	if !ok {
		return ""
	}
	nonce, _, _ := strings.Cut(rest, `"`)
	return nonce
}

// exchange is send that also returns the final response's text.
func (a *attacker) exchange(method, ruri string, hdrs ...string) (int, string) {
	a.t.Helper()
	a.seq++
	laddr := a.conn.LocalAddr().(*net.UDPAddr)
	raw := fmt.Sprintf("%s %s SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;branch=z9hG4bK-attack-%d;rport\r\nMax-Forwards: 70\r\n"+
		"Call-ID: attack-%d@%s\r\nCSeq: 1 %s\r\n%s\r\nContent-Length: 0\r\n\r\n",
		method, ruri, laddr.IP, laddr.Port, a.seq, a.seq, attackerIP, method, strings.Join(hdrs, "\r\n"))
	if _, err := a.conn.WriteToUDP([]byte(raw), a.proxy); err != nil {
		a.t.Fatal(err)
	}
	buf := make([]byte, 65535)
	deadline := time.Now().Add(2 * time.Second)
	for {
		_ = a.conn.SetReadDeadline(deadline)
		n, _, err := a.conn.ReadFromUDP(buf)
		if err != nil {
			return 0, ""
		}
		fields := strings.Fields(firstLine(string(buf[:n])))
		if len(fields) < 2 || fields[0] != "SIP/2.0" || !strings.Contains(string(buf[:n]), "attack-"+strconv.Itoa(a.seq)+"@") {
			continue
		}
		if code, _ := strconv.Atoi(fields[1]); code >= 200 {
			return code, string(buf[:n])
		}
	}
}

// authDaemon starts partysip with digest authentication (the configuration of
// docs/examples/registrar.yaml's kind) and one user, alice.
func authDaemon(t *testing.T) (*daemon, int) {
	t.Helper()
	usersPath := filepath.Join(t.TempDir(), "users.yaml")
	if err := os.WriteFile(usersPath, []byte("users:\n  - name: alice\n    password: secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	port, _ := sipp.FreePort()
	cfg := registrarConfig(t, port, filepath.Join(t.TempDir(), "bindings.db"), authConfig(usersPath))
	return startDaemon(t, "-c", cfg), port
}

// TestStrangerCannotHijackOrRelay attacks a daemon with auth on, as the closed-by-default issue
// found it open: a REGISTER with a made-up To tag, requests of every kind with a To tag or a
// forged Route set aimed at a foreign hop. None is accepted, none reaches the foreign hop.
func TestStrangerCannotHijackOrRelay(t *testing.T) {
	d, port := authDaemon(t)
	foreign := newSink(t)
	a := newAttacker(t, port)
	hop := fmt.Sprintf("%s:%d", foreignIP, foreign.port())
	us := fmt.Sprintf("127.0.0.1:%d", port)

	// Registration hijack: a To tag used to skip authentication, for any AOR.
	for _, user := range []string{"alice", "nobody"} {
		aor := "sip:" + user + "@127.0.0.1"
		code := a.send("REGISTER", "sip:127.0.0.1", "From: <"+aor+">;tag=x1", "To: <"+aor+">;tag=x", "Contact: <sip:evil@"+hop+">")
		if code != 401 {
			t.Errorf("REGISTER %s with a To tag, no credentials: %d, want 401", user, code)
		}
		code = a.send("REGISTER", "sip:127.0.0.1", "From: <"+aor+">;tag=x1", "To: <"+aor+">;tag=x", "Contact: *", "Expires: 0")
		if code != 401 {
			t.Errorf("REGISTER %s Contact: * with a To tag: %d, want 401", user, code)
		}
	}
	if out, _ := ctl(t, d, "bindings", "list"); !strings.Contains(out, "0 binding(s)") {
		t.Errorf("bindings after the hijack attempts:\n%s", out)
	}

	// Toll fraud: requests for a foreign hop, unauthenticated, from a foreign user and from one
	// claiming to be ours.
	for _, from := range []string{"<sip:evil@" + attackerIP + ">;tag=f", "<sip:alice@127.0.0.1>;tag=f"} {
		for _, method := range []string{"INVITE", "MESSAGE", "NOTIFY", "PUBLISH", "INFO", "BYE"} {
			ruri := "sip:victim@" + hop
			for name, hdrs := range map[string][]string{
				"To tag":                 {"To: <" + ruri + ">;tag=t"},
				"Route: foreign":         {"To: <" + ruri + ">", "Route: <sip:" + hop + ";lr>"},
				"Route: us, foreign":     {"To: <" + ruri + ">;tag=t", "Route: <sip:" + us + ";lr>, <sip:" + hop + ";lr>"},
				"Route: us;sig, foreign": {"To: <" + ruri + ">;tag=t", "Route: <sip:" + us + ";lr;sig=AAAAAAAAAAAAAAAAAAAAAA>, <sip:" + hop + ";lr>"},
			} {
				code := a.send(method, ruri, append([]string{"From: " + from}, hdrs...)...)
				if code != 403 && code != 407 {
					t.Errorf("%s from %s with %s: %d, want 403 or 407", method, from, name, code)
				}
			}
		}
	}
	// Enumeration: a stranger's call to a user who exists (alice, not registered) and to one who
	// does not get the same answer (it used to be 480 and 404: svwar's signal).
	for _, user := range []string{"alice", "nobody"} {
		ruri := "sip:" + user + "@127.0.0.1"
		if code := a.send("INVITE", ruri, "From: <sip:evil@"+attackerIP+">;tag=e", "To: <"+ruri+">"); code != 404 {
			t.Errorf("a stranger calling %s: %d, want 404 for existing and absent users alike", user, code)
		}
	}
	time.Sleep(300 * time.Millisecond)
	if got := foreign.received(); len(got) != 0 {
		t.Fatalf("the foreign hop received %d request(s) relayed for a stranger: %v", len(got), got)
	}
	if !strings.Contains(d.logs.String(), "relaying refused") {
		t.Errorf("no 'relaying refused' in the log")
	}
}

// TestEmbeddedDefaultsAreNotAnOpenRelay: partysip run with nothing configured relays a request
// whose From and Request-URI are both foreign nowhere (403), while a configured route still
// carries anyone's calls (the README's SIPp run: TestCallsThroughProxy).
func TestEmbeddedDefaultsAreNotAnOpenRelay(t *testing.T) {
	port, _ := sipp.FreePort()
	startDaemon(t, "--listen", fmt.Sprintf("udp:127.0.0.1:%d", port))
	foreign := newSink(t)
	a := newAttacker(t, port)
	ruri := fmt.Sprintf("sip:victim@%s:%d", foreignIP, foreign.port())
	for _, method := range []string{"INVITE", "MESSAGE", "OPTIONS"} {
		if code := a.send(method, ruri, "From: <sip:evil@"+attackerIP+">;tag=f", "To: <"+ruri+">"); code != 403 {
			t.Errorf("%s from a stranger to a foreign destination: %d, want 403", method, code)
		}
	}
	time.Sleep(300 * time.Millisecond)
	if got := foreign.received(); len(got) != 0 {
		t.Fatalf("relayed by the embedded defaults: %v", got)
	}
}

// TestAdminNeedsItsToken: a local user without the token reads and changes nothing through the
// admin API (it used to add users, delete bindings and turn on fault injection for anyone);
// monitoring stays open; partysip ctl -c finds the address and the token by itself.
func TestAdminNeedsItsToken(t *testing.T) {
	port, _ := sipp.FreePort()
	adminPort, _ := sipp.FreePort()
	admin := fmt.Sprintf("127.0.0.1:%d", adminPort)
	cfg := registrarConfig(t, port, filepath.Join(t.TempDir(), "bindings.db"), "admin:\n  listen: "+admin+"\n")
	d := startDaemon(t, "-c", cfg, "--admin", admin)
	waitHTTP(t, "http://"+admin+"/healthz", 200)
	do := func(method, path, token, body string) int {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+admin+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	calls := []struct{ method, path, body string }{
		{"GET", "/v1/bindings", ""},
		{"DELETE", "/v1/bindings?aor=alice@127.0.0.1&contact=sip:alice@127.0.0.1", ""},
		{"GET", "/v1/users", ""},
		{"PUT", "/v1/users/mallory", `{"password": "x"}`},
		{"DELETE", "/v1/users/alice", ""},
		{"GET", "/v1/faults", ""},
		{"PUT", "/v1/faults", `{"transaction": 1}`},
		{"GET", "/v1/dialogs", ""},
		{"GET", "/v1/transactions", ""},
	}
	for _, token := range []string{"", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"} {
		for _, c := range calls {
			if code := do(c.method, c.path, token, c.body); code != http.StatusUnauthorized {
				t.Errorf("%s %s with token %q: %d, want 401", c.method, c.path, token, code)
			}
		}
	}
	for _, path := range []string{"/metrics", "/healthz", "/readyz"} {
		if code := do("GET", path, "", ""); code != http.StatusOK {
			t.Errorf("GET %s without a token: %d, want 200", path, code)
		}
	}
	if code := do("GET", "/v1/faults", d.token(t), ""); code != http.StatusOK {
		t.Fatalf("GET /v1/faults with the token: %d", code)
	}
	if fi, err := os.Stat(d.tokenFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file %s: %v %v, want mode 0600", d.tokenFile, fi.Mode(), err)
	}
	// ctl with only -c: the address and the token come from the configuration.
	out, err := exec.Command(binary, "ctl", "-c", cfg, "users", "add", "bob", "pw").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "user bob set") {
		t.Fatalf("ctl -c users add: %v\n%s", err, out)
	}
	out, err = exec.Command(binary, "ctl", "-c", cfg, "--token-file", filepath.Join(t.TempDir(), "none"), "users", "list").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "token") {
		t.Fatalf("ctl without the token succeeded or did not say why: %v\n%s", err, out)
	}
}

// TestFlooderIsBanned: one source sends INVITEs as fast as it can (5,000, bounded) while SIPp
// places calls from another at 50/s. The calls go through, the flooder is banned (listed by
// partysip ctl, its requests dropped unanswered and counted), and unbanning it lets it in again.
func TestFlooderIsBanned(t *testing.T) {
	sipp.SlowTier(t)
	if _, err := sipp.Path(); err != nil {
		t.Skip(err)
	}
	port, _ := sipp.FreePort()
	uasPort, _ := sipp.FreePort()
	uas, err := sipp.StartUAS(t.TempDir(), "udp", uasPort)
	if err != nil {
		t.Fatal(err)
	}
	defer uas.Stop()
	cfg := registrarConfig(t, port, filepath.Join(t.TempDir(), "bindings.db"),
		fmt.Sprintf("routes:\n  - match: '^service@'\n    to: sip:127.0.0.1:%d\n", uasPort))
	d := startDaemon(t, "-c", cfg)
	flooder := newAttacker(t, port)
	done := make(chan struct{})
	go func() {
		defer close(done)
		proxy := &net.UDPAddr{IP: net.ParseIP("127.0.0.1"), Port: port}
		laddr := flooder.conn.LocalAddr().(*net.UDPAddr)
		for i := 0; i < 5000; i++ {
			msg := fmt.Sprintf("INVITE sip:nobody@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;branch=z9hG4bK-flood-%d\r\n"+
				"Max-Forwards: 70\r\nFrom: <sip:f@%s>;tag=f\r\nTo: <sip:nobody@127.0.0.1>\r\nCall-ID: flood-%d\r\n"+
				"CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n", laddr.IP, laddr.Port, i, attackerIP, i)
			_, _ = flooder.conn.WriteToUDP([]byte(msg), proxy)
		}
	}()
	uacPort, _ := sipp.FreePort()
	res, err := sipp.UAC{Dir: t.TempDir(), Target: fmt.Sprintf("127.0.0.1:%d", port), Transport: "udp", Port: uacPort,
		Calls: 100, Rate: 50, Timeout: 60 * time.Second}.Run(context.Background())
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if res.Successful < 99 {
		t.Fatalf("calls from another source during the flood: %d ok, %d failed", res.Successful, res.Failed)
	}
	out, _ := ctl(t, d, "bans", "list")
	if !strings.Contains(out, attackerIP) || !strings.Contains(out, "request rate") {
		t.Fatalf("the flooder is not listed as banned:\n%s", out)
	}
	if code := flooder.send("OPTIONS", "sip:127.0.0.1", "From: <sip:f@"+attackerIP+">;tag=o", "To: <sip:127.0.0.1>"); code != 0 {
		t.Fatalf("a banned source was answered %d", code)
	}
	if got := metric(t, d, "partysip_source_dropped_total"); got < 1000 {
		t.Fatalf("partysip_source_dropped_total %v: the flood was not dropped", got)
	}
	t.Logf("flood: 5000 INVITEs from %s; calls from 127.0.0.1: %d ok, %d failed; %v dropped", attackerIP,
		res.Successful, res.Failed, metric(t, d, "partysip_source_dropped_total"))
	if out, code := ctl(t, d, "bans", "rm", attackerIP); code != 0 {
		t.Fatalf("bans rm: %s", out)
	}
	if code := flooder.send("OPTIONS", "sip:127.0.0.1", "From: <sip:f@"+attackerIP+">;tag=o", "To: <sip:127.0.0.1>"); code != 200 {
		t.Fatalf("after unban: %d, want 200", code)
	}
}

// TestPasswordGuesserIsBanned: wrong digest credentials from one source are answered 401 up to
// limits.auth_failures (10 by default), then 403, and then nothing at all.
func TestPasswordGuesserIsBanned(t *testing.T) {
	sipp.SlowTier(t)
	d, port := authDaemon(t)
	a := newAttacker(t, port)
	guess := func(i int) int {
		return a.send("REGISTER", "sip:127.0.0.1", "From: <sip:alice@127.0.0.1>;tag=g", "To: <sip:alice@127.0.0.1>",
			"Contact: <sip:alice@"+attackerIP+">",
			fmt.Sprintf(`Authorization: Digest username="alice", realm="127.0.0.1", nonce="%s", uri="sip:127.0.0.1", response="%032x", algorithm=MD5`, a.nonce(t), i))
	}
	for i := 1; i <= 10; i++ {
		if code := guess(i); code != 401 {
			t.Fatalf("guess %d: %d, want 401", i, code)
		}
	}
	if code := guess(11); code != 403 {
		t.Fatalf("guess 11: %d, want 403", code)
	}
	if code := guess(12); code != 0 {
		t.Fatalf("guess 12 from a banned source: %d, want no answer", code)
	}
	if out, _ := ctl(t, d, "bans", "list"); !strings.Contains(out, "failed authentications") {
		t.Fatalf("bans:\n%s", out)
	}
}
