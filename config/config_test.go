package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "partysip.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultsValid(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(c.Listeners()) != 2 || c.Timers.T1 != 500*time.Millisecond || !c.RecordRoute {
		t.Fatalf("unexpected defaults: %+v", c)
	}
}

func TestLoadOverridesDefaults(t *testing.T) {
	p := write(t, "listen: [udp:127.0.0.1:5099]\nroutes:\n  - match: '^100'\n    to: sip:127.0.0.1:5070;transport=tcp\ntimers:\n  t1: 100ms\n")
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Listen) != 1 || c.Timers.T1 != 100*time.Millisecond || c.Timers.T2 != 4*time.Second {
		t.Fatalf("override failed: %+v", c)
	}
	if rs := c.StaticRoutes(); len(rs) != 1 || rs[0].To.Port != 5070 {
		t.Fatalf("routes: %+v", rs)
	}
}

func TestLoadErrorsNameFileLineKey(t *testing.T) {
	cases := []struct {
		name, body string
		want       []string
	}{
		{"unknown key", "listen: [udp:127.0.0.1:5060]\ntimers:\n  t9: 1s\n", []string{":3: timers.t9: unknown key"}},
		{"bad duration", "timers:\n  t1: fast\n", []string{":2: timers.t1: cannot unmarshal"}},
		{"bad regex and listener", "listen:\n  - udp:nowhere:5060\nroutes:\n  - match: '(['\n    to: sip:127.0.0.1\n",
			[]string{":2: listen[0]: ", "host must be an IP", ":4: routes[0].match: invalid regular expression"}},
		{"unknown key and bad value together", "log:\n  levl: info\nroutes:\n  - match: '(['\n    to: sip:127.0.0.1\n",
			[]string{":2: log.levl: unknown key", ":4: routes[0].match: invalid regular expression"}},
		{"bad hop", "routes:\n  - match: x\n    to: 'sip:1.2.3.4;transport=sctp'\n", []string{":3: routes[0].to: ", "sctp"}},
		{"t2 below t1", "timers:\n  t1: 5s\n  t2: 1s\n", []string{":3: timers.t2: must be at least t1"}},
		{"bad log level", "log:\n  level: loud\n", []string{":2: log.level: \"loud\""}},
		{"not a list", "routes: 5\n", []string{":1: routes: want a list"}},
		{"syntax", "listen: [\n", []string{"partysip.yaml:"}},
		{"admin API off loopback", "admin:\n  listen: 0.0.0.0:5064\n", []string{":2: admin.listen: ", "not a loopback address"}},
		{"relay mode and trusted", "relay:\n  mode: half\n  trusted: [10.0.0.0/33, 192.0.2.1]\n",
			[]string{":2: relay.mode: \"half\"", "relay.trusted[0]: \"10.0.0.0/33\""}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(write(t, c.body))
			if err == nil {
				t.Fatal("expected an error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not contain %q", err, w)
				}
			}
			if !strings.Contains(err.Error(), "partysip.yaml") {
				t.Fatalf("error %q does not name the file", err)
			}
		})
	}
}

func TestParseListener(t *testing.T) {
	l, err := ParseListener("tcp:[::1]:5070")
	if err != nil || l.Host != "::1" || l.Port != 5070 || l.Transport != "tcp" || l.String() != "tcp:[::1]:5070" {
		t.Fatalf("got %+v %v", l, err)
	}
	for _, bad := range []string{"udp", "sctp:127.0.0.1:5060", "udp:127.0.0.1:99999", "udp:127.0.0.1", "udp:0.0.0.0:5060", "tcp:[::]:5060",
		"udp:0.0.0.0:5060 advertise", "udp:0.0.0.0:5060 advertise 0.0.0.0", "udp:0.0.0.0:5060 announce 203.0.113.5",
		"udp:0.0.0.0:5060 advertise 203.0.113.5:70000", "udp:10.0.0.1:5060 advertise sip:x@y"} {
		if _, err := ParseListener(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	// A wildcard with the address it is reached at; the advertised port defaults to the bound one.
	for in, want := range map[string]string{
		"udp:0.0.0.0:5060 advertise 203.0.113.5":          "udp:0.0.0.0:5060 advertise 203.0.113.5:5060",
		"tls:10.0.0.2:5061 advertise sip.example.com:443": "tls:10.0.0.2:5061 advertise sip.example.com:443",
		"tcp:[::]:5060 advertise [2001:db8::5]":           "tcp:[::]:5060 advertise [2001:db8::5]:5060",
	} {
		l, err := ParseListener(in)
		if err != nil || l.String() != want {
			t.Errorf("%q: %v %v, want %s", in, l, err, want)
		}
	}
}

func TestLoadUsers(t *testing.T) {
	good := write(t, "users:\n  - name: alice\n    password: secret\n  - name: bob\n    ha1:\n      MD5: 0123456789abcdef0123456789ABCDEF\n")
	users, err := LoadUsers(good)
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 2 || users[0].Password != "secret" || users[1].HA1["MD5"] != "0123456789abcdef0123456789abcdef" {
		t.Fatalf("%+v", users)
	}
	bad := write(t, "users:\n  - name: alice\n  - name: alice\n    password: x\n    pin: 1\n  - name: carol\n    ha1: {SHA-1: abc, MD5: xyz}\n")
	_, err = LoadUsers(bad)
	for _, want := range []string{":2: users[0]: needs a password or ha1", ":5: users[1].pin: unknown key",
		":7: users[2].ha1.SHA-1: algorithm must be", ":7: users[2].ha1.MD5: want 32 hex digits"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want %q in:\n%v", want, err)
		}
	}
}

func TestPluginListChecked(t *testing.T) {
	p := write(t, "plugins: [sanity, frobnicate, forward, sanity]\nstore:\n  driver: disk\n")
	_, err := Load(p)
	for _, want := range []string{":1: plugins[1]: unknown plugin \"frobnicate\"", "plugins[3]: plugin \"sanity\" listed twice",
		"plugins: the last plugin must be forward", ":3: store.driver: \"disk\""} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want %q in:\n%v", want, err)
		}
	}
}

// TestReadmeDocumentsEveryKey fails when a key of the embedded defaults is missing from the
// table in README.md, so the reference cannot fall behind the schema.
func TestReadmeDocumentsEveryKey(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	d, err := parse("<defaults>", defaultYAML, nil)
	if err != nil {
		t.Fatal(err)
	}
	isParent := func(key string) bool {
		for k := range d.lines {
			if strings.HasPrefix(k, key+".") {
				return true
			}
		}
		return false
	}
	for key := range d.lines {
		if strings.Contains(key, "[") || isParent(key) {
			continue
		}
		leaf := key[strings.LastIndex(key, ".")+1:]
		parent := strings.SplitN(key, ".", 2)[0]
		if !strings.Contains(string(readme), "`"+key+"`") &&
			!(strings.Contains(string(readme), "`"+parent+".") && strings.Contains(string(readme), "`"+leaf+"`")) {
			t.Errorf("config/README.md does not document %s", key)
		}
	}
}

// relay.trusted takes single addresses and prefixes; the policy trusts exactly those sources.
func TestRelayTrusted(t *testing.T) {
	c, err := Load(write(t, "relay:\n  trusted: [192.0.2.1, 198.51.100.9/24]\n"))
	if err != nil {
		t.Fatal(err)
	}
	p := c.RelayPolicy()
	for addr, want := range map[string]bool{"192.0.2.1": true, "192.0.2.2": false, "198.51.100.7": true, "198.51.101.1": false, "::ffff:192.0.2.1": true} {
		if got := p.TrustedSource(netip.MustParseAddr(addr)); got != want {
			t.Errorf("%s trusted %v, want %v", addr, got, want)
		}
	}
	if p.Open {
		t.Error("relay open by default")
	}
}
