package main

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/partysip/partysip/bench/sipp"
)

// TestPhoneBehindNATIsCalledAtItsSource: a UDP phone behind a NAT writes its private address in
// its Via and Contact (here 127.0.0.99:5060, where nothing listens) while its packets come from
// the NAT's mapping (its socket on 127.0.0.1). A call to it goes to that mapping, the socket it
// registered from, with its contact as the Request-URI, and its answer reaches the caller.
func TestPhoneBehindNATIsCalledAtItsSource(t *testing.T) {
	port, _ := sipp.FreePort()
	d := startDaemon(t, "-c", registrarConfig(t, port, filepath.Join(t.TempDir(), "bindings.db"), ""))
	proxy := &net.UDPAddr{IP: net.ParseIP("127.0.0.1"), Port: port}
	phone, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	const private = "127.0.0.99:5060"
	register := "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP " + private + ";branch=z9hG4bK-nat-reg;rport\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:bob@127.0.0.1>;tag=r1\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: nat-reg\r\n" +
		"CSeq: 1 REGISTER\r\nContact: <sip:bob@" + private + ">;expires=300\r\nContent-Length: 0\r\n\r\n"
	if _, err := phone.WriteToUDP([]byte(register), proxy); err != nil {
		t.Fatal(err)
	}
	if msg := readSIP(t, phone, "SIP/2.0 "); !strings.HasPrefix(msg, "SIP/2.0 200") {
		t.Fatalf("REGISTER: %s", firstLine(msg))
	}
	if out, _ := ctl(t, d, "--json", "bindings", "list"); !strings.Contains(out, `"received": "sip:`+phone.LocalAddr().String()+`"`) {
		t.Fatalf("the binding does not record where the phone is reached:\n%s", out)
	}

	// The phone answers the INVITE it gets with 486 (one final response is enough to show it
	// was reached, and that its answer goes back through the proxy).
	invited := make(chan string, 1)
	go func() {
		msg := readSIP(t, phone, "INVITE ")
		invited <- firstLine(msg)
		var busy strings.Builder
		busy.WriteString("SIP/2.0 486 Busy Here\r\n")
		for _, line := range strings.Split(msg, "\r\n") {
			switch {
			case strings.HasPrefix(line, "Via:"), strings.HasPrefix(line, "From:"), strings.HasPrefix(line, "Call-ID:"), strings.HasPrefix(line, "CSeq:"):
				busy.WriteString(line + "\r\n")
			case strings.HasPrefix(line, "To:"):
				busy.WriteString(line + ";tag=busy\r\n")
			}
		}
		busy.WriteString("Content-Length: 0\r\n\r\n")
		_, _ = phone.WriteToUDP([]byte(busy.String()), proxy)
	}()
	caller := newAttacker(t, port) // anyone may call our users
	if code := caller.send("INVITE", "sip:bob@127.0.0.1", "From: <sip:carol@127.0.0.3>;tag=c1", "To: <sip:bob@127.0.0.1>"); code != 486 {
		t.Fatalf("the caller got %d, want the phone's 486", code)
	}
	select {
	case line := <-invited:
		if line != "INVITE sip:bob@"+private+" SIP/2.0" {
			t.Fatalf("the phone got %q, want its contact as Request-URI", line)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the phone got no INVITE")
	}
}

// readSIP reads datagrams from conn until one starts with prefix (2 s at most).
func readSIP(t *testing.T, conn *net.UDPConn, prefix string) string {
	t.Helper()
	buf := make([]byte, 65535)
	deadline := time.Now().Add(2 * time.Second)
	for {
		_ = conn.SetReadDeadline(deadline)
		n, _, err := conn.ReadFromUDP(buf)
		if err != nil {
			return fmt.Sprintf("nothing starting with %q: %v", prefix, err)
		}
		if msg := string(buf[:n]); strings.HasPrefix(msg, prefix) {
			return msg
		}
	}
}
