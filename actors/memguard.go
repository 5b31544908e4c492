package actors

import (
	"bufio"
	"os"
	"runtime/debug"
	runtimemetrics "runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// memGuard is the memory back-pressure of limits.memory_mib: a flood of requests that are never
// answered (each a transaction actor for 32 s) must get 503 + Retry-After before the box swaps,
// not be absorbed until the kernel kills the daemon. Two thirds of the limit is also the garbage
// collector's soft limit (GOMEMLIMIT, unless runtime.memory_limit_mib sets another), so the heap
// the collector lets grow (GOGC 400: five times the live data) stays under it with room for the
// rest of the process. A goroutine reads the runtime's metrics every 50 ms (no stop of the
// world). When the live heap (what the last collection kept) reaches a fifth of the limit, or
// the heap in objects (live and garbage) a third of it, the number of live transactions at that
// moment becomes a cap: new requests over it are refused as over limits.transactions (requests
// of calls in progress still pass), while those that fit as others end are served, so legitimate
// calls keep a share during a flood. The cap is lowered by a tenth every second while the live
// heap stays past half the limit, and lifted when the live heap is back under a sixth and the
// objects under a quarter. A cap on transactions rather than a switch on memory keeps the count
// from overshooting between two collections (the live heap is only measured at the end of one).
// The heap a flood leaves behind is given back to the OS: every second while capped, and for
// two minutes after whenever more than 16 MiB of heap lies free, at most every 10 s (Go's own
// scavenger returns it only slowly, and not at all when nothing allocates; in normal operation
// it is left to it).
type memGuard struct {
	limit atomic.Int64 // bytes; 0: no limit
	used  atomic.Int64 // the last sample of what the runtime holds from the OS
	live  atomic.Int64 // the last sample of the live heap
	over  atomic.Bool
	cap   atomic.Int64 // live transactions at most while over
	// lastTrim is when the heap was last returned to the OS, lastOver when memory was last
	// over; both are the sampling goroutine's own.
	lastTrim, lastOver time.Time
	trims              atomic.Int64 // times the heap was returned to the OS
	log                *zap.Logger
	txs                func() int64 // live transactions
}

// memorySamples are the runtime metrics memGuard reads: what the runtime mapped, what of it was
// returned to the OS, the free heap not returned yet, the heap the last collection kept, and the
// heap in objects now (live or not yet collected).
var memorySamples = []string{"/memory/classes/total:bytes", "/memory/classes/heap/released:bytes",
	"/memory/classes/heap/free:bytes", "/gc/heap/live:bytes", "/memory/classes/heap/objects:bytes"}

func newMemGuard(limitMiB int, txs func() int64, log *zap.Logger) *memGuard {
	g := &memGuard{log: log, txs: txs}
	g.set(limitMiB)
	return g
}

// full reports whether a new transaction would go past the cap memory pressure set.
func (g *memGuard) full(liveTxs int64) bool { return g.over.Load() && liveTxs >= g.cap.Load() }

// set changes the limit (a reload).
func (g *memGuard) set(limitMiB int) { g.limit.Store(MemoryLimit(limitMiB)) }

// MemoryLimit is limits.memory_mib in bytes: 0 is three quarters of the machine's memory.
func MemoryLimit(limitMiB int) int64 {
	if limitMiB == 0 {
		return machineMemory() / 4 * 3
	}
	return int64(limitMiB) << 20
}

// sampleMemory reads the runtime's memory: held (mapped, not released), the free heap not
// released, the live heap, and the heap in objects.
func sampleMemory() (held, free, live, objects int64) {
	s := make([]runtimemetrics.Sample, len(memorySamples))
	for i, name := range memorySamples {
		s[i].Name = name
	}
	runtimemetrics.Read(s)
	v := func(i int) int64 {
		if s[i].Value.Kind() != runtimemetrics.KindUint64 {
			return 0
		}
		return int64(s[i].Value.Uint64())
	}
	return v(0) - v(1), v(2), v(3), v(4)
}

// run samples every interval until stop is closed.
func (g *memGuard) run(interval time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			g.check(now)
		}
	}
}

// check takes one sample and acts on it.
func (g *memGuard) check(now time.Time) {
	held, free, live, objects := sampleMemory()
	g.used.Store(held)
	g.live.Store(live)
	limit := g.limit.Load()
	trim := func() {
		debug.FreeOSMemory()
		g.trims.Add(1)
		g.lastTrim = now
	}
	if g.over.Load() {
		g.lastOver = now
	}
	switch {
	case limit > 0 && (live >= limit/5 || objects >= limit/3) && !g.over.Load():
		g.cap.Store(g.txs())
		g.over.Store(true)
		g.log.Warn("heap past its share of limits.memory_mib: new requests past the transactions live now get 503",
			zap.Int64("live_mib", live>>20), zap.Int64("held_mib", held>>20), zap.Int64("limit_mib", limit>>20),
			zap.Int64("transactions", g.cap.Load()))
		trim()
	case g.over.Load() && (limit == 0 || (live < limit/6 && objects < limit/4)):
		g.over.Store(false)
		g.log.Info("heap back under its share of limits.memory_mib: the transaction cap is lifted",
			zap.Int64("live_mib", live>>20), zap.Int64("held_mib", held>>20))
	case g.over.Load() && now.Sub(g.lastTrim) >= time.Second:
		if live >= limit/2 {
			g.cap.Store(min(g.cap.Load(), g.txs()) / 10 * 9)
		}
		trim()
	case free > 16<<20 && !g.lastOver.IsZero() && now.Sub(g.lastOver) < 2*time.Minute && now.Sub(g.lastTrim) >= 10*time.Second:
		trim() // after a flood (in normal operation Go's scavenger is left to it)
	}
}

// machineMemory is the memory this process may use: the machine's (MemTotal), or its cgroup's
// limit when lower. 0 when neither can be read.
func machineMemory() int64 {
	var total int64
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if fields := strings.Fields(sc.Text()); len(fields) >= 2 && fields[0] == "MemTotal:" {
				kb, _ := strconv.ParseInt(fields[1], 10, 64)
				total = kb << 10
				break
			}
		}
		_ = f.Close()
	}
	if b, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 && (total == 0 || n < total) {
			total = n
		}
	}
	return total
}
