package actors

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/partysip/partysip/actors/transport"
	"github.com/partysip/partysip/bench/sipp"
	"github.com/partysip/partysip/sipcore/proxy"
	"github.com/partysip/partysip/sipcore/transaction"
)

// TestUnparsableRequestGets400 sends a request with a broken header but a readable Via: the
// proxy answers 400 with a reason phrase naming the problem, counts it, and keeps serving.
func TestUnparsableRequestGets400(t *testing.T) {
	e, port := startEngine(t, "sip:127.0.0.1:9", nil)
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	local := conn.LocalAddr().(*net.UDPAddr).Port
	bad := strings.Join([]string{
		"OPTIONS sip:bob@127.0.0.1 SIP/2.0",
		fmt.Sprintf("Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKbad1", local),
		"From: <sip:alice@127.0.0.1>;tag=1",
		"To: <sip:bob@127.0.0.1>",
		"Call-ID: bad1",
		"CSeq: nonsense OPTIONS",
		"Content-Length: 0", "", ""}, "\r\n")
	dst := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
	if _, err := conn.WriteToUDP([]byte(bad), dst); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 4096)
	n, _, err := conn.ReadFromUDP(buf)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	// The answer copies the request's Via, From, To, Call-ID and CSeq lines as they came, the
	// broken CSeq included, so it is checked as text.
	answer := string(buf[:n])
	status, _, _ := strings.Cut(answer, "\r\n")
	if status != "SIP/2.0 400 Bad Request (malformed CSeq)" {
		t.Fatalf("want 400 with a reason naming the problem (and no Go error text), got %q", status)
	}
	for _, want := range []string{"branch=z9hG4bKbad1", "Call-ID: bad1", "Content-Length: 0"} {
		if !strings.Contains(answer, want) {
			t.Fatalf("400 lacks %q:\n%s", want, answer)
		}
	}
	if e.Stats().Malformed.Load() != 1 {
		t.Fatalf("malformed count %d, want 1", e.Stats().Malformed.Load())
	}
	// Garbage without a request line is dropped without an answer.
	_, _ = conn.WriteToUDP([]byte("\x00\x01garbage\r\n\r\n"), dst)
	_ = conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, _, err := conn.ReadFromUDP(buf); err == nil {
		t.Fatalf("garbage was answered")
	}
}

var fuzzEngine struct {
	once sync.Once
	e    *Engine
	udp  *transport.Socket
	err  error
}

// FuzzInbound feeds bytes through the inbound path: the parser, the pure §16/§17 pipeline
// (keys, validation, route pre-processing, routing, forwarding copy, response handling) and
// the engine's transaction table and actors. The engine is confined to loopback (every
// foreign destination is refused, no name is resolved), so torture messages naming other
// hosts send nothing off the machine. A panic in the pure path fails at once; one inside an
// actor is caught by its supervisor and fails the next input through the panic counter.
func FuzzInbound(f *testing.F) {
	for _, dir := range []string{"testdata/inbound"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.sip"))
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Add([]byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-psx.1\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKa\r\nCSeq: 1 INVITE\r\nCall-ID: x\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("garbage\r\n\r\n"))
	fuzzEngine.once.Do(func() {
		e, port := startFuzzEngine(f)
		fuzzEngine.e = e
		for _, u := range e.c.net.UDP() {
			if int(u.Addr().Port()) == port {
				fuzzEngine.udp = u
			}
		}
	})
	e := fuzzEngine.e
	local := e.c.local
	src := netip.MustParseAddrPort("127.0.0.1:5999")
	f.Fuzz(func(t *testing.T, data []byte) {
		if n := e.Stats().TxPanics.Load(); n != 0 {
			t.Fatalf("%d transaction actor(s) panicked on an earlier input", n)
		}
		_, _ = proxy.TooLarge(data)
		msg, err := sip.ParseMessage(data)
		if err != nil {
			_, _ = proxy.BadRequest(data, err)
			return
		}
		transport.StampSource(msg, "UDP", src)
		switch m := msg.(type) {
		case *sip.Request:
			if _, err := transaction.ServerKey(m); err != nil {
				return
			}
			lh := proxy.LoopHash(m)
			if proxy.Validate(m, local, lh) == nil {
				work := m.Clone()
				proxy.PreprocessRoute(work, local)
				if targets, rej := e.c.routing().Router.Decide(work); rej == nil {
					out, _ := proxy.Forward(work, targets[0], proxy.ForwardOptions{Branch: proxy.NewBranch(lh, "f"), RecordRoute: true,
						Via: proxy.Outbound{Host: "127.0.0.1", Port: 5060, Transport: "UDP"}})
					_ = out.String()
				}
			}
			_ = proxy.StatelessBranch(m)
		case *sip.Response:
			if _, err := transaction.ClientKey(m); err != nil {
				return
			}
			if out, ok := proxy.StripVia(m); ok {
				_ = proxy.ResponseHop(out.Via())
			}
		}
		e.c.route(msg, fuzzEngine.udp.PeerAt(src))
	})
}

func startFuzzEngine(f *testing.F) (*Engine, int) {
	port, err := sipp.FreePort()
	if err != nil {
		f.Fatal(err)
	}
	// Requests are routed to the discard port on loopback; nothing needs to answer.
	e, err := Start(Options{Config: testConfig(f, port, "sip:127.0.0.1:9"), LoopbackOnly: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(e.Stop)
	return e, port
}

// TestUnparsableTCPMessage: over TCP there is no message boundary to resync on after a parse
// failure, so the connection is closed; the failure is counted and logged once at info.
func TestUnparsableTCPMessage(t *testing.T) {
	e, port := startEngine(t, "sip:127.0.0.1:9", nil)
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = conn.Write([]byte("OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKt\r\n" +
		"CSeq: bad OPTIONS\r\nContent-Length: 0\r\n\r\n"))
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	if n, err := conn.Read(make([]byte, 100)); err == nil {
		t.Fatalf("connection still open, read %d bytes", n)
	}
	deadline := time.Now().Add(2 * time.Second)
	for e.Stats().Malformed.Load() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("malformed count %d, want 1", e.Stats().Malformed.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
