package actors

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/partysip/partysip/bench/sipp"
	"github.com/partysip/partysip/config"
)

// Over limits.memory_mib new requests get 503 with Retry-After and the heap is returned to the
// OS; a limit raised by a reload lets them in again.
func TestMemoryBackPressure(t *testing.T) {
	port, _ := sipp.FreePort()
	cfg := config.Default()
	cfg.Listen = []string{"udp:127.0.0.1:" + strconv.Itoa(port)}
	cfg.Limits.MemoryMiB = 1 // the runtime alone holds more
	e := startConfigured(t, cfg)
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 3 s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("over the limit", e.c.mem.over.Load)
	waitFor("the heap returned to the OS", func() bool { return e.c.mem.trims.Load() >= 1 })
	proxy := &net.UDPAddr{IP: net.ParseIP("127.0.0.1"), Port: port}
	us := "sip:127.0.0.1:" + strconv.Itoa(port)
	caller := newPeer(t, "127.0.0.1")
	caller.send(proxy, options(us, "UDP", "127.0.0.1", caller.port(), "z9hG4bK-mem1"))
	if res := caller.expectResponse(503); res.GetHeader("Retry-After") == nil {
		t.Fatal("503 without Retry-After")
	}

	more := *cfg
	more.Limits.MemoryMiB = 1 << 20
	if _, err := e.Reload(&more); err != nil {
		t.Fatal(err)
	}
	waitFor("back under the limit", func() bool { return !e.c.mem.over.Load() })
	caller.send(proxy, options(us, "UDP", "127.0.0.1", caller.port(), "z9hG4bK-mem2"))
	caller.expectResponse(200)
}

// limits.memory_mib 0 is three quarters of the machine's memory.
func TestMemoryLimitDefault(t *testing.T) {
	total := machineMemory()
	if total <= 0 {
		t.Fatal("the machine's memory could not be read")
	}
	if got := newMemGuard(0, nil, nil).limit.Load(); got != total/4*3 {
		t.Fatalf("limit %d, want %d", got, total/4*3)
	}
}
