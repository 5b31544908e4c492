package actors

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/partysip/partysip/actors/internal/clock"
	"github.com/partysip/partysip/actors/transport"
	"github.com/partysip/partysip/bench/sipp"
	"github.com/partysip/partysip/config"
	"github.com/partysip/partysip/sipcore/transaction"
)

// peer is a scripted SIP endpoint on a loopback UDP socket.
type peer struct {
	t    *testing.T
	conn *net.UDPConn
}

func newPeer(t *testing.T, ip string) *peer {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &peer{t: t, conn: conn}
}

func (p *peer) port() int { return p.conn.LocalAddr().(*net.UDPAddr).Port }

func (p *peer) send(to *net.UDPAddr, msg string) {
	p.t.Helper()
	if _, err := p.conn.WriteToUDP([]byte(msg), to); err != nil {
		p.t.Fatal(err)
	}
}

func (p *peer) sendMsg(to *net.UDPAddr, m sip.Message) { p.send(to, m.String()) }

// recv waits for the next message; it fails the test after the timeout.
func (p *peer) recv(timeout time.Duration) (sip.Message, *net.UDPAddr) {
	p.t.Helper()
	m, from, ok := p.tryRecv(timeout)
	if !ok {
		p.t.Fatalf("nothing received within %s", timeout)
	}
	return m, from
}

func (p *peer) tryRecv(timeout time.Duration) (sip.Message, *net.UDPAddr, bool) {
	buf := make([]byte, 65535)
	_ = p.conn.SetReadDeadline(time.Now().Add(timeout))
	n, from, err := p.conn.ReadFromUDP(buf)
	if err != nil {
		return nil, nil, false
	}
	m, err := sip.ParseMessage(buf[:n])
	if err != nil {
		p.t.Fatalf("unparsable message received: %v\n%s", err, buf[:n])
	}
	return m, from, true
}

// expectResponse waits for a response with the given status, skipping others it may meet
// first when skip is set (e.g. 100 Trying).
func (p *peer) expectResponse(code int, skip ...int) *sip.Response {
	p.t.Helper()
	for {
		m, _ := p.recv(3 * time.Second)
		res, ok := m.(*sip.Response)
		if !ok {
			p.t.Fatalf("want response %d, got request %s", code, firstLine(m))
		}
		if res.StatusCode == code {
			return res
		}
		skipped := false
		for _, s := range skip {
			skipped = skipped || s == res.StatusCode
		}
		if !skipped {
			p.t.Fatalf("want response %d, got %d", code, res.StatusCode)
		}
	}
}

func (p *peer) expectRequest(method sip.RequestMethod) (*sip.Request, *net.UDPAddr) {
	p.t.Helper()
	m, from := p.recv(3 * time.Second)
	req, ok := m.(*sip.Request)
	if !ok || req.Method != method {
		p.t.Fatalf("want %s, got %s", method, firstLine(m))
	}
	return req, from
}

// expectRequestPast is expectRequest that lets retransmissions of the skip methods go by (a
// test with a tiny T1 sees the proxy's Timer A retransmissions race the request it waits for).
func (p *peer) expectRequestPast(method sip.RequestMethod, skip ...sip.RequestMethod) *sip.Request {
	p.t.Helper()
	for {
		m, _ := p.recv(3 * time.Second)
		req, ok := m.(*sip.Request)
		if ok && req.Method == method {
			return req
		}
		if !ok || !slices.Contains(skip, req.Method) {
			p.t.Fatalf("want %s, got %s", method, firstLine(m))
		}
	}
}

func invite(ruri, viaHost string, viaPort int, branch, callID string) string {
	return fmt.Sprintf("INVITE %s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %s:%d;branch=%s;rport\r\n"+
		"Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=a1\r\nTo: <%s>\r\n"+
		"Call-ID: %s\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@%s:%d>\r\nContent-Length: 0\r\n\r\n",
		ruri, viaHost, viaPort, branch, ruri, callID, viaHost, viaPort)
}

func loopback(port int) *net.UDPAddr { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port} }

// asMethod turns the INVITE text of a test into the same request with another method (ACK,
// CANCEL), keeping its branch.
func asMethod(inv string, m sip.RequestMethod) string {
	out := strings.Replace(inv, "INVITE sip:", string(m)+" sip:", 1)
	return strings.Replace(out, "CSeq: 1 INVITE", "CSeq: 1 "+string(m), 1)
}

// call is a caller and a callee with an engine between them and one INVITE on its way: the
// caller had its 100 Trying and the callee holds the forwarded INVITE.
type call struct {
	e         *Engine
	uac, uas  *peer
	proxy     *net.UDPAddr // where the caller sends
	proxyFrom *net.UDPAddr // where the callee answers
	port      int
	ruri      string
	inv       string
	fwd       *sip.Request
}

func placeCall(t *testing.T, branch, callID string, tune ...func(*config.Config)) *call {
	t.Helper()
	c := &call{uas: newPeer(t, "127.0.0.1"), uac: newPeer(t, "127.0.0.1")}
	c.e, c.port = startEngineWith(t, fmt.Sprintf("sip:127.0.0.1:%d", c.uas.port()), tune...)
	c.proxy = loopback(c.port)
	c.ruri = fmt.Sprintf("sip:bob@127.0.0.1:%d", c.port)
	c.inv = invite(c.ruri, "127.0.0.1", c.uac.port(), branch, callID)
	c.uac.send(c.proxy, c.inv)
	c.uac.expectResponse(100)
	c.fwd, c.proxyFrom = c.uas.expectRequest(sip.INVITE)
	return c
}

// answer makes the callee answer req with code.
func (c *call) answer(req *sip.Request, code int, reason string) {
	c.uas.sendMsg(c.proxyFrom, sip.NewResponseFromRequest(req, code, reason, nil))
}

// TestInviteTransactionThroughProxy walks one INVITE through the stateful proxy with scripted
// peers: 100 Trying at once, a retransmitted INVITE absorbed (and answered with the last
// provisional), 180 and 200 relayed, a retransmitted 200 relayed again (RFC 6026 Accepted, the
// case of sipgo #120), and the ACK for the 2xx forwarded as its own transaction.
func TestInviteTransactionThroughProxy(t *testing.T) {
	c := placeCall(t, "z9hG4bKinv1", "call-1")
	if c.fwd.Via().Host != "127.0.0.1" || c.fwd.Via().Port != c.port || c.fwd.RecordRoute() == nil {
		t.Fatalf("forwarded INVITE lacks our Via or Record-Route:\n%s", c.fwd)
	}
	if mf := c.fwd.MaxForwards().Val(); mf != 69 {
		t.Fatalf("Max-Forwards %d, want 69", mf)
	}

	c.uac.send(c.proxy, c.inv) // retransmission
	c.uac.expectResponse(100)
	if m, _, ok := c.uas.tryRecv(300 * time.Millisecond); ok {
		t.Fatalf("retransmitted INVITE was forwarded again: %s", firstLine(m))
	}

	c.answer(c.fwd, 180, "Ringing")
	ringing := c.uac.expectResponse(180)
	if len(ringing.GetHeaders("Via")) != 1 {
		t.Fatalf("our Via was not stripped from the 180:\n%s", ringing)
	}
	ok := sip.NewResponseFromRequest(c.fwd, 200, "OK", nil)
	c.uas.sendMsg(c.proxyFrom, ok)
	c.uac.expectResponse(200)
	c.uas.sendMsg(c.proxyFrom, ok) // the UAS did not see an ACK yet and retransmits
	c.uac.expectResponse(200)

	c.uac.send(c.proxy, strings.Replace(asMethod(c.inv, sip.ACK), "z9hG4bKinv1", "z9hG4bKack1", 1))
	fwdAck, _ := c.uas.expectRequest(sip.ACK)
	if b, _ := fwdAck.Via().Params.Get("branch"); !strings.HasPrefix(b, "z9hG4bK-pl") {
		t.Fatalf("ACK for 2xx should be forwarded statelessly, branch %q", b)
	}
}

// TestCancelThroughProxy: a CANCEL from the caller is answered 200 at once and propagated to the
// pending branch with the branch of the forwarded INVITE; the 487 comes back to the caller and
// the proxy ACKs it downstream itself (§16.10, §17.1.1.3).
func TestCancelThroughProxy(t *testing.T) {
	c := placeCall(t, "z9hG4bKinv2", "call-2")
	c.answer(c.fwd, 180, "Ringing")
	c.uac.expectResponse(180)

	c.uac.send(c.proxy, asMethod(c.inv, sip.CANCEL))
	if res := c.uac.expectResponse(200); res.CSeq().MethodName != sip.CANCEL {
		t.Fatalf("200 is for %s, want CANCEL", res.CSeq().MethodName)
	}
	fwdCancel, _ := c.uas.expectRequest(sip.CANCEL)
	wantBranch, _ := c.fwd.Via().Params.Get("branch")
	if b, _ := fwdCancel.Via().Params.Get("branch"); b != wantBranch {
		t.Fatalf("CANCEL branch %q, want the INVITE's %q", b, wantBranch)
	}
	c.answer(fwdCancel, 200, "OK")
	c.answer(c.fwd, 487, "Request Terminated")
	c.uac.expectResponse(487)
	ack, _ := c.uas.expectRequest(sip.ACK)
	if b, _ := ack.Via().Params.Get("branch"); b != wantBranch {
		t.Fatalf("ACK for 487 has branch %q, want %q", b, wantBranch)
	}
}

// TestNoAnswerTimesOut: a next hop that never answers gives the caller 408 after 64*T1
// (timer F of the client transaction), with T1 shortened to keep the test quick.
func TestNoAnswerTimesOut(t *testing.T) {
	silent := newPeer(t, "127.0.0.1") // receives, never answers
	_, port := startEngineWith(t, fmt.Sprintf("sip:127.0.0.1:%d", silent.port()), func(cfg *config.Config) {
		cfg.Timers.T1 = 10 * time.Millisecond
		cfg.Timers.T2 = 40 * time.Millisecond
	})
	uac := newPeer(t, "127.0.0.1")
	uac.send(loopback(port), fmt.Sprintf("OPTIONS sip:bob@127.0.0.1:%d SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKopt1\r\nMax-Forwards: 70\r\n"+
		"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: to-1\r\nCSeq: 1 OPTIONS\r\n"+
		"Content-Length: 0\r\n\r\n", port, uac.port()))
	uac.expectResponse(408)
	// The silent hop saw the request and its retransmissions (timer E).
	n := 0
	for {
		if _, _, ok := silent.tryRecv(50 * time.Millisecond); !ok {
			break
		}
		n++
	}
	if n < 3 {
		t.Fatalf("next hop received %d copies, want the request and its retransmissions", n)
	}
}

// TestIPv6AndRport runs a transaction over IPv6 loopback: the caller asked for rport, so the
// forwarded request's second Via carries received and rport, and the response finds the caller.
func TestIPv6AndRport(t *testing.T) {
	if ln, err := net.ListenPacket("udp", "[::1]:0"); err != nil {
		t.Skip("no IPv6 loopback on this machine:", err)
	} else {
		_ = ln.Close()
	}
	uas := newPeer(t, "::1")
	port, _ := freePort(t)
	cfg := config.Default()
	cfg.Listen = []string{fmt.Sprintf("udp:[::1]:%d", port)}
	cfg.Routes = []config.Route{{Match: ".*", To: fmt.Sprintf("sip:[::1]:%d", uas.port())}}
	cfg.Store = config.Store{Driver: "memory"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	e, err := Start(Options{Config: cfg, LoopbackOnly: true, Logger: zaptest.NewLogger(t, zaptest.Level(zapcore.WarnLevel))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Stop)
	uac := newPeer(t, "::1")
	// The caller claims a sent-by it does not send from: received/rport must repair it.
	uac.send(&net.UDPAddr{IP: net.IPv6loopback, Port: port}, fmt.Sprintf("OPTIONS sip:bob@[::1]:%d SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP [::1]:1;branch=z9hG4bKv6;rport\r\nMax-Forwards: 70\r\n"+
		"From: <sip:a@[::1]>;tag=1\r\nTo: <sip:bob@[::1]>\r\nCall-ID: v6-1\r\nCSeq: 1 OPTIONS\r\n"+
		"Content-Length: 0\r\n\r\n", port))
	fwd, proxyFrom := uas.expectRequest(sip.OPTIONS)
	vias := fwd.GetHeaders("Via")
	if len(vias) != 2 {
		t.Fatalf("want 2 Vias, got %d", len(vias))
	}
	caller := vias[1].(*sip.ViaHeader)
	if r, _ := caller.Params.Get("rport"); r != fmt.Sprint(uac.port()) {
		t.Fatalf("rport %q, want %d: %s", r, uac.port(), caller.Value())
	}
	if r, _ := caller.Params.Get("received"); r != "::1" {
		t.Fatalf("received %q, want ::1", r)
	}
	uas.sendMsg(proxyFrom, sip.NewResponseFromRequest(fwd, 200, "OK", nil))
	uac.expectResponse(200)
}

// freePort returns a UDP port free on [::1].
func freePort(t *testing.T) (int, error) {
	t.Helper()
	ln, err := net.ListenPacket("udp", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.LocalAddr().(*net.UDPAddr).Port, nil
}

func firstLine(m sip.Message) string {
	line, _, _ := strings.Cut(m.String(), "\r\n")
	return line
}

// TestListenerRebindsAfterFailure makes a real UDP listener's read fail (a read deadline in the
// past): its transport actor fails, the supervisor restarts it after a backoff, the socket is
// bound again at the same address, and requests flow again.
func TestListenerRebindsAfterFailure(t *testing.T) {
	uas := newPeer(t, "127.0.0.1")
	e, port := startEngine(t, fmt.Sprintf("sip:127.0.0.1:%d", uas.port()), nil)
	var udp *transport.Socket
	for _, u := range e.c.net.UDP() {
		udp = u
	}
	_ = udp.SetReadDeadline(time.Now())
	deadline := time.Now().Add(5 * time.Second)
	for e.Stats().ListenerRestarts.Load() == 0 || !udp.Bound() {
		if time.Now().After(deadline) {
			t.Fatal("listener was not restarted")
		}
		time.Sleep(10 * time.Millisecond)
	}
	uac := newPeer(t, "127.0.0.1")
	opts := fmt.Sprintf("OPTIONS sip:bob@127.0.0.1:%d SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKrb1\r\nMax-Forwards: 70\r\n"+
		"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: rb-1\r\nCSeq: 1 OPTIONS\r\n"+
		"Content-Length: 0\r\n\r\n", port, uac.port())
	// The re-bind may still be under way: retry the request a few times.
	for i := 0; ; i++ {
		uac.send(loopback(port), opts)
		if m, _, ok := uas.tryRecv(500 * time.Millisecond); ok {
			fwd := m.(*sip.Request)
			uas.sendMsg(loopback(port), sip.NewResponseFromRequest(fwd, 200, "OK", nil))
			break
		}
		if i == 5 {
			t.Fatal("no request forwarded after the re-bind")
		}
	}
	uac.expectResponse(200)
}

// TestDrainFinishesLiveRefusesNew: while draining, a call in progress completes and its
// in-dialog requests still pass, a new call gets 503 with Retry-After, and Drain returns once
// nothing owes a final response and the answered call has sent its BYE.
func TestDrainFinishesLiveRefusesNew(t *testing.T) {
	c := placeCall(t, "z9hG4bKdr1", "drain-1")
	drained := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		drained <- c.e.Drain(ctx)
	}()
	time.Sleep(50 * time.Millisecond)
	c.uac.send(c.proxy, invite(c.ruri, "127.0.0.1", c.uac.port(), "z9hG4bKdr2", "drain-2"))
	busy := c.uac.expectResponse(503)
	if busy.CallID().Value() != "drain-2" || busy.GetHeader("Retry-After") == nil {
		t.Fatalf("want 503 with Retry-After for the new call:\n%s", busy)
	}
	select {
	case err := <-drained:
		t.Fatalf("drain returned while a call was still pending: %v", err)
	default:
	}
	ok := sip.NewResponseFromRequest(c.fwd, 200, "OK", nil)
	ok.To().Params.Add("tag", "b1")
	c.uas.sendMsg(c.proxyFrom, ok)
	c.uac.expectResponse(200)
	// Answered: the call is in progress (a dialog) and holds the drain until its BYE.
	select {
	case err := <-drained:
		t.Fatalf("drain returned while a call was in progress: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	// The live call can still end: an in-dialog BYE (To tag) passes during the drain.
	bye := fmt.Sprintf("BYE %s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKdr3\r\n"+
		"Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=a1\r\nTo: <%s>;tag=b1\r\n"+
		"Call-ID: drain-1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n", c.ruri, c.uac.port(), c.ruri)
	c.uac.send(c.proxy, bye)
	fwdBye, _ := c.uas.expectRequest(sip.BYE)
	c.answer(fwdBye, 200, "OK")
	c.uac.expectResponse(200)
	if err := <-drained; err != nil {
		t.Fatalf("drain: %v", err)
	}
}

// TestTimerC: a branch that rings and never answers is CANCELled when Timer C expires (§16.8);
// its 487 reaches the caller. When the callee ignores the CANCEL too, the branch is given up
// after 64*T1 and the caller gets 408.
func TestTimerC(t *testing.T) {
	short := func(cfg *config.Config) {
		cfg.Timers.C = 150 * time.Millisecond
		cfg.Timers.T1 = 20 * time.Millisecond
		cfg.Timers.T2 = 80 * time.Millisecond
	}
	t.Run("cancelled", func(t *testing.T) {
		c := placeCall(t, "z9hG4bKtc1", "timer-c-1", short)
		c.answer(c.fwd, 180, "Ringing")
		c.uac.expectResponse(180)
		cancel, _ := c.uas.expectRequest(sip.CANCEL) // within Timer C plus slack
		c.answer(cancel, 200, "OK")
		c.answer(c.fwd, 487, "Request Terminated")
		c.uac.expectResponse(487)
	})
	t.Run("cancel ignored", func(t *testing.T) {
		c := placeCall(t, "z9hG4bKtc2", "timer-c-2", short)
		c.answer(c.fwd, 180, "Ringing")
		c.uac.expectResponse(180)
		c.uas.expectRequest(sip.CANCEL)
		// The callee stays silent; the CANCEL is retransmitted, then the branch is given up.
		c.uac.expectResponse(408)
	})
}

// TestCancelledCalleeNeverAnswers: the callee answers the caller's CANCEL with 200 but never
// sends a final response to the INVITE. RFC 3261 §9.1: the branch is given up 64·T1 after the
// CANCEL, so the caller has its 487 then (1.28 s here), not after Timer C (a minute here), and
// the branch's client transaction does not outlive the call.
func TestCancelledCalleeNeverAnswers(t *testing.T) {
	c := placeCall(t, "z9hG4bKcx1", "cancel-ignored-1", func(cfg *config.Config) {
		cfg.Timers.C = time.Minute
		cfg.Timers.T1 = 20 * time.Millisecond
		cfg.Timers.T2 = 80 * time.Millisecond
	})
	c.answer(c.fwd, 180, "Ringing")
	c.uac.expectResponse(180)
	cancelAt := time.Now()
	c.uac.send(c.proxy, asMethod(c.inv, sip.CANCEL))
	c.uac.expectResponse(200)
	fwdCancel, _ := c.uas.expectRequest(sip.CANCEL)
	c.answer(fwdCancel, 200, "OK")
	c.uac.expectResponse(487)
	if took := time.Since(cancelAt); took < 64*20*time.Millisecond || took > 3*time.Second {
		t.Fatalf("487 came %v after the CANCEL, want 64·T1 = 1.28 s", took)
	}
	waitFor(t, "every transaction actor gone", func() bool { return c.e.Stats().LiveTx.Load() == 0 })
}

// TestCancelGiveUpOnAFakeClock: the same with RFC 3261's own T1 (64·T1 = 32 s) on a fake clock:
// nothing happens until the clock is moved, and moving it 32 s gives the caller its 487 at once.
// No test sleeps through a protocol timer.
func TestCancelGiveUpOnAFakeClock(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	uas, uac := newPeer(t, "127.0.0.1"), newPeer(t, "127.0.0.1")
	_, port := startEngineOpts(t, fmt.Sprintf("sip:127.0.0.1:%d", uas.port()), Options{Clock: clk})
	proxyAddr := loopback(port)
	inv := invite(fmt.Sprintf("sip:bob@127.0.0.1:%d", port), "127.0.0.1", uac.port(), "z9hG4bKfake1", "fake-clock-1")
	uac.send(proxyAddr, inv)
	uac.expectResponse(100)
	fwd, from := uas.expectRequest(sip.INVITE)
	uas.sendMsg(from, sip.NewResponseFromRequest(fwd, 180, "Ringing", nil))
	uac.expectResponse(180)
	uac.send(proxyAddr, asMethod(inv, sip.CANCEL))
	uac.expectResponse(200)
	fwdCancel, _ := uas.expectRequest(sip.CANCEL)
	uas.sendMsg(from, sip.NewResponseFromRequest(fwdCancel, 200, "OK", nil))
	if m, _, ok := uac.tryRecv(300 * time.Millisecond); ok {
		t.Fatalf("the caller got %s before the clock moved", firstLine(m))
	}
	clk.Advance(64*500*time.Millisecond - time.Millisecond)
	if m, _, ok := uac.tryRecv(300 * time.Millisecond); ok {
		t.Fatalf("the caller got %s before 64·T1", firstLine(m))
	}
	clk.Advance(time.Millisecond)
	uac.expectResponse(487)
}

// TestLoopDetected routes every request back to the proxy itself, the classic
// misconfiguration: the second pass finds our own Via with the same loop hash and answers
// 482 (§16.3 step 4), which travels back to the caller instead of the request circling until
// Max-Forwards runs out.
func TestLoopDetected(t *testing.T) {
	port, err := sipp.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	_, _ = startEngineWith(t, "sip:127.0.0.1:1", func(cfg *config.Config) {
		cfg.Listen = []string{fmt.Sprintf("udp:127.0.0.1:%d", port)}
		cfg.Routes = []config.Route{{Match: ".*", To: fmt.Sprintf("sip:127.0.0.1:%d", port)}}
	})
	uac := newPeer(t, "127.0.0.1")
	uac.send(loopback(port), fmt.Sprintf("OPTIONS sip:bob@example.com SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKloop1\r\nMax-Forwards: 70\r\n"+
		"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: loop-1\r\nCSeq: 1 OPTIONS\r\n"+
		"Content-Length: 0\r\n\r\n", uac.port()))
	res := uac.expectResponse(482)
	if len(res.GetHeaders("Via")) != 1 {
		t.Fatalf("482 carries our Vias:\n%s", res)
	}
}

// TestNon2xxRetransmissionAckedAgain: a callee that did not see our ACK retransmits its 486;
// the client transaction ACKs every copy (§17.1.1.2, the case of sipgo #283) and the caller,
// whose ACK reached us, gets the 486 once.
func TestNon2xxRetransmissionAckedAgain(t *testing.T) {
	c := placeCall(t, "z9hG4bKbusy1", "busy-1")
	busy := sip.NewResponseFromRequest(c.fwd, 486, "Busy Here", nil)
	c.uas.sendMsg(c.proxyFrom, busy)
	c.uac.expectResponse(486)
	c.uac.send(c.proxy, asMethod(c.inv, sip.ACK)) // absorbed by the server transaction
	c.uas.expectRequest(sip.ACK)
	c.uas.sendMsg(c.proxyFrom, busy) // retransmission
	ack, _ := c.uas.expectRequest(sip.ACK)
	if to := ack.To(); to == nil || !to.Params.Has("tag") {
		t.Fatalf("ACK lacks the response's To tag:\n%s", ack)
	}
	// Longer than timer G (T1): nothing more for the caller, neither relayed nor retransmitted.
	if m, _, ok := c.uac.tryRecv(700 * time.Millisecond); ok {
		t.Fatalf("the caller got another message: %s", firstLine(m))
	}
	if m, _, ok := c.uas.tryRecv(100 * time.Millisecond); ok {
		t.Fatalf("the caller's ACK for the 486 was forwarded: %s", firstLine(m))
	}
}

// TestRFC2543Client: a client without the magic cookie in its branch is matched by the RFC
// 2543 rules (§17.2.3). Its ACK for a 2xx carries the same Via as the INVITE, so it matches
// the accepted INVITE transaction and is passed on (RFC 6026 §7.1) instead of being absorbed.
func TestRFC2543Client(t *testing.T) {
	c := placeCall(t, "old2543", "rfc2543-1")
	c.answer(c.fwd, 200, "OK")
	c.uac.expectResponse(200)
	c.uac.send(c.proxy, asMethod(c.inv, sip.ACK))
	ack, _ := c.uas.expectRequest(sip.ACK)
	if ack.CallID().Value() != "rfc2543-1" {
		t.Fatalf("unexpected ACK:\n%s", ack)
	}
	c.uac.send(c.proxy, c.inv) // a late INVITE retransmission is absorbed, not forwarded
	if m, _, ok := c.uas.tryRecv(300 * time.Millisecond); ok {
		t.Fatalf("INVITE retransmission after 2xx was forwarded: %s", firstLine(m))
	}
}

// TestPanicInClientTransaction: the client transaction of one branch panics as it starts; the
// supervisor stops it, the proxy context treats the branch as failed and the caller gets a 500
// (§16.7: a 503-like failure is never passed up as such); the panic is counted.
func TestPanicInClientTransaction(t *testing.T) {
	uas := newPeer(t, "127.0.0.1")
	e, port := startEngine(t, fmt.Sprintf("sip:127.0.0.1:%d", uas.port()), func(k transaction.Kind, req *sip.Request) bool {
		return k == transaction.ClientInvite
	})
	uac := newPeer(t, "127.0.0.1")
	uac.send(loopback(port), invite(fmt.Sprintf("sip:bob@127.0.0.1:%d", port), "127.0.0.1", uac.port(), "z9hG4bKcp1", "client-panic-1"))
	uac.expectResponse(500, 100)
	if n := e.Stats().TxPanics.Load(); n != 1 {
		t.Fatalf("panics counted: %d, want 1", n)
	}
	if m, _, ok := uas.tryRecv(100 * time.Millisecond); ok {
		t.Fatalf("the failed branch still sent: %s", firstLine(m))
	}
}

// An operator's listing says how old each transaction is, how long it has been in its state and
// which timers run; the time a transaction spent in a state reaches the time-in-state histogram
// (all on the engine's clock).
func TestTransactionListingAndTimeInState(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	clk := clock.NewFake(start)
	uas, uac := newPeer(t, "127.0.0.1"), newPeer(t, "127.0.0.1")
	e, port := startEngineOpts(t, fmt.Sprintf("sip:127.0.0.1:%d", uas.port()), Options{Clock: clk})
	inv := invite(fmt.Sprintf("sip:bob@127.0.0.1:%d", port), "127.0.0.1", uac.port(), "z9hG4bKlist1", "listing-1")
	uac.send(loopback(port), inv)
	uac.expectResponse(100)
	fwd, from := uas.expectRequest(sip.INVITE)
	clk.Advance(200 * time.Millisecond)
	list, err := e.Transactions(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	byKind := map[string]TransactionInfo{}
	for _, ti := range list {
		byKind[ti.Kind] = ti
	}
	ict, ist := byKind["ICT"], byKind["IST"]
	if ict.State != "Calling" || !ict.Since.Equal(start) || !ict.StateSince.Equal(start) {
		t.Fatalf("ICT %+v", ict)
	}
	timers := map[string]time.Time{}
	for _, tm := range ict.Timers {
		timers[tm.Name] = tm.Due
	}
	if !timers["A"].Equal(start.Add(500*time.Millisecond)) || !timers["B"].Equal(start.Add(32*time.Second)) {
		t.Fatalf("ICT timers %+v", ict.Timers)
	}
	if ist.State != "Proceeding" || !ist.Since.Equal(start) {
		t.Fatalf("IST %+v", ist)
	}
	// 2 s in Calling (Timer A retransmitting), then a 180: one Calling observation of 2 s.
	clk.Advance(1800 * time.Millisecond)
	uas.sendMsg(from, sip.NewResponseFromRequest(fwd, 180, "Ringing", nil))
	uac.expectResponse(180)
	reg := prometheus.NewRegistry()
	reg.MustRegister(e.Metrics())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "partysip_transaction_state_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["kind"] == "ICT" && labels["state"] == "Calling" {
				if h := m.GetHistogram(); h.GetSampleCount() != 1 || h.GetSampleSum() != 2 {
					t.Fatalf("ICT Calling: %d samples, sum %v; want 1 of 2 s", h.GetSampleCount(), h.GetSampleSum())
				}
				return
			}
		}
	}
	t.Fatal("no ICT Calling time-in-state histogram")
}

// At debug level the daemon writes the actor-level causal trace, in the simulator's schema: the
// actor by kind and order, the message, its sender's Lamport clock and the call and branch.
func TestDebugLogHasTheCausalTrace(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	uas, uac := newPeer(t, "127.0.0.1"), newPeer(t, "127.0.0.1")
	_, port := startEngineOpts(t, fmt.Sprintf("sip:127.0.0.1:%d", uas.port()), Options{Logger: zap.New(core)})
	uac.send(loopback(port), invite(fmt.Sprintf("sip:bob@127.0.0.1:%d", port), "127.0.0.1", uac.port(), "z9hG4bKcausal1", "causal-1"))
	uac.expectResponse(100)
	uas.expectRequest(sip.INVITE)
	var fromNet, fromActor bool
	for _, e := range logs.FilterMessage("actor").AllUntimed() {
		f := e.ContextMap()
		if f["kind"] == "receive" && f["msg"] == "txn.MessageReceived" && f["call_id"] == "causal-1" && f["cause"] == uint64(0) {
			fromNet = true
		}
		if f["kind"] == "receive" && f["cause"].(uint64) > 0 && strings.Contains(f["actor"].(string), "#") {
			fromActor = true
		}
	}
	if !fromNet || !fromActor {
		t.Fatalf("debug log: from the network %v, between actors %v (%d actor lines)", fromNet, fromActor, logs.FilterMessage("actor").Len())
	}
}
