package actors

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
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

// heapAfterGC is the live heap once garbage is collected.
func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	if f := os.Getenv("PARTYSIP_HEAP_PROFILE"); f != "" {
		// The live heap as measured (run with -memprofilerate 1), to see where it goes.
		if out, err := os.Create(f); err == nil {
			_ = pprof.WriteHeapProfile(out)
			out.Close()
		}
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// benchEngine starts an engine for a memory benchmark, with a client socket.
func benchEngine(b *testing.B, next string) (*Engine, *net.UDPConn, *net.UDPAddr, int) {
	port, err := sipp.FreePort()
	if err != nil {
		b.Fatal(err)
	}
	cfg := benchConfig(b, port, next)
	cfg.Limits.Transactions = 0
	e, err := Start(Options{Config: cfg, LoopbackOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(e.Stop)
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close() })
	return e, conn, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}, conn.LocalAddr().(*net.UDPAddr).Port
}

// waitStat waits until v reaches want (the engine's actors catch up after the last response).
func waitStat(b *testing.B, what string, v func() int64, want int64) {
	deadline := time.Now().Add(10 * time.Second)
	for v() < want {
		if time.Now().After(deadline) {
			b.Fatalf("%s: %d, want %d", what, v(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// BenchmarkMemoryPerCallInProgress measures the heap a proxied INVITE holds while its callee
// has not answered: the server transaction, the proxy context, the client transaction (with
// their timers) and the messages they keep. B/call is the live heap after b.N such calls, less
// the heap before, per call (issue 16's target: 2 KB beyond the message bytes it must keep).
func BenchmarkMemoryPerCallInProgress(b *testing.B) {
	silent, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}) // never answers
	if err != nil {
		b.Fatal(err)
	}
	defer silent.Close()
	e, conn, dst, me := benchEngine(b, "sip:127.0.0.1:"+strconv.Itoa(silent.LocalAddr().(*net.UDPAddr).Port))
	before := heapAfterGC()
	buf := make([]byte, 65535)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := fmt.Sprintf("INVITE sip:bob@127.0.0.1:%d SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKmem%d\r\n"+
			"Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=%d\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: mem%d\r\n"+
			"CSeq: 1 INVITE\r\nContact: <sip:alice@127.0.0.1:%d>\r\nContent-Length: 0\r\n\r\n", dst.Port, me, i, i, i, me)
		if _, err := conn.WriteToUDP([]byte(req), dst); err != nil {
			b.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, _, err := conn.ReadFromUDP(buf); err != nil { // the 100 Trying
			b.Fatalf("call %d: %v", i, err)
		}
	}
	b.StopTimer()
	waitStat(b, "live transactions", e.Stats().LiveTx.Load, int64(2*b.N))
	b.ReportMetric(float64(int64(heapAfterGC())-int64(before))/float64(b.N), "B/call")
}

// BenchmarkMemoryPerParkedWait measures the heap of a finished non-INVITE transaction waiting
// out Timer J in its shard (an OPTIONS to the proxy itself, answered 200): B/wait per parked
// entry, the 200 it may resend included, and beyond the bytes of that 200 (issue 16's target:
// 300 bytes).
func BenchmarkMemoryPerParkedWait(b *testing.B) {
	e, conn, dst, me := benchEngine(b, "sip:127.0.0.1:9")
	before := heapAfterGC()
	buf := make([]byte, 65535)
	kept := 0 // bytes of the 200s, which each entry keeps to resend
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := fmt.Sprintf("OPTIONS sip:127.0.0.1:%d SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKpark%d\r\n"+
			"Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=%d\r\nTo: <sip:127.0.0.1:%d>\r\nCall-ID: park%d\r\n"+
			"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", dst.Port, me, i, i, dst.Port, i)
		if _, err := conn.WriteToUDP([]byte(req), dst); err != nil {
			b.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, _, err := conn.ReadFromUDP(buf)
		if err != nil || !bytes.HasPrefix(buf[:n], []byte("SIP/2.0 200")) {
			b.Fatalf("request %d: %v %q", i, err, buf[:min(n, 40)])
		}
		kept += n
	}
	b.StopTimer()
	waitStat(b, "parked waits", e.Stats().Parked.Load, int64(b.N))
	grew := float64(int64(heapAfterGC()) - int64(before))
	b.ReportMetric(grew/float64(b.N), "B/wait")
	b.ReportMetric((grew-float64(kept))/float64(b.N), "B/wait-beyond-200")
}
