package actors

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/partysip/partysip/config"
)

// One address may hold limits.source_transactions live server transactions: the next new
// request from it gets 503 with Retry-After while another address is served, and a place comes
// back when one of its transactions ends.
func TestSourceTransactionsCapped(t *testing.T) {
	callee := newPeer(t, "127.0.0.1")
	e, port := startEngineWith(t, fmt.Sprintf("sip:127.0.0.1:%d", callee.port()), func(cfg *config.Config) {
		cfg.Limits.SourceTransactions = 3
		cfg.Timers.T4 = 500 * time.Millisecond // Timer I: a refused call's transaction ends 0.5 s after its ACK
	})
	proxy := loopback(port)
	ruri := fmt.Sprintf("sip:bob@127.0.0.1:%d", port)
	attacker := newPeer(t, attackerIPForTests)
	var held []*sip.Request
	var proxyFrom *net.UDPAddr
	for i := 0; i < 3; i++ {
		attacker.send(proxy, invite(ruri, attackerIPForTests, attacker.port(), fmt.Sprintf("z9hG4bK-st%d", i), fmt.Sprintf("st-%d", i)))
		attacker.expectResponse(100)
		fwd, from := callee.expectRequest(sip.INVITE)
		held, proxyFrom = append(held, fwd), from
	}
	attacker.send(proxy, invite(ruri, attackerIPForTests, attacker.port(), "z9hG4bK-st3", "st-3"))
	if res := attacker.expectResponse(503); res.GetHeader("Retry-After") == nil {
		t.Fatal("503 without Retry-After")
	}
	if m, _, ok := callee.tryRecv(200 * time.Millisecond); ok {
		t.Fatalf("the request over the cap was forwarded: %s", firstLine(m))
	}
	other := newPeer(t, "127.0.0.1")
	other.send(proxy, invite(ruri, "127.0.0.1", other.port(), "z9hG4bK-st-other", "st-other"))
	other.expectResponse(100)
	callee.expectRequest(sip.INVITE)

	// The callee refuses one call: its transaction ends (Timer I after the caller's ACK), and its
	// place is free.
	refusal := sip.NewResponseFromRequest(held[0], 486, "Busy Here", nil)
	refusal.To().Params.Add("tag", "busy")
	callee.sendMsg(proxyFrom, refusal)
	busy := attacker.expectResponse(486)
	ack := asMethod(invite(ruri, attackerIPForTests, attacker.port(), "z9hG4bK-st0", "st-0"), sip.ACK)
	attacker.send(proxy, strings.Replace(ack, "To: <"+ruri+">", "To: "+busy.To().Value(), 1))
	deadline := time.Now().Add(8 * time.Second)
	start := time.Now()
	for i := 4; ; i++ {
		attacker.send(proxy, invite(ruri, attackerIPForTests, attacker.port(), fmt.Sprintf("z9hG4bK-st%d", i), fmt.Sprintf("st-%d", i)))
		m, _ := attacker.recv(time.Second)
		if res, ok := m.(*sip.Response); ok && res.StatusCode == 100 {
			t.Logf("a place came back %v after the ACK", time.Since(start).Round(10*time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no place came back after a transaction ended: %s", firstLine(m))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := e.Stats().RejectedSource.Load(); got < 1 {
		t.Fatalf("RejectedSource %d", got)
	}
}
