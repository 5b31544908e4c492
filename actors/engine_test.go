package actors

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/goleak"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"github.com/partysip/partysip/bench/sipp"
	"github.com/partysip/partysip/config"
	"github.com/partysip/partysip/sipcore/transaction"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// protoactor's dead-letter throttle sleeps out its period (10 s here) in a goroutine of
		// its own after the first dead letter; it ends by itself and holds nothing of ours.
		goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"))
}

// testConfig listens on port (UDP and TCP) on loopback with a catch-all route to next.
func testConfig(t testing.TB, port int, next string) *config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.Listen = []string{fmt.Sprintf("udp:127.0.0.1:%d", port), fmt.Sprintf("tcp:127.0.0.1:%d", port)}
	cfg.Routes = []config.Route{{Match: ".*", To: next}}
	cfg.Store = config.Store{Driver: "memory"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// startConfigured runs an in-process engine, confined to loopback, on cfg (memory store),
// stopped when the test ends.
func startConfigured(t *testing.T, cfg *config.Config) *Engine {
	t.Helper()
	cfg.Store = config.Store{Driver: "memory"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	e, err := Start(Options{Config: cfg, LoopbackOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Stop)
	return e
}

// startEngine runs an in-process engine, confined to loopback, on a free port with a catch-all
// route to next.
func startEngine(t *testing.T, next string, fault FaultFunc) (*Engine, int) {
	t.Helper()
	return startEngineOpts(t, next, Options{Fault: fault})
}

// startEngineWith is startEngine with configuration changes applied before the start.
func startEngineWith(t *testing.T, next string, tune ...func(*config.Config)) (*Engine, int) {
	t.Helper()
	return startEngineOpts(t, next, Options{}, tune...)
}

func startEngineOpts(t *testing.T, next string, opts Options, tune ...func(*config.Config)) (*Engine, int) {
	t.Helper()
	port, err := sipp.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	opts.Config = testConfig(t, port, next)
	for _, f := range tune {
		f(opts.Config)
	}
	opts.LoopbackOnly = true
	if opts.Logger == nil {
		opts.Logger = zaptest.NewLogger(t, zaptest.Level(zapcore.WarnLevel))
	}
	e, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Stop)
	return e, port
}

// TestPanicInOneTransaction injects a panic into the INVITE server transaction of one call in
// the middle of a 1,000-call SIPp run: that call fails (the caller gets a 500), every other
// call succeeds, the panic is counted, and the engine keeps serving.
func TestPanicInOneTransaction(t *testing.T) {
	sipp.SlowTier(t)
	if _, err := sipp.Path(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	uasPort, _ := sipp.FreePort()
	uacPort, _ := sipp.FreePort()
	const victim = "500-" // sipp Call-IDs are "<call number>-<pid>@<ip>"
	fault := func(kind transaction.Kind, req *sip.Request) bool {
		return kind == transaction.ServerInvite && strings.HasPrefix(req.CallID().Value(), victim)
	}
	e, port := startEngine(t, fmt.Sprintf("sip:127.0.0.1:%d", uasPort), fault)
	uas, err := sipp.StartUAS(dir, "udp", uasPort)
	if err != nil {
		t.Fatal(err)
	}
	defer uas.Stop()
	time.Sleep(200 * time.Millisecond)
	res, err := sipp.UAC{
		Dir: dir, Target: fmt.Sprintf("127.0.0.1:%d", port), Transport: "udp", Port: uacPort,
		Calls: 1000, Rate: 200, Timeout: 90 * time.Second,
	}.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Successful != 999 || res.Failed != 1 {
		t.Fatalf("calls: %d successful, %d failed; want 999 and 1\n%s", res.Successful, res.Failed, sipp.ErrorLog(dir, "uac"))
	}
	if got := e.Stats().TxPanics.Load(); got != 1 {
		t.Fatalf("panics counted: %d, want 1", got)
	}
	if got := e.Stats().ResponsesSent5xx.Load(); got < 1 {
		t.Fatalf("no 500 sent for the failed transaction")
	}
	// Still serving: a second, short run is all successful.
	res2, err := sipp.UAC{
		Dir: t.TempDir(), Target: fmt.Sprintf("127.0.0.1:%d", port), Transport: "udp", Port: uacPort,
		Calls: 50, Rate: 50, Timeout: 30 * time.Second,
	}.Run(context.Background())
	if err != nil || res2.Successful != 50 || res2.Failed != 0 {
		t.Fatalf("after the fault: %+v %v", res2, err)
	}
}
