package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/partysip/partysip/bench/sipp"
)

// server starts a SIPp server scenario for calls calls on a free port and returns it with its
// contact address.
func server(t *testing.T, file string, calls int) (*sipp.Proc, string) {
	t.Helper()
	port, _ := sipp.FreePort()
	if !filepath.IsAbs(file) {
		file = scenario(t, file)
	}
	p, err := sipp.StartServer(t.TempDir(), file, port, calls)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return p, fmt.Sprintf("127.0.0.1:%d", port)
}

// served waits for a server to finish its calls and fails the test unless all succeeded.
func served(t *testing.T, p *sipp.Proc, name string, calls int) {
	t.Helper()
	res, err := p.Wait(30 * time.Second)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if res.Successful != calls || res.Failed != 0 {
		t.Fatalf("%s: %d successful, %d failed (want %d, 0)\nsipp errors:\n%s", name, res.Successful, res.Failed, calls, p.Errors())
	}
}

// TestForking drives RFC 3261 §16 forking and CANCEL with real SIPp processes, through one daemon
// (parallel forking, Timer C of 2 s):
//   - a user registered from two phones: one answers, the other rings and gets the proxy's
//     CANCEL (and its 487 is absorbed, not forwarded);
//   - the caller CANCELs while the callee rings: 200 to the CANCEL, the callee's 487 forwarded;
//   - a re-INVITE and an UPDATE inside an answered dialog, loose-routed through the proxy;
//   - a callee that rings for ever: Timer C CANCELs the branch and the caller gets the 487.
func TestForking(t *testing.T) {
	r := newRig(t, "timers:\n  c: 2s\n")
	d := startDaemon(t, "-c", r.cfg)
	const n = 10

	t.Run("forked call, one answers, the other is cancelled", func(t *testing.T) {
		ringing, ringAddr := server(t, cancelMustSay(t, `Reason: SIP;cause=200;text="Call completed elsewhere"`), n)
		runScenario(t, d, r.proxyPort, scenario(t, "register.xml"), usersFile(t, "fork;"+r.contact+";300"), 1)
		runScenario(t, d, r.proxyPort, scenario(t, "register.xml"), usersFile(t, "fork;"+ringAddr+";300"), 1)
		runScenario(t, d, r.proxyPort, scenario(t, "call.xml"), usersFile(t, repeat("fork;x;0", n)...), n)
		served(t, ringing, "the cancelled phone", n)
	})

	t.Run("caller cancels while ringing", func(t *testing.T) {
		ringing, ringAddr := server(t, "uas_ring_cancel.xml", n)
		runScenario(t, d, r.proxyPort, scenario(t, "register.xml"), usersFile(t, "ring;"+ringAddr+";300"), 1)
		runScenario(t, d, r.proxyPort, scenario(t, "call_cancel.xml"), usersFile(t, repeat("ring;x;0", n)...), n)
		served(t, ringing, "the ringing callee", n)
	})

	t.Run("re-INVITE and UPDATE in a dialog", func(t *testing.T) {
		callee, addr := server(t, "uas_reinvite.xml", n)
		runScenario(t, d, r.proxyPort, scenario(t, "register.xml"), usersFile(t, "dlg;"+addr+";300"), 1)
		runScenario(t, d, r.proxyPort, scenario(t, "call_reinvite.xml"), usersFile(t, repeat("dlg;x;0", n)...), n)
		served(t, callee, "the callee", n)
	})

	t.Run("no dialog is left once every call sent its BYE", func(t *testing.T) {
		waitAdmin(t, d)
		if out, code := ctl(t, d, "dialogs", "list"); code != 0 || !strings.Contains(out, "0 dialog(s)") {
			t.Fatalf("every call above ended with BYE (exit %d):\n%s", code, out)
		}
	})

	t.Run("a branch that never answers meets Timer C", func(t *testing.T) {
		ringing, ringAddr := server(t, "uas_ring_cancel.xml", 2)
		runScenario(t, d, r.proxyPort, scenario(t, "register.xml"), usersFile(t, "forever;"+ringAddr+";300"), 1)
		start := time.Now()
		runScenario(t, d, r.proxyPort, scenario(t, "call_ringing_timeout.xml"), usersFile(t, repeat("forever;x;0", 2)...), 2)
		if took := time.Since(start); took < 2*time.Second {
			t.Fatalf("the 487 came after %s, before Timer C (2 s)", took)
		}
		served(t, ringing, "the callee that never answers", 2)
	})
	if code := d.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// TestSequentialForking: with forking.mode sequential, the phone with the highest q rings
// first; it is busy (486), so the next q group is tried and answers.
func TestSequentialForking(t *testing.T) {
	r := newRig(t, "forking:\n  mode: sequential\n")
	d := startDaemon(t, "-c", r.cfg)
	const n = 10
	busy, busyAddr := server(t, "uas_busy.xml", n)
	runScenario(t, d, r.proxyPort, scenario(t, "register_q.xml"), usersFile(t, "seq;"+busyAddr+";300;1.0"), 1)
	runScenario(t, d, r.proxyPort, scenario(t, "register_q.xml"), usersFile(t, "seq;"+r.contact+";300;0.5"), 1)
	runScenario(t, d, r.proxyPort, scenario(t, "call.xml"), usersFile(t, repeat("seq;x;0", n)...), n)
	served(t, busy, "the busy phone (tried first)", n)
	if code := d.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

func repeat(line string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = line
	}
	return out
}

// cancelMustSay is uas_ring_cancel.xml made to fail a call whose CANCEL lacks header (a
// regular expression): the phone that lost a fork must be told why (RFC 3326), or it shows a
// missed call.
func cancelMustSay(t *testing.T, header string) string {
	t.Helper()
	b, err := os.ReadFile(scenario(t, "uas_ring_cancel.xml"))
	if err != nil {
		t.Fatal(err)
	}
	// SIPp's XML reader knows the named entities only (not &#34;).
	attr := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(regexp.QuoteMeta(header))
	check := `<recv request="CANCEL"><action><ereg regexp="` + attr +
		`" search_in="msg" check_it="true" assign_to="reason"/></action></recv><Reference variables="reason"/>`
	out := strings.Replace(string(b), `<recv request="CANCEL"/>`, check, 1)
	if out == string(b) {
		t.Fatal("uas_ring_cancel.xml has no <recv request=\"CANCEL\"/> to check")
	}
	p := filepath.Join(t.TempDir(), "uas_ring_cancel_reason.xml")
	if err := os.WriteFile(p, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
