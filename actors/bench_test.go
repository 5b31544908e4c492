package actors

import (
	"bytes"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/partysip/partysip/bench/sipp"
	"github.com/partysip/partysip/config"
)

// echoUAS answers every request it receives with a 200 OK made by rewriting the request line
// (all headers, the Via stack included, are kept), so it costs next to nothing.
func echoUAS(tb testing.TB) (port int, stop func()) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65535)
		for {
			n, src, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			i := bytes.Index(buf[:n], []byte("\r\n"))
			if i < 0 || bytes.HasPrefix(buf[:n], []byte("SIP/2.0")) {
				continue
			}
			out := append([]byte("SIP/2.0 200 OK"), buf[i:n]...)
			_, _ = conn.WriteToUDPAddrPort(out, src)
		}
	}()
	return conn.LocalAddr().(*net.UDPAddr).Port, func() { _ = conn.Close(); <-done }
}

// benchConfig is testConfig without the per-source limits: a benchmark is one loopback source
// sending far more than limits.source_requests (1,000/s by default) allows one address.
func benchConfig(b *testing.B, port int, next string) *config.Config {
	cfg := testConfig(b, port, next)
	cfg.Limits.SourceRequests, cfg.Limits.SourceTransactions = 0, 0
	return cfg
}

// BenchmarkProxyRoundTrip measures one non-INVITE transaction through the running engine over
// UDP loopback: client → proxy (parse, shard, NIST, proxy context, NICT, forward) → echo UAS →
// proxy (parse, shard, NICT, context, NIST, forward) → client. ns/op is the round trip;
// allocs/op counts every allocation in the process during it.
func BenchmarkProxyRoundTrip(b *testing.B) {
	uasPort, stopUAS := echoUAS(b)
	defer stopUAS()
	port, err := sipp.FreePort()
	if err != nil {
		b.Fatal(err)
	}
	e, err := Start(Options{Config: benchConfig(b, port, "sip:127.0.0.1:"+strconv.Itoa(uasPort)), LoopbackOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Stop()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	me := conn.LocalAddr().(*net.UDPAddr).Port
	dst := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
	buf := make([]byte, 65535)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := fmt.Sprintf("OPTIONS sip:bench@127.0.0.1:%d SIP/2.0\r\n"+
			"Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKbench%d\r\n"+
			"Max-Forwards: 70\r\nFrom: <sip:b@127.0.0.1>;tag=%d\r\nTo: <sip:bench@127.0.0.1>\r\n"+
			"Call-ID: bench%d\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", port, me, i, i, i)
		if _, err := conn.WriteToUDP([]byte(req), dst); err != nil {
			b.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, _, err := conn.ReadFromUDP(buf)
		if err != nil {
			b.Fatalf("request %d: no response: %v", i, err)
		}
		if !bytes.HasPrefix(buf[:n], []byte("SIP/2.0 200")) {
			b.Fatalf("request %d: %q", i, buf[:min(n, 40)])
		}
	}
}

// BenchmarkRegister measures one REGISTER over UDP loopback to the in-memory registrar: parse,
// shard, NIST, proxy context, registrar plugin, AOR actor, 200 with the bindings, park. The
// users rotate over 1,000 AORs, each refreshing its one binding as SIPp's register.xml does.
func BenchmarkRegister(b *testing.B) {
	port, err := sipp.FreePort()
	if err != nil {
		b.Fatal(err)
	}
	e, err := Start(Options{Config: benchConfig(b, port, "sip:127.0.0.1:9"), LoopbackOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Stop()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	me := conn.LocalAddr().(*net.UDPAddr).Port
	dst := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
	buf := make([]byte, 65535)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		u := i % 1000
		req := fmt.Sprintf("REGISTER sip:127.0.0.1:%d SIP/2.0\r\n"+
			"Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKreg%d\r\n"+
			"Max-Forwards: 70\r\nFrom: <sip:u%d@127.0.0.1>;tag=%d\r\nTo: <sip:u%d@127.0.0.1>\r\n"+
			"Call-ID: reg%d\r\nCSeq: %d REGISTER\r\nContact: <sip:u%d@127.0.0.1:%d>\r\nExpires: 3600\r\n"+
			"Content-Length: 0\r\n\r\n", port, me, i, u, i, u, u, i+1, u, me)
		if _, err := conn.WriteToUDP([]byte(req), dst); err != nil {
			b.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, _, err := conn.ReadFromUDP(buf)
		if err != nil {
			b.Fatalf("request %d: no response: %v", i, err)
		}
		if !bytes.HasPrefix(buf[:n], []byte("SIP/2.0 200")) {
			b.Fatalf("request %d: %q", i, buf[:min(n, 60)])
		}
	}
}
