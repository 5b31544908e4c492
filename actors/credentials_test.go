package actors

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"

	"github.com/partysip/partysip/actors/plugins/auth"
	"github.com/partysip/partysip/config"
)

// An ACK for a 2xx is relayed statelessly, outside the plugin chain; with auth on, the
// credentials for our realm it repeats from its INVITE are removed there too (§22.3), and
// another realm's go on.
func TestStatelessACKLosesOurCredentials(t *testing.T) {
	uas, uac := newPeer(t, "127.0.0.1"), newPeer(t, "127.0.0.1")
	users := filepath.Join(t.TempDir(), "users.yaml")
	if err := os.WriteFile(users, []byte("users:\n  - name: alice\n    password: pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, port := startEngineWith(t, fmt.Sprintf("sip:127.0.0.1:%d", uas.port()), func(c *config.Config) {
		c.Plugins = []string{"sanity", "maxfwd", "auth", "registrar", "location", "forward"}
		auth.Settings(c).UsersFile = users
	})
	ack := fmt.Sprintf("ACK sip:bob@127.0.0.1:%d SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-ack2xx\r\n"+
		"Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=a\r\nTo: <sip:bob@127.0.0.1>;tag=b\r\nCall-ID: ack-creds\r\nCSeq: 1 ACK\r\n"+
		`Proxy-Authorization: Digest username="alice", realm="127.0.0.1", nonce="n", uri="sip:bob@127.0.0.1", response="00"`+"\r\n"+
		`Proxy-Authorization: Digest username="alice", realm="elsewhere", nonce="n", uri="sip:bob@127.0.0.1", response="00"`+"\r\n"+
		"Content-Length: 0\r\n\r\n", port, uac.port())
	uac.send(loopback(port), ack)
	got, _ := uas.expectRequest(sip.ACK)
	if hs := got.GetHeaders("Proxy-Authorization"); len(hs) != 1 || !strings.Contains(hs[0].Value(), "elsewhere") {
		t.Fatalf("relayed ACK's Proxy-Authorization: %v", hs)
	}
}
