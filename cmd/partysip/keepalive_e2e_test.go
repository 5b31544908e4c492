package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/partysip/partysip/bench/sipp"
)

// TestKeepAlivesWithAuthOn: what phones send to keep their NAT bindings and flows open is
// answered even with digest authentication on everything: an OPTIONS to the proxy itself gets
// 200 with Allow and no challenge (it tells nothing about our users), a CRLF CRLF ping on a TCP
// connection gets its CRLF pong (RFC 5626 §4.4.1) and the connection stays usable, a UDP CRLF
// keep-alive is swallowed without an answer. An OPTIONS to one of our users is a request like
// any other: challenged; so is one to the proxy with auth.challenge_own_options.
func TestKeepAlivesWithAuthOn(t *testing.T) {
	dir := t.TempDir()
	usersPath := filepath.Join(dir, "users.yaml")
	if err := os.WriteFile(usersPath, []byte("users:\n  - name: alice\n    password: secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	port, _ := sipp.FreePort()
	cfg := filepath.Join(dir, "partysip.yaml")
	body := fmt.Sprintf("listen: [udp:127.0.0.1:%d, tcp:127.0.0.1:%d]\nstore:\n  path: %s\n%s",
		port, port, filepath.Join(dir, "bindings.db"), authConfig(usersPath))
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	startDaemon(t, "-c", cfg)

	phone := newAttacker(t, port) // a phone that has not authenticated (keep-alives never do)
	us := fmt.Sprintf("sip:127.0.0.1:%d", port)
	code, msg := phone.exchange("OPTIONS", us, "From: <sip:alice@127.0.0.1>;tag=k1", "To: <"+us+">")
	if code != 200 || !strings.Contains(msg, "Allow: ") {
		t.Fatalf("OPTIONS to the proxy: %d, want 200 with Allow:\n%s", code, msg)
	}
	if code := phone.send("OPTIONS", "sip:alice@127.0.0.1", "From: <sip:alice@127.0.0.1>;tag=k2", "To: <sip:alice@127.0.0.1>"); code != 407 {
		t.Fatalf("OPTIONS to a user without credentials: %d, want 407", code)
	}

	// UDP: a CRLF keep-alive gets nothing back (and costs nothing).
	if _, err := phone.conn.WriteToUDP([]byte("\r\n\r\n"), phone.proxy); err != nil {
		t.Fatal(err)
	}
	_ = phone.conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, _, err := phone.conn.ReadFromUDP(make([]byte, 100)); err == nil {
		t.Fatalf("a UDP keep-alive was answered with %d bytes", n)
	}

	// TCP: ping, pong, then a request on the same connection is still answered.
	conn, err := net.DialTCP("tcp", &net.TCPAddr{IP: net.ParseIP(attackerIP)}, &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
	for i := 0; i < 2; i++ {
		if _, err := conn.Write([]byte("\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		pong := make([]byte, 2)
		if _, err := conn.Read(pong); err != nil || string(pong) != "\r\n" {
			t.Fatalf("ping %d: pong %q, %v", i+1, pong, err)
		}
	}
	local := conn.LocalAddr().(*net.TCPAddr)
	options := fmt.Sprintf("OPTIONS %s SIP/2.0\r\nVia: SIP/2.0/TCP %s;branch=z9hG4bK-ka-tcp\r\nMax-Forwards: 70\r\n"+
		"From: <sip:alice@127.0.0.1>;tag=k3\r\nTo: <%s>\r\nCall-ID: ka-tcp\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", us, local, us)
	if _, err := conn.Write([]byte(options)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil || !strings.HasPrefix(string(buf[:n]), "SIP/2.0 200 ") {
		t.Fatalf("OPTIONS after the pings: %q, %v", buf[:n], err)
	}

	// An operator who wants them authenticated too says so.
	strict := filepath.Join(dir, "strict.yaml")
	port2, _ := sipp.FreePort()
	body = fmt.Sprintf("listen: [udp:127.0.0.1:%d]\nstore:\n  path: %s\n%s  challenge_own_options: true\n",
		port2, filepath.Join(dir, "strict.db"), authConfig(usersPath))
	if err := os.WriteFile(strict, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	startDaemon(t, "-c", strict)
	us2 := fmt.Sprintf("sip:127.0.0.1:%d", port2)
	if code := newAttacker(t, port2).send("OPTIONS", us2, "From: <sip:alice@127.0.0.1>;tag=k4", "To: <"+us2+">"); code != 407 {
		t.Fatalf("OPTIONS to the proxy with auth.challenge_own_options: %d, want 407", code)
	}
}
