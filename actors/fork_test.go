package actors

import (
	"fmt"
	"testing"

	"github.com/emiago/sipgo/sip"

	"github.com/partysip/partysip/config"
)

// Two branches of one INVITE (a route with an alternate, forked in parallel) are challenged by
// two realms: the caller gets one response carrying both challenges (§16.7 step 7), and each
// branch's 4xx was ACKed hop by hop.
func TestChallengesOfBranchesMerged(t *testing.T) {
	a, b := newPeer(t, "127.0.0.1"), newPeer(t, "127.0.0.1")
	uac := newPeer(t, "127.0.0.1")
	_, port := startEngineWith(t, fmt.Sprintf("sip:127.0.0.1:%d", a.port()), func(c *config.Config) {
		c.Routes[0].Alternates = []string{fmt.Sprintf("sip:127.0.0.1:%d", b.port())}
		c.Routes[0].Forking = "parallel"
	})
	uac.send(loopback(port), invite(fmt.Sprintf("sip:bob@127.0.0.1:%d", port), "127.0.0.1", uac.port(), "z9hG4bKmerge", "merge-1"))
	uac.expectResponse(100)
	for _, p := range []struct {
		peer       *peer
		code       int
		name, chal string
	}{
		{a, 401, "WWW-Authenticate", `Digest realm="a.example", nonce="na"`},
		{b, 407, "Proxy-Authenticate", `Digest realm="b.example", nonce="nb"`},
	} {
		req, from := p.peer.expectRequest(sip.INVITE)
		res := sip.NewResponseFromRequest(req, p.code, "Auth", nil)
		res.AppendHeader(sip.NewHeader(p.name, p.chal))
		p.peer.sendMsg(from, res)
		// The ACK of a non-2xx has the INVITE's branch (§17.1.1.3).
		ack, _ := p.peer.expectRequest(sip.ACK)
		if ab, _ := ack.Via().Params.Get("branch"); ab != branchOf(req) {
			t.Fatalf("ACK on branch %s, INVITE on %s", ab, branchOf(req))
		}
	}
	res := uac.expectResponse(401, 407)
	if len(res.GetHeaders("WWW-Authenticate")) != 1 || len(res.GetHeaders("Proxy-Authenticate")) != 1 {
		t.Fatalf("want both challenges in one response:\n%s", res)
	}
}

func branchOf(m interface{ Via() *sip.ViaHeader }) string {
	b, _ := m.Via().Params.Get("branch")
	return b
}
