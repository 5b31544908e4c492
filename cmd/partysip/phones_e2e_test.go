package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/partysip/partysip/bench/phones"
	"github.com/partysip/partysip/bench/sipp"
)

// TestBaresipPhonesCallEachOther: two real phones (Debian's baresip, headless, a 440 Hz tone as
// microphone) register with digest through partysip configured as an operator would start from
// (auth on with its default settings: nothing but the users file), and alice calls bob, bob
// answers, audio flows both ways, alice hangs up and bob sees the call end. Over UDP, TCP and
// TLS (a self-signed certificate given to the phones as their CA file); over TCP and TLS bob is
// reached on the connection he registered on.
func TestBaresipPhonesCallEachOther(t *testing.T) {
	if _, err := os.Stat("/usr/lib/baresip/modules/ctrl_tcp.so"); err != nil {
		t.Skip(phones.ErrNotInstalled)
	}
	dir := t.TempDir()
	certFile, keyFile, _, err := phones.SelfSigned(dir)
	if err != nil {
		t.Fatal(err)
	}
	usersPath := filepath.Join(dir, "users.yaml")
	users := "users:\n  - name: alice\n    password: alice-secret\n  - name: bob\n    password: bob-secret\n"
	if err := os.WriteFile(usersPath, []byte(users), 0o600); err != nil {
		t.Fatal(err)
	}
	sipPort, _ := sipp.FreePort()
	tlsPort, _ := sipp.FreePort()
	cfg := filepath.Join(dir, "partysip.yaml")
	body := fmt.Sprintf("listen: [udp:127.0.0.1:%d, tcp:127.0.0.1:%d, tls:127.0.0.1:%d]\ndomains: [example.com]\n"+
		"tls:\n  cert_file: %s\n  key_file: %s\nstore:\n  path: %s\n%s",
		sipPort, sipPort, tlsPort, certFile, keyFile, filepath.Join(dir, "bindings.db"), authConfig(usersPath))
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, "-c", cfg)

	for _, transport := range []string{"udp", "tcp", "tls"} {
		t.Run(transport, func(t *testing.T) {
			proxy := fmt.Sprintf("127.0.0.1:%d", sipPort)
			if transport == "tls" {
				proxy = fmt.Sprintf("127.0.0.1:%d", tlsPort)
			}
			phone := func(user string) *phones.Phone {
				p, err := phones.Start(t.TempDir(), phones.Account{User: user, Password: user + "-secret",
					Domain: "example.com", Transport: transport, Proxy: proxy, CAFile: certFile}, 2*time.Minute)
				if errors.Is(err, phones.ErrNotInstalled) {
					t.Skip(err)
				}
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(p.Stop)
				if err := p.Registered(5 * time.Second); err != nil {
					t.Fatalf("%v\npartysip:\n%s", err, tailString(d.logs.String(), 3000))
				}
				return p
			}
			alice, bob := phone("alice"), phone("bob")

			if _, err := alice.Command("dial", "sip:bob@example.com"); err != nil {
				t.Fatal(err)
			}
			steps := []struct {
				who   *phones.Phone
				event string
			}{
				// bob answers at once (answermode=auto: no CALL_INCOMING is reported)
				{alice, "CALL_ESTABLISHED"}, {bob, "CALL_ESTABLISHED"},
				{alice, "CALL_RTPESTAB"}, {bob, "CALL_RTPESTAB"}, // each hears the other's tone
			}
			for _, s := range steps {
				if _, err := s.who.Await(s.event, 5*time.Second); err != nil {
					t.Fatalf("%v\npartysip:\n%s", err, tailString(d.logs.String(), 3000))
				}
			}
			if _, err := alice.Command("hangup", ""); err != nil {
				t.Fatal(err)
			}
			for _, p := range []*phones.Phone{alice, bob} {
				if _, err := p.Await("CALL_CLOSED", 5*time.Second); err != nil {
					t.Fatalf("%v\npartysip:\n%s", err, tailString(d.logs.String(), 3000))
				}
			}
			// The proxy saw the call as the phones did: the INVITE and its BYE answered 200 by
			// bob, each sent to bob over the transport he registered with.
			logs := d.logs.String()
			for _, method := range []string{"INVITE", "BYE"} {
				if !accessLine(logs, method, strings.ToUpper(transport), 200) {
					t.Fatalf("no access line for a %s over %s answered 200:\n%s", method, transport, tailString(logs, 3000))
				}
			}
		})
	}
}

// accessLine reports whether the daemon's JSON log has an access line for method, sent to its
// next hop over transport, with the final code.
func accessLine(logs, method, transport string, code int) bool {
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, `"msg":"access"`) && strings.Contains(line, `"method":"`+method+`"`) &&
			strings.Contains(line, `"next_hop":"`+transport+`:`) && strings.Contains(line, fmt.Sprintf(`"code":%d`, code)) {
			return true
		}
	}
	return false
}
