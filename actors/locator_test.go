package actors

import (
	"fmt"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/partysip/partysip/actors/internal/dnstest"
	"github.com/partysip/partysip/config"
)

// A route to a domain name: SRV gives two targets; the first never answers (Timer B) or answers
// 503, and the branch moves to the second with a new transaction (RFC 3263 §4.3).
func TestFailoverToNextSRVTarget(t *testing.T) {
	for _, c := range []struct {
		name  string
		first func(p *peer)
	}{
		{"timeout", func(p *peer) { p.expectRequest(sip.INVITE) }},
		{"503", func(p *peer) {
			req, from := p.expectRequest(sip.INVITE)
			p.sendMsg(from, sip.NewResponseFromRequest(req, 503, "Service Unavailable", nil))
			p.expectRequest(sip.ACK)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			first, second, uac := newPeer(t, "127.0.0.1"), newPeer(t, "127.0.0.1"), newPeer(t, "127.0.0.1")
			server := dnstest.Server(t,
				fmt.Sprintf(`_sip._udp.svc.test. 60 IN SRV 10 1 %d one.svc.test.`, first.port()),
				fmt.Sprintf(`_sip._udp.svc.test. 60 IN SRV 20 1 %d two.svc.test.`, second.port()),
				`one.svc.test. 60 IN A 127.0.0.1`,
				`two.svc.test. 60 IN A 127.0.0.1`,
			)
			_, port := startEngineWith(t, "sip:svc.test", func(cfg *config.Config) {
				cfg.DNS.Servers = []string{server}
				cfg.Timers.T1 = 10 * time.Millisecond // Timer B: 640 ms
			})
			uac.send(loopback(port), invite(fmt.Sprintf("sip:bob@127.0.0.1:%d", port), "127.0.0.1", uac.port(), "z9hG4bKsrv-"+c.name, "srv-"+c.name))
			uac.expectResponse(100)
			c.first(first)
			req, from := second.expectRequest(sip.INVITE)
			second.sendMsg(from, sip.NewResponseFromRequest(req, 200, "OK", nil))
			uac.expectResponse(200) // never the 503 nor a 408: the branch failed over
		})
	}
}
