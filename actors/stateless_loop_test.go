package actors

import (
	"fmt"
	"testing"

	"github.com/partysip/partysip/bench/sipp"
	"github.com/partysip/partysip/config"
)

// In stateless mode a request that comes back to us unchanged is a loop (§16.3 step 4): with a
// route that points at ourselves, the caller gets 482 after one pass, not 483 after seventy.
func TestStatelessLoopDetected(t *testing.T) {
	port, err := sipp.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	uac := newPeer(t, "127.0.0.1")
	e, _ := startEngineOpts(t, fmt.Sprintf("sip:127.0.0.1:%d", port), Options{}, func(c *config.Config) {
		c.Listen = []string{fmt.Sprintf("udp:127.0.0.1:%d", port)}
		c.Stateless = true
	})
	uac.send(loopback(port), fmt.Sprintf("OPTIONS sip:loop@example.net SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-loop1\r\n"+
		"Max-Forwards: 70\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:loop@example.net>\r\nCall-ID: loop-1\r\nCSeq: 1 OPTIONS\r\n"+
		"Content-Length: 0\r\n\r\n", uac.port()))
	uac.expectResponse(482)
	if got := e.Stats().StatelessFwd.Load(); got > 3 {
		t.Fatalf("%d stateless forwards for one looping request (and its answer), want one pass", got)
	}
}
