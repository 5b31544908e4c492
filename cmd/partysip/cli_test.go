package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"github.com/partysip/partysip/actors/plugins/registrar"
	"github.com/partysip/partysip/config"
)

// run runs the built binary and returns its combined output and exit code.
func run(t *testing.T, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command(binary, args...).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

func TestCLI(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	_ = os.WriteFile(good, []byte("listen: [udp:127.0.0.1:5099]\nroutes:\n  - match: '.*'\n    to: sip:127.0.0.1:5070\n"), 0o644)
	_ = os.WriteFile(bad, []byte("listen: [udp:127.0.0.1:5099]\nroutes:\n  - match: '(['\n    to: sip:127.0.0.1:5070\ntimers:\n  t5: 1s\n"), 0o644)
	badUsers := filepath.Join(dir, "users.yaml")
	_ = os.WriteFile(badUsers, []byte("users:\n  - name: alice\n"), 0o600) // no password nor HA1
	withBadUsers := filepath.Join(dir, "auth.yaml")
	_ = os.WriteFile(withBadUsers, []byte("listen: [udp:127.0.0.1:5099]\nplugins: [sanity, auth, forward]\nauth:\n  users_file: "+badUsers+"\n"), 0o644)
	noUsers := filepath.Join(dir, "nousers.yaml")
	_ = os.WriteFile(noUsers, []byte("listen: [udp:127.0.0.1:5099]\nplugins: [sanity, auth, forward]\nauth:\n  users_file: "+filepath.Join(dir, "missing.yaml")+"\n"), 0o644)
	badSection := filepath.Join(dir, "section.yaml")
	_ = os.WriteFile(badSection, []byte("plugins: [sanity, maxfwd, redirect, location, forward]\nmaxfwd:\n  limit: 300\n  limt: 1\nregistrar:\n  max_contacts: many\n"), 0o644)
	misrouted := filepath.Join(dir, "misrouted.yaml")
	_ = os.WriteFile(misrouted, []byte("listen: [udp:127.0.0.1:5060]\nroutes:\n  - match: '^service@'\n    to: sip:127.0.0.9:5060\nplugins: [sanity, maxfwd, forward]\nstore: {driver: memory}\n"), 0o644)
	replay := []string{"sim", "--replay", "testdata/replay/uac_messages.log", "--replay", "testdata/replay/uas_messages.log"}
	cases := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"version", []string{"version"}, 0, []string{"partysip "}},
		{"no command", nil, 2, []string{"Usage:"}},
		{"unknown command", []string{"frobnicate"}, 2, []string{`unknown command "frobnicate"`}},
		{"check good", []string{"check", "-c", good}, 0, []string{"good.yaml: ok"}},
		{"check bad names file, line and key of every problem", []string{"check", "-c", bad}, 1,
			[]string{"bad.yaml:3: routes[0].match: invalid regular expression", "bad.yaml:6: timers.t5: unknown key"}},
		{"check names file, line and key in plugin sections", []string{"check", "-c", badSection}, 1,
			[]string{"section.yaml:3: maxfwd.limit: must be 0 (no limit) to 255, got 300", "section.yaml:4: maxfwd.limt: unknown key (known: limit)",
				"section.yaml:6: registrar.max_contacts: cannot unmarshal", "section.yaml:1: plugins: redirect: needs location before it"}},
		{"defaults prints every plugin section", []string{"defaults"}, 0,
			[]string{"\nplugins: [sanity, maxfwd, registrar, location, forward]", "\nauth:\n  realm: \"\"", "\nregistrar:\n  default_expires: 1h", "\nredirect:\n  domains: []"}},
		{"check without file", []string{"check"}, 2, []string{"-c FILE is required"}},
		{"check loads the users file", []string{"check", "-c", withBadUsers}, 1, []string{"users.yaml"}},
		{"check finds a missing users file", []string{"check", "-c", noUsers}, 1, []string{"missing.yaml"}},
		{"run with a bad route flag", []string{"run", "--route", "nohop"}, 1, []string{"flag --route", "REGEX=sip:"}},
		{"run with a bad listener", []string{"run", "--listen", "sctp:127.0.0.1:5060"}, 1, []string{"flag --listen: listen[0]:", "sctp"}},
		{"run with a bad log level", []string{"run", "--log-level", "loud"}, 1, []string{"flag --log-level/--log-format: log.level:"}},
		{"sim runs a scenario on seeds and checks it", []string{"sim", "--runs", "20", "cancel-200"}, 0,
			[]string{"cancel-200: 20 runs (seeds 1–20): 200 ×", "487 ×", "; 0 invariant violations"}},
		{"sim prints a run's trace and diagram", []string{"sim", "--seed", "1", "--runs", "1", "--trace", "--diagram", "fork-2xx"}, 0,
			[]string{"outcome 200+200", "deliver       carol  -> proxy  200 OK (INVITE)", "sequenceDiagram", "proxy->>alice: 200 OK (INVITE)"}},
		{"sim takes faults by name", []string{"sim", "--seed", "2", "--runs", "1", "--fault", "delay alice>proxy:CANCEL#1 60ms", "--fault", "drop proxy>alice:100/INVITE#1", "--trace", "cancel-200"}, 0,
			[]string{"outcome 200", "drop          proxy  -> alice  100 Trying (INVITE)", "--fault 'delay alice>proxy:CANCEL#1 60ms' --fault 'drop proxy>alice:100/INVITE#1'"}},
		{"sim refuses a bad fault", []string{"sim", "--fault", "explode INVITE"}, 2, []string{`fault "explode INVITE": want ACTION`}},
		{"sim exhaustive enumerates both ends of the race", []string{"sim", "--exhaustive", "--depth", "4", "--after", "150ms", "cancel-200"}, 0,
			[]string{"cancel-200: exhaustive to depth 4 from 150ms: ", "(every schedule to that depth)", "200 ×", "487 ×", "0 invariant violations"}},
		{"sim replays a path", []string{"sim", "--path", "0,1", "--after", "150ms", "cancel-200"}, 0, []string{"cancel-200 path 0,1: outcome 200"}},
		{"sim refuses a bad path", []string{"sim", "--path", "x"}, 2, []string{`path "x"`}},
		{"sim replays SIPp message logs", append(slices.Clone(replay), "-c", "testdata/replay/partysip.yaml"), 0,
			[]string{"replay of 2 endpoints through 127.0.0.1:5060: uac 200", "0 invariant violations"}},
		{"sim replay reports a run that went otherwise", append(slices.Clone(replay), "-c", misrouted), 1,
			[]string{"VIOLATION replay: uac got 408 in the simulation, 200 in the recording"}},
		{"sim replay needs the configuration", replay, 2, []string{"a replay needs -c FILE"}},
		{"sim traces actors", []string{"sim", "--seed", "1", "--runs", "1", "--actors", "--trace", "cancel-200"}, 0,
			[]string{"receive       txn.shard#1            txn.MessageReceived          cause=L0 call=sim-call branch=z9hG4bK-inv", "--actors --trace cancel-200"}},
		{"sim exhaustive shows what actors dropped", []string{"sim", "--exhaustive", "--depth", "12", "--after", "150ms", "--actors", "cancel-meets-200"}, 0,
			[]string{"ignored in 16 schedules (--path ", "): CANCEL asked for a branch already answered (Accepted)"}},
		{"sim lists", []string{"sim", "--list"}, 0, []string{"cancel-ignored", "invariants: one-final"}},
		{"sim unknown scenario", []string{"sim", "nope"}, 2, []string{`unknown scenario "nope"`}},
		{"sim bad loss", []string{"sim", "--loss", "1.5"}, 2, []string{"--loss and --dup within [0, 1)"}},
		{"fsm", []string{"fsm", "nict"}, 0, []string{"stateDiagram-v2", "Trying --> Completed"}},
		{"fsm dialog", []string{"fsm", "dialog"}, 0, []string{"Accepted --> Confirmed: AckSeen", "Confirmed --> Terminated: ByeSeen / end"}},
		{"fsm unknown machine", []string{"fsm", "xyz"}, 2, []string{"unknown machine"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, code := run(t, c.args...)
			if code != c.code {
				t.Fatalf("exit code %d, want %d\n%s", code, c.code, out)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Fatalf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// The runtime section reaches Go's collector (unless GOGC/GOMEMLIMIT are in the environment).
func TestApplyRuntime(t *testing.T) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		t.Skip("GOGC or GOMEMLIMIT set in the environment: they win")
	}
	applyRuntime(config.Runtime{GOGC: 250, MemoryLimit: 512}, 300)
	defer applyRuntime(config.Runtime{GOGC: 100}, 1<<30)
	if prev := debug.SetGCPercent(250); prev != 250 {
		t.Fatalf("GOGC %d, want 250", prev)
	}
	if lim := debug.SetMemoryLimit(-1); lim != 512<<20 {
		t.Fatalf("memory limit %d, want %d", lim, 512<<20)
	}
	// Without runtime.memory_limit_mib, the collector works to two thirds of limits.memory_mib.
	applyRuntime(config.Runtime{GOGC: 250}, 300)
	if lim := debug.SetMemoryLimit(-1); lim != 200<<20 {
		t.Fatalf("memory limit %d, want 2/3 of limits.memory_mib, %d", lim, 200<<20)
	}
}

// What partysip defaults prints is a configuration that loads, and the one the daemon runs on.
func TestDefaultsLoad(t *testing.T) {
	p := filepath.Join(t.TempDir(), "defaults.yaml")
	if err := os.WriteFile(p, config.DefaultsYAML(), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := registrar.PolicyOf(c), registrar.PolicyOf(config.Default()); got != want || want.MaxContacts != 10 {
		t.Fatalf("policy from the printed defaults %+v, from the embedded ones %+v", got, want)
	}
}
