package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/partysip/partysip/bench/sipp"
)

// sipvicious runs one of the SIPVicious tools (Debian's sipvicious, installed by test.sh) for
// at most a minute and returns what it printed; the test is skipped without it.
func sipvicious(t *testing.T, tool string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		t.Skipf("%s not installed (test.sh installs sipvicious)", tool)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	out, _ := exec.CommandContext(ctx, tool, args...).CombinedOutput()
	t.Logf("%s %s: %v", tool, strings.Join(args, " "), time.Since(start).Round(100*time.Millisecond))
	return string(out)
}

// TestSIPViciousFindsNothing attacks a daemon with digest auth on as SIPVicious does:
// svwar does not tell our users from names that do not exist (REGISTER, INVITE and OPTIONS
// scans, forced past its own sanity check), and svcrack is banned after limits.auth_failures
// (10) wrong passwords, before it reaches the right one (the 12th of its dictionary).
func TestSIPViciousFindsNothing(t *testing.T) {
	sipp.SlowTier(t)
	d, port := authDaemon(t) // alice, password "secret"
	dir := t.TempDir()
	ext := filepath.Join(dir, "ext.txt")
	if err := os.WriteFile(ext, []byte("alice\nbob\nnobody\n100\n1000\nadmin\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, method := range []string{"REGISTER", "INVITE", "OPTIONS"} {
		out := sipvicious(t, "svwar", "--force", "-b", attackerIP, "-d", ext, "-m", method, "--maximumtime", "3", "127.0.0.1", "-p", fmt.Sprint(port))
		if strings.Contains(out, "| alice") || strings.Contains(out, "| bob ") {
			t.Fatalf("svwar -m %s found users:\n%s", method, out)
		}
	}
	var dict strings.Builder
	for i := 1; i < 12; i++ {
		fmt.Fprintf(&dict, "guess%d\n", i)
	}
	dict.WriteString("secret\n")
	pw := filepath.Join(dir, "pw.txt")
	if err := os.WriteFile(pw, []byte(dict.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out := sipvicious(t, "svcrack", "-b", attackerIP, "-u", "alice", "-d", pw, "--maximumtime", "3", "127.0.0.1", "-p", fmt.Sprint(port))
	if strings.Contains(out, "secret") {
		t.Fatalf("svcrack found the password:\n%s", out)
	}
	logs := d.logs.String()
	guesses := strings.Count(logs, `"authentication failed"`)
	if !strings.Contains(logs, "source banned: failed authentications") || guesses > 11 {
		t.Fatalf("svcrack got %d guesses checked and no ban:\n%s", guesses, tailString(logs, 2000))
	}
	t.Logf("svcrack: %d wrong passwords checked, then banned; svwar: no user found", guesses)
}
