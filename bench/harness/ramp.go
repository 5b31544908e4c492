package harness

import (
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/partysip/partysip/bench/sipp"
)

// Step is one rate of a ramp and what it measured.
type Step struct {
	Rate       int     `json:"rate"`     // asked, per second
	Achieved   float64 `json:"achieved"` // successful per second of wall time
	Calls      int     `json:"calls"`
	Successful int     `json:"successful"`
	Failed     int     `json:"failed"`
	// Reordered counts the failed calls SIPp aborted for a provisional response that arrived
	// after the call's final one (a forking proxy's workers may relay a 180 after the 200): an
	// artefact of the scenario, not a failed call; counted apart and not held against Clean.
	Reordered       int     `json:"reordered,omitempty"`
	Retransmissions int     `json:"retransmissions"`
	P50ms           float64 `json:"p50_ms"`
	P95ms           float64 `json:"p95_ms"`
	P99ms           float64 `json:"p99_ms"`
	// CPUms1000 is the proxy's CPU time (user+system) per 1,000 successful calls, in ms.
	CPUms1000 float64 `json:"cpu_ms_per_1000"`
	PeakRSSMB float64 `json:"peak_rss_mb"`
	// PeakPSSMB is the highest PSS of the proxy's process tree sampled during the step (every
	// 200 ms): shared memory counted once, the fair figure for a forking proxy.
	PeakPSSMB float64 `json:"peak_pss_mb"`
	Clean     bool    `json:"clean"`
	// Runs is how many runs a median step is taken over (0 for a measured step).
	Runs int `json:"runs,omitempty"`
}

// Ramp runs a SIPp scenario against a proxy at increasing rates, each for Duration, and stops
// after the first rate that is not clean (failures ≥ 0.1% or retransmissions ≥ 1% of calls, or
// less than 80% of the rate achieved).
type Ramp struct {
	Scenario string   // SIPp scenario file
	Extra    []string // extra sipp arguments (e.g. -inf users.csv)
	Target   string   // proxy host:port
	Rates    []int
	Duration time.Duration
	ProxyPID int    // measured through /proc, with its child processes (0: not measured)
	Dir      string // where each step's SIPp files go
	Log      func(format string, args ...any)
	// During, when set, runs beside each step (e.g. to take a CPU profile of the proxy for
	// that long); the step waits for it.
	During func(rate int, d time.Duration, dir string)
}

// Run runs the ramp.
func (r Ramp) Run(ctx context.Context) ([]Step, error) {
	var steps []Step
	for _, rate := range r.Rates {
		st, err := r.step(ctx, rate)
		if err != nil {
			return steps, err
		}
		steps = append(steps, st)
		if r.Log != nil {
			r.Log("rate %d/s: achieved %.0f/s, %d failed, %d retransmissions, p95 %.1f ms, %.0f CPU-ms per 1000",
				rate, st.Achieved, st.Failed, st.Retransmissions, st.P95ms, st.CPUms1000)
		}
		if !st.Clean {
			break
		}
	}
	return steps, nil
}

func (r Ramp) step(ctx context.Context, rate int) (Step, error) {
	dir := filepath.Join(r.Dir, fmt.Sprintf("rate-%d", rate))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Step{}, err
	}
	calls := int(float64(rate) * r.Duration.Seconds())
	port, err := sipp.FreePort()
	if err != nil {
		return Step{}, err
	}
	cpu0, err := r.proxyCPU()
	if err != nil {
		return Step{}, err
	}
	start := time.Now()
	var during sync.WaitGroup
	if r.During != nil {
		during.Go(func() { r.During(rate, r.Duration, dir) })
	}
	defer during.Wait()
	var peakPSS atomic.Int64
	stopPSS := make(chan struct{})
	var sampling sync.WaitGroup
	if r.ProxyPID != 0 {
		sampling.Go(func() {
			tick := time.NewTicker(200 * time.Millisecond)
			defer tick.Stop()
			for {
				if v, err := TreePSS(r.ProxyPID); err == nil && v > peakPSS.Load() {
					peakPSS.Store(v)
				}
				select {
				case <-stopPSS:
					return
				case <-tick.C:
				}
			}
		})
	}
	res, err := sipp.UAC{
		Dir: dir, Target: r.Target, Transport: "udp", Port: port, Calls: calls, Rate: rate,
		Scenario: r.Scenario, Extra: append([]string{"-trace_rtt", "-rtt_freq", "1000", "-buff_size", SocketBuffer}, r.Extra...),
		Timeout: r.Duration*4 + 30*time.Second,
	}.Run(ctx)
	close(stopPSS)
	sampling.Wait()
	if err != nil {
		return Step{}, err
	}
	wall := time.Since(start)
	cpu1, err := r.proxyCPU()
	if err != nil {
		return Step{}, err
	}
	var rss int64
	if r.ProxyPID != 0 {
		rss, _ = TreePeakRSS(r.ProxyPID)
	}
	st := Step{Rate: rate, Calls: calls, Successful: res.Successful, Failed: res.Failed,
		Retransmissions: res.Retransmissions, PeakRSSMB: float64(rss) / (1 << 20), PeakPSSMB: float64(peakPSS.Load()) / (1 << 20)}
	st.Achieved = float64(res.Successful) / wall.Seconds()
	if res.Successful > 0 {
		st.CPUms1000 = float64((cpu1 - cpu0).Milliseconds()) * 1000 / float64(res.Successful)
	}
	st.Reordered = reorderedAborts(filepath.Join(dir, "uac_errors.log"))
	rtts, _ := readRTT(dir)
	st.P50ms, st.P95ms, st.P99ms = percentile(rtts, 50), percentile(rtts, 95), percentile(rtts, 99)
	// Clean: no more than 0.1% failed, fewer than 1% retransmitted, every call ended, and the
	// rate held — a step whose calls took far longer than the step (a proxy that stalled, calls
	// that waited out timers) achieved under 80% of the rate asked.
	st.Clean = float64(res.Failed-st.Reordered) < 0.001*float64(calls) && float64(res.Retransmissions) < 0.01*float64(calls) &&
		res.Successful+res.Failed >= calls && st.Achieved >= 0.8*float64(rate)
	return st, nil
}

// SocketBuffer is the UDP socket buffer size (bytes) the harness gives SIPp and Kamailio: the
// size partysip's listeners ask for (4 MB), so that at 20,000 messages a second no side drops
// datagrams the others would have kept (SIPp's default is 64 KB, Kamailio's 256 KB).
const SocketBuffer = "4194304"

// proxyCPU is the proxy's CPU time so far (zero when its process is not known).
func (r Ramp) proxyCPU() (time.Duration, error) {
	if r.ProxyPID == 0 {
		return 0, nil
	}
	return TreeCPUTime(r.ProxyPID)
}

// readRTT reads every response time (ms) SIPp's -trace_rtt wrote in dir.
func readRTT(dir string) ([]float64, error) {
	files, _ := filepath.Glob(filepath.Join(dir, "*_rtt.csv"))
	var out []float64
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return nil, err
		}
		rd := csv.NewReader(fh)
		rd.Comma = ';'
		rd.FieldsPerRecord = -1
		rows, err := rd.ReadAll()
		fh.Close()
		if err != nil {
			return nil, err
		}
		for _, row := range rows {
			if len(row) < 2 {
				continue
			}
			if v, err := strconv.ParseFloat(row[1], 64); err == nil {
				out = append(out, v)
			}
		}
	}
	return out, nil
}

func percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	i := int(p / 100 * float64(len(s)-1))
	return s[i]
}

// reorderedAborts counts the calls a SIPp error log says were aborted for a provisional
// response received where the scenario no longer waits for one ("Aborting call on unexpected
// message ... received 'SIP/2.0 1xx").
func reorderedAborts(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n := 0
	for _, chunk := range strings.Split(string(b), "Aborting call on unexpected message")[1:] {
		if _, msg, ok := strings.Cut(chunk, "received '"); ok && strings.HasPrefix(msg, "SIP/2.0 1") {
			n++
		}
	}
	return n
}
