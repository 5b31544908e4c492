package actors

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/partysip/partysip/bench/sipp"
	"github.com/partysip/partysip/config"
)

// Over TCP, with short deadlines: a connection that sends nothing, a slowloris header (a byte
// every 100 ms), and a body that never arrives are closed on their deadlines, while a phone that
// sent a request and then only CRLF keep-alives keeps its connection past connection_idle until
// it falls silent.
func TestConnectionDeadlines(t *testing.T) {
	sipp.SlowTier(t)
	port, _ := sipp.FreePort()
	cfg := config.Default()
	cfg.Listen = []string{"tcp:127.0.0.1:" + strconv.Itoa(port)}
	cfg.Limits.HeaderTimeout = 600 * time.Millisecond
	cfg.Limits.BodyTimeout = 600 * time.Millisecond
	cfg.Limits.ConnectionIdle = time.Second
	e := startConfigured(t, cfg)
	us := "sip:127.0.0.1:" + strconv.Itoa(port)
	dial := func() net.Conn { return dialFrom(t, attackerIPForTests, port) }
	// closedWithin reports whether the server closes c within d (while the test writes nothing).
	closedWithin := func(c net.Conn, d time.Duration) bool {
		_ = c.SetReadDeadline(time.Now().Add(d))
		_, err := io.Copy(io.Discard, c)
		return err == nil // EOF: io.Copy reports no error
	}

	start := time.Now()
	silent := dial()
	if !closedWithin(silent, 3*time.Second) {
		t.Fatal("a connection that sent nothing was kept")
	}
	if took := time.Since(start); took < 500*time.Millisecond {
		t.Fatalf("closed after %v, before header_timeout", took)
	}

	slow := dial()
	closed := make(chan time.Duration, 1)
	go func() {
		s := time.Now()
		_, _ = io.Copy(io.Discard, slow)
		closed <- time.Since(s)
	}()
	header := options(us, "TCP", attackerIPForTests, 5060, "z9hG4bK-slow")
	for i := 0; i < len(header); i++ {
		if _, err := slow.Write([]byte{header[i]}); err != nil {
			break // closed
		}
		time.Sleep(100 * time.Millisecond)
	}
	select {
	case took := <-closed:
		if took > 2*time.Second {
			t.Fatalf("the slowloris header was closed after %v", took)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("a header sent a byte every 100 ms was never closed")
	}

	bodyless := dial()
	msg := strings.Replace(options(us, "TCP", attackerIPForTests, 5060, "z9hG4bK-body"), "Content-Length: 0", "Content-Length: 100", 1)
	if _, err := io.WriteString(bodyless, msg+"only ten b"); err != nil {
		t.Fatal(err)
	}
	if !closedWithin(bodyless, 3*time.Second) {
		t.Fatal("a connection whose body never came was kept")
	}

	phone := dial()
	if _, err := io.WriteString(phone, options(us, "TCP", attackerIPForTests, phone.LocalAddr().(*net.TCPAddr).Port, "z9hG4bK-phone")); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(phone)
	_ = phone.SetReadDeadline(time.Now().Add(3 * time.Second))
	if res, ok := readSIP(t, r).(*sip.Response); !ok || res.StatusCode != 200 {
		t.Fatalf("the phone's OPTIONS: %v", res)
	}
	for i := 0; i < 6; i++ { // 1.8 s of keep-alives, past connection_idle
		time.Sleep(300 * time.Millisecond)
		if _, err := io.WriteString(phone, "\r\n\r\n"); err != nil {
			t.Fatalf("keep-alive %d: %v", i+1, err)
		}
		_ = phone.SetReadDeadline(time.Now().Add(time.Second))
		if pong, err := r.Peek(2); err != nil || string(pong) != "\r\n" {
			t.Fatalf("keep-alive %d: pong %q, %v", i+1, pong, err)
		}
		_, _ = r.Discard(2)
	}
	if !closedWithin(phone, 3*time.Second) {
		t.Fatal("a silent connection was kept past connection_idle")
	}
	if got := e.c.conns.TimedOut(); got != 4 {
		t.Fatalf("%d connections timed out, want 4", got)
	}
}

// A UDP request over limits.message_size is answered 513 and not forwarded; over TCP the
// connection is closed.
func TestMessageSizeLimit(t *testing.T) {
	port, _ := sipp.FreePort()
	callee := newPeer(t, "127.0.0.1")
	cfg := config.Default()
	cfg.Listen = []string{"udp:127.0.0.1:" + strconv.Itoa(port), "tcp:127.0.0.1:" + strconv.Itoa(port)}
	cfg.Limits.MessageSize = 2048
	cfg.Routes = []config.Route{{Match: ".*", To: fmt.Sprintf("sip:127.0.0.1:%d", callee.port())}}
	startConfigured(t, cfg)
	proxy := &net.UDPAddr{IP: net.ParseIP("127.0.0.1"), Port: port}
	caller := newPeer(t, "127.0.0.1")
	big := func(transport string, p int, n int) string {
		body := strings.Repeat("x", n)
		return fmt.Sprintf("MESSAGE sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/%s 127.0.0.1:%d;branch=z9hG4bK-big%d\r\nMax-Forwards: 70\r\n"+
			"From: <sip:alice@127.0.0.1>;tag=a\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: big-%d\r\nCSeq: 1 MESSAGE\r\n"+
			"Content-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", transport, p, n, n, n, body)
	}
	caller.send(proxy, big("UDP", caller.port(), 1000)) // within the limit: forwarded
	if req, _ := callee.expectRequest(sip.MESSAGE); req == nil {
		t.Fatal("a MESSAGE within the limit was not forwarded")
	}
	caller.send(proxy, big("UDP", caller.port(), 3000))
	caller.expectResponse(513)
	if m, _, ok := callee.tryRecv(300 * time.Millisecond); ok {
		t.Fatalf("a MESSAGE over the limit reached the callee: %v", m)
	}

	conn, err := net.Dial("tcp", proxy.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = io.WriteString(conn, big("TCP", conn.LocalAddr().(*net.TCPAddr).Port, 3000))
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.Copy(io.Discard, conn); err != nil {
		t.Fatalf("the connection that sent a message over the limit was kept: %v", err)
	}
}
