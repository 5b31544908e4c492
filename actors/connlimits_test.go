package actors

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/partysip/partysip/bench/sipp"
	"github.com/partysip/partysip/config"
)

// One address may hold limits.connections_per_source connections: the next is closed as soon
// as it is accepted, while another address is served; a closed one frees its place.
func TestConnectionsPerSourceCapped(t *testing.T) {
	sipp.SlowTier(t)
	port, _ := sipp.FreePort()
	cfg := config.Default()
	cfg.Listen = []string{"tcp:127.0.0.1:" + strconv.Itoa(port)}
	cfg.Limits.ConnectionsPerSource = 5
	e := startConfigured(t, cfg)
	dial := func(from string) net.Conn { return dialFrom(t, from, port) }
	// closedByPeer reports whether the server closed c (EOF) rather than kept it (a timeout).
	closedByPeer := func(c net.Conn) bool {
		_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		_, err := c.Read(make([]byte, 1))
		return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || (err != nil && !errors.Is(err, os.ErrDeadlineExceeded))
	}
	var held []net.Conn
	for i := 0; i < 5; i++ {
		held = append(held, dial(attackerIPForTests))
	}
	extra := dial(attackerIPForTests)
	if !closedByPeer(extra) {
		t.Fatal("the 6th connection from one address was kept")
	}
	for i, c := range held {
		if closedByPeer(c) {
			t.Fatalf("connection %d within the cap was closed", i+1)
		}
	}
	// Another address is served meanwhile.
	other := dial("127.0.0.1")
	if _, err := io.WriteString(other, options("sip:127.0.0.1:"+strconv.Itoa(port), "TCP", "127.0.0.1", other.LocalAddr().(*net.TCPAddr).Port, "z9hG4bK-cap1")); err != nil {
		t.Fatal(err)
	}
	_ = other.SetReadDeadline(time.Now().Add(3 * time.Second))
	if res, ok := readSIP(t, bufio.NewReader(other)).(*sip.Response); !ok || res.StatusCode != 200 {
		t.Fatalf("another address: %v", res)
	}
	// A place freed is taken again.
	_ = held[0].Close()
	time.Sleep(100 * time.Millisecond)
	if again := dial(attackerIPForTests); closedByPeer(again) {
		t.Fatal("no place after one connection closed")
	}
	if got := e.c.conns.Refused(); got != 1 {
		t.Fatalf("%d connections refused, want 1", got)
	}
}

// dialFrom opens a TCP connection from the loopback address from to the proxy's port, closed
// when the test ends.
func dialFrom(t *testing.T, from string, port int) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// attackerIPForTests is the loopback address attack traffic comes from in this package's tests.
const attackerIPForTests = "127.0.0.3"
