package actors

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/partysip/partysip/bench/phones"
	"github.com/partysip/partysip/bench/sipp"
	"github.com/partysip/partysip/config"
)

// selfSigned writes a certificate and key for 127.0.0.1 and returns their paths and a pool
// that trusts it.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	certFile, keyFile, cert, err := phones.SelfSigned(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// readSIP reads one SIP message (with an empty body) from a stream.
func readSIP(t *testing.T, r *bufio.Reader) sip.Message {
	t.Helper()
	tp := textproto.NewReader(r)
	var b strings.Builder
	for {
		line, err := tp.ReadLine()
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(line + "\r\n")
		if line == "" {
			break
		}
	}
	msg, err := sip.NewParser().ParseSIP([]byte(b.String()))
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	return msg
}

func options(ruri, transport, host string, port int, branch string) string {
	return fmt.Sprintf("OPTIONS %s SIP/2.0\r\nVia: SIP/2.0/%s %s:%d;branch=%s\r\nMax-Forwards: 70\r\n"+
		"From: <sip:alice@127.0.0.1>;tag=a1\r\nTo: <%s>\r\nCall-ID: %s\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
		ruri, transport, host, port, branch, ruri, branch)
}

// TLS and WebSocket (RFC 7118) listeners: a request over each reaches a UDP callee through the
// proxy, and its response comes back over the connection it came on.
func TestTLSAndWebSocketListeners(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	uas := newPeer(t, "127.0.0.1")
	udpPort, _ := sipp.FreePort()
	tlsPort, _ := sipp.FreePort()
	wsPort, _ := sipp.FreePort()
	cfg := config.Default()
	cfg.Listen = []string{
		"udp:127.0.0.1:" + strconv.Itoa(udpPort),
		"tls:127.0.0.1:" + strconv.Itoa(tlsPort),
		"ws:127.0.0.1:" + strconv.Itoa(wsPort),
	}
	cfg.Routes = []config.Route{{Match: ".*", To: fmt.Sprintf("sip:127.0.0.1:%d", uas.port())}}
	cfg.TLS = config.TLS{CertFile: certFile, KeyFile: keyFile}
	startConfigured(t, cfg)

	// answer takes the forwarded request at the callee and answers it 200.
	answer := func(transport string) {
		t.Helper()
		req, from := uas.expectRequest(sip.OPTIONS)
		vias := req.GetHeaders("Via")
		if len(vias) != 2 || !strings.Contains(vias[1].Value(), transport) {
			t.Fatalf("forwarded request's Vias: %v", vias)
		}
		uas.sendMsg(from, sip.NewResponseFromRequest(req, 200, "OK", nil))
	}

	t.Run("tls", func(t *testing.T) {
		conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", tlsPort), &tls.Config{RootCAs: pool})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		local := conn.LocalAddr().(*net.TCPAddr)
		if _, err := io.WriteString(conn, options("sip:bob@example.com", "TLS", "127.0.0.1", local.Port, "z9hG4bKtls1")); err != nil {
			t.Fatal(err)
		}
		answer("TLS")
		_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		res, ok := readSIP(t, bufio.NewReader(conn)).(*sip.Response)
		if !ok || res.StatusCode != 200 {
			t.Fatalf("over TLS: %v", res)
		}
	})

	t.Run("ws", func(t *testing.T) {
		d := ws.Dialer{Protocols: []string{"sip"}, Timeout: 3 * time.Second}
		conn, _, _, err := d.Dial(context.Background(), fmt.Sprintf("ws://127.0.0.1:%d", wsPort))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if err := wsutil.WriteClientText(conn, []byte(options("sip:bob@example.com", "WS", "df7jal23ls0d.invalid", 0, "z9hG4bKws1"))); err != nil {
			t.Fatal(err)
		}
		answer("WS")
		_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		data, err := wsutil.ReadServerText(conn)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := sip.NewParser().ParseSIP(data)
		if err != nil {
			t.Fatal(err)
		}
		if res, ok := msg.(*sip.Response); !ok || res.StatusCode != 200 {
			t.Fatalf("over WebSocket: %v", msg)
		}
	})
}
