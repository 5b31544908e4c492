package actors

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/partysip/partysip/config"
)

// A wildcard listener with an advertised address (a host behind 1:1 NAT: bound to every address,
// reached at another): our Via and Record-Route carry the advertised address, and an in-dialog
// request sent to it (here 127.0.0.77, which the wildcard socket also receives) is recognised as
// ours and routed on to the caller.
func TestAdvertisedAddress(t *testing.T) {
	const public = "127.0.0.77"
	var port int
	c := &call{uas: newPeer(t, "127.0.0.1"), uac: newPeer(t, "127.0.0.1")}
	c.e, c.port = startEngineWith(t, fmt.Sprintf("sip:127.0.0.1:%d", c.uas.port()), func(cfg *config.Config) {
		port = cfg.Listeners()[0].Port
		cfg.Listen = []string{fmt.Sprintf("udp:0.0.0.0:%d advertise %s", port, public)}
	})
	if got := c.e.Addrs()[0].String(); got != fmt.Sprintf("udp:0.0.0.0:%d advertise %s:%d", port, public, port) {
		t.Fatalf("listening on %s", got)
	}
	c.proxy = loopback(c.port)
	c.ruri = fmt.Sprintf("sip:bob@127.0.0.1:%d", c.port)
	c.inv = invite(c.ruri, "127.0.0.1", c.uac.port(), "z9hG4bK-adv1", "adv-1")
	c.uac.send(c.proxy, c.inv)
	c.uac.expectResponse(100)
	c.fwd, c.proxyFrom = c.uas.expectRequest(sip.INVITE)
	if via := c.fwd.Via(); via.Host != public || via.Port != port {
		t.Fatalf("our Via is %s:%d, want the advertised %s:%d", via.Host, via.Port, public, port)
	}
	rr := c.fwd.RecordRoute()
	if rr == nil || rr.Address.Host != public || rr.Address.Port != port {
		t.Fatalf("our Record-Route is %v, want the advertised address", rr)
	}

	ok := sip.NewResponseFromRequest(c.fwd, 200, "OK", nil)
	ok.To().Params.Add("tag", "b1")
	ok.AppendHeader(sip.NewHeader("Contact", fmt.Sprintf("<sip:bob@127.0.0.1:%d>", c.uas.port())))
	ok.AppendHeader(rr.Clone())
	c.uas.sendMsg(c.proxyFrom, ok)
	c.uac.expectResponse(200)

	// The callee's BYE goes where the Record-Route says: the advertised address.
	bye := fmt.Sprintf("BYE sip:alice@127.0.0.1:%d SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-adv-bye\r\n"+
		"Max-Forwards: 70\r\nRoute: <%s>\r\nFrom: <%s>;tag=b1\r\nTo: <sip:alice@127.0.0.1>;tag=a1\r\nCall-ID: adv-1\r\n"+
		"CSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n", c.uac.port(), c.uas.port(), rr.Address.String(), c.ruri)
	c.uas.send(loopbackAt(public, port), bye)
	got, _ := c.uac.expectRequest(sip.BYE)
	if got.Route() != nil || !strings.Contains(got.Via().Host, public) {
		t.Fatalf("the BYE reached the caller with Route %v and Via %v", got.Route(), got.Via())
	}
}

func loopbackAt(ip string, port int) *net.UDPAddr {
	return &net.UDPAddr{IP: net.ParseIP(ip), Port: port}
}

// A registrar without auth is warned about at start when a listener is bound beyond loopback
// (here a wildcard), not when every listener is on loopback.
func TestOpenRegistrarWarned(t *testing.T) {
	for _, c := range []struct {
		listen string
		warned bool
	}{{"udp:0.0.0.0:%d advertise 127.0.0.1", true}, {"udp:127.0.0.1:%d", false}} {
		core, logs := observer.New(zapcore.WarnLevel)
		startEngineOpts(t, "sip:127.0.0.1:9", Options{Logger: zap.New(core)}, func(cfg *config.Config) {
			cfg.Listen = []string{fmt.Sprintf(c.listen, cfg.Listeners()[0].Port)}
		})
		if got := logs.FilterMessageSnippet("registrar without auth").Len() == 1; got != c.warned {
			t.Errorf("%s: warned %v, want %v", c.listen, got, c.warned)
		}
	}
}
