package actors

import (
	"fmt"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"

	"github.com/partysip/partysip/config"
)

// In stateless mode (§16.11) no transaction actor is ever started: a request and its
// retransmission go out with the same hashed branch, the responses come back by Via alone,
// and an unroutable request is answered statelessly.
func TestStatelessRelay(t *testing.T) {
	uas, uac := newPeer(t, "127.0.0.1"), newPeer(t, "127.0.0.1")
	e, port := startEngineWith(t, fmt.Sprintf("sip:127.0.0.1:%d", uas.port()), func(c *config.Config) {
		c.Routes[0].Match = "^bob@"
		c.Domains = []string{"example.com"}
		c.Stateless = true
	})
	inv := invite(fmt.Sprintf("sip:bob@127.0.0.1:%d", port), "127.0.0.1", uac.port(), "z9hG4bKsl1", "stateless-1")
	uac.send(loopback(port), inv)
	first, from := uas.expectRequest(sip.INVITE)
	uac.send(loopback(port), inv) // retransmission: forwarded again, same branch
	again, _ := uas.expectRequest(sip.INVITE)
	if branchOf(first) != branchOf(again) {
		t.Fatalf("retransmission got branch %s, first %s", branchOf(again), branchOf(first))
	}
	uas.sendMsg(from, sip.NewResponseFromRequest(first, 180, "Ringing", nil))
	uac.expectResponse(180)
	uas.sendMsg(from, sip.NewResponseFromRequest(first, 486, "Busy Here", nil))
	uac.expectResponse(486)

	// Nothing routes sip:carol@example.com (ours, no route): 404 without a transaction.
	uac.send(loopback(port), invite("sip:carol@example.com", "127.0.0.1", uac.port(), "z9hG4bKsl2", "stateless-2"))
	uac.expectResponse(404)

	if n := e.Stats().TxStarted.Load(); n != 0 {
		t.Fatalf("%d transaction actors started in stateless mode", n)
	}
	if n := e.Stats().StatelessFwd.Load(); n < 4 {
		t.Fatalf("stateless forwards %d, want at least 4 (2 INVITEs, 2 responses)", n)
	}
}

// Over limits.transactions a new call gets 503 with Retry-After instead of a transaction.
func TestTransactionCap(t *testing.T) {
	c := placeCall(t, "z9hG4bKcap1", "cap-1", func(cfg *config.Config) { cfg.Limits.Transactions = 2 })
	// The first call holds two transactions (its IST and ICT): the cap is reached.
	c.uac.send(c.proxy, invite(c.ruri, "127.0.0.1", c.uac.port(), "z9hG4bKcap2", "cap-2"))
	busy := c.uac.expectResponse(503)
	if busy.CallID().Value() != "cap-2" || busy.GetHeader("Retry-After") == nil {
		t.Fatalf("want 503 + Retry-After for the call over the cap:\n%s", busy)
	}
	if n := c.e.Stats().RejectedLimit.Load(); n != 1 {
		t.Fatalf("rejected %d", n)
	}
	// A To tag does not get past the cap: only a request of a call we Record-Routed does.
	forged := strings.Replace(invite(c.ruri, "127.0.0.1", c.uac.port(), "z9hG4bKcap3", "cap-3"), "To: <"+c.ruri+">", "To: <"+c.ruri+">;tag=forged", 1)
	c.uac.send(c.proxy, forged)
	if busy := c.uac.expectResponse(503); busy.CallID().Value() != "cap-3" {
		t.Fatalf("a forged To tag over the cap: %s", busy)
	}
	rr := c.fwd.GetHeader("Record-Route").Value()
	bye := fmt.Sprintf("BYE sip:bob@127.0.0.1:%d SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKcapbye\r\nRoute: %s\r\n"+
		"Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=a1\r\nTo: <%s>;tag=callee\r\nCall-ID: cap-1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
		c.uas.port(), c.uac.port(), rr, c.ruri)
	c.uac.send(c.proxy, bye)
	if req, _ := c.uas.expectRequest(sip.BYE); req.CallID().Value() != "cap-1" {
		t.Fatalf("the call's BYE over the cap: %s", req)
	}
}
