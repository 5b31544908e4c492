package actors

import (
	"fmt"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/partysip/partysip/config"
)

// TestDeadHopFailover: a route whose first hop never answers (127.0.0.2) and whose alternate
// does. The first call leaves the silent hop after failover.no_response instead of Timer B's
// 32 s; the next call skips it altogether while it is remembered as dead.
func TestDeadHopFailover(t *testing.T) {
	dead, live, uac := newPeer(t, "127.0.0.2"), newPeer(t, "127.0.0.1"), newPeer(t, "127.0.0.1")
	const noResponse = 500 * time.Millisecond
	e, port := startEngineWith(t, fmt.Sprintf("sip:127.0.0.2:%d", dead.port()), func(c *config.Config) {
		c.Routes[0].Alternates = []string{fmt.Sprintf("sip:127.0.0.1:%d", live.port())}
		c.Failover = config.Failover{NoResponse: noResponse, DeadFor: time.Minute}
	})
	call := func(callID string) time.Duration {
		t.Helper()
		start := time.Now()
		uac.send(loopback(port), invite(fmt.Sprintf("sip:bob@127.0.0.1:%d", port), "127.0.0.1", uac.port(), "z9hG4bK-"+callID, callID))
		uac.expectResponse(100)
		req, from := live.expectRequest(sip.INVITE)
		took := time.Since(start)
		live.sendMsg(from, sip.NewResponseFromRequest(req, 486, "Busy Here", nil))
		uac.expectResponse(486)
		live.expectRequest(sip.ACK) // the proxy's ACK for the 486 (§17.1.1.3)
		return took
	}

	first := call("failover-1")
	if m, _, ok := dead.tryRecv(10 * time.Millisecond); !ok || m.(*sip.Request).CallID().Value() != "failover-1" {
		t.Fatalf("the silent hop did not get the first call first: %v", m)
	}
	if first < noResponse || first > 2*time.Second {
		t.Fatalf("the first call reached the alternate after %v, want about failover.no_response (%v)", first, noResponse)
	}
	second := call("failover-2")
	if second > noResponse/2 {
		t.Fatalf("the second call reached the alternate after %v: the dead hop was not skipped", second)
	}
	for {
		m, _, ok := dead.tryRecv(200 * time.Millisecond)
		if !ok {
			break
		}
		if id := m.(*sip.Request).CallID().Value(); id != "failover-1" {
			t.Fatalf("the dead hop got %s", id)
		}
	}
	if e.c.deadHops.Marked() < 1 || e.c.deadHops.Skipped() != 1 {
		t.Fatalf("dead hops marked %d, skipped %d", e.c.deadHops.Marked(), e.c.deadHops.Skipped())
	}
	t.Logf("first call failed over in %v, the second went straight to the alternate in %v", first.Round(time.Millisecond), second.Round(time.Millisecond))
}

// A route's own no_response replaces failover.no_response (off here) for its hops.
func TestRouteNoResponse(t *testing.T) {
	dead, live, uac := newPeer(t, "127.0.0.2"), newPeer(t, "127.0.0.1"), newPeer(t, "127.0.0.1")
	const noResponse = 300 * time.Millisecond
	_, port := startEngineWith(t, fmt.Sprintf("sip:127.0.0.2:%d", dead.port()), func(c *config.Config) {
		c.Routes[0].Alternates = []string{fmt.Sprintf("sip:127.0.0.1:%d", live.port())}
		c.Routes[0].NoResponse = noResponse
		c.Failover = config.Failover{NoResponse: 0, DeadFor: time.Minute}
	})
	start := time.Now()
	uac.send(loopback(port), invite(fmt.Sprintf("sip:bob@127.0.0.1:%d", port), "127.0.0.1", uac.port(), "z9hG4bK-rnr", "route-nr"))
	uac.expectResponse(100)
	live.expectRequest(sip.INVITE)
	if took := time.Since(start); took < noResponse || took > 2*time.Second {
		t.Fatalf("the alternate got the call after %v, want about the route's no_response (%v)", took, noResponse)
	}
}
