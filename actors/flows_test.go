package actors

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/partysip/partysip/bench/sipp"
	"github.com/partysip/partysip/config"
)

// TestPhonesReachedOnTheirConnections: a phone on TCP whose Contact names an address where
// nothing listens (it accepts no connection), and a browser on WebSocket whose Contact host is
// *.invalid (RFC 7118 §5.2), register over their connections; a call to each reaches it over
// the connection it registered on, with its contact as the Request-URI, and its answer reaches
// the caller.
func TestPhonesReachedOnTheirConnections(t *testing.T) {
	udpPort, _ := sipp.FreePort()
	tcpPort, _ := sipp.FreePort()
	wsPort, _ := sipp.FreePort()
	cfg := config.Default()
	cfg.Listen = []string{
		"udp:127.0.0.1:" + strconv.Itoa(udpPort),
		"tcp:127.0.0.1:" + strconv.Itoa(tcpPort),
		"ws:127.0.0.1:" + strconv.Itoa(wsPort),
	}
	startConfigured(t, cfg)
	caller := newPeer(t, "127.0.0.1")
	proxy := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: udpPort}

	type phone struct {
		send func(string)
		recv func() sip.Message
	}
	tcpConn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", tcpPort))
	if err != nil {
		t.Fatal(err)
	}
	defer tcpConn.Close()
	tcpReader := bufio.NewReader(tcpConn)
	onTCP := phone{
		send: func(s string) {
			if _, err := io.WriteString(tcpConn, s); err != nil {
				t.Fatal(err)
			}
		},
		recv: func() sip.Message {
			_ = tcpConn.SetReadDeadline(time.Now().Add(3 * time.Second))
			return readSIP(t, tcpReader)
		},
	}
	wsConn, _, _, err := ws.Dialer{Protocols: []string{"sip"}, Timeout: 3 * time.Second}.Dial(context.Background(), fmt.Sprintf("ws://127.0.0.1:%d", wsPort))
	if err != nil {
		t.Fatal(err)
	}
	defer wsConn.Close()
	onWS := phone{
		send: func(s string) {
			if err := wsutil.WriteClientText(wsConn, []byte(s)); err != nil {
				t.Fatal(err)
			}
		},
		recv: func() sip.Message {
			_ = wsConn.SetReadDeadline(time.Now().Add(3 * time.Second))
			data, err := wsutil.ReadServerText(wsConn)
			if err != nil {
				t.Fatal(err)
			}
			msg, err := sip.NewParser().ParseSIP(data)
			if err != nil {
				t.Fatal(err)
			}
			return msg
		},
	}

	for _, c := range []struct {
		name, transport, sentBy, contact string
		p                                phone
	}{
		{"tcp", "TCP", "127.0.0.98:5060", "sip:tom@127.0.0.98:5060;transport=tcp", onTCP},
		{"ws", "WS", "df7jal23ls0d.invalid", "sip:kq3bt2xz@df7jal23ls0d.invalid;transport=ws", onWS},
	} {
		t.Run(c.name, func(t *testing.T) {
			user := "user-" + c.name
			c.p.send(fmt.Sprintf("REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/%s %s;branch=z9hG4bK-reg-%s\r\n"+
				"Max-Forwards: 70\r\nFrom: <sip:%s@127.0.0.1>;tag=r\r\nTo: <sip:%s@127.0.0.1>\r\nCall-ID: reg-%s\r\n"+
				"CSeq: 1 REGISTER\r\nContact: <%s>;expires=300\r\nContent-Length: 0\r\n\r\n",
				c.transport, c.sentBy, c.name, user, user, c.name, c.contact))
			if res, ok := c.p.recv().(*sip.Response); !ok || res.StatusCode != 200 {
				t.Fatalf("REGISTER: %v", res)
			}
			caller.send(proxy, fmt.Sprintf("INVITE sip:%s@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-inv-%s\r\n"+
				"Max-Forwards: 70\r\nFrom: <sip:carol@127.0.0.1>;tag=c\r\nTo: <sip:%s@127.0.0.1>\r\nCall-ID: inv-%s\r\n"+
				"CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n", user, caller.port(), c.name, user, c.name))
			inv, ok := c.p.recv().(*sip.Request)
			if !ok || inv.Method != sip.INVITE {
				t.Fatalf("the phone got %v, want the INVITE on its connection", inv)
			}
			if inv.Recipient.String() != c.contact {
				t.Fatalf("Request-URI %s, want the contact %s", inv.Recipient.String(), c.contact)
			}
			c.p.send(sip.NewResponseFromRequest(inv, 486, "Busy Here", nil).String())
			caller.expectResponse(486, 100)
		})
	}
}
