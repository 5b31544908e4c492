package harness

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Result is one proxy's ramps of one workload, one per run, and their medians.
type Result struct {
	Runs [][]Step `json:"runs"`
	// Median is, for each rate asked, the median of every field over the runs that reached
	// that rate; clean when most of those runs were.
	Median []Step `json:"median"`
	// Best is the highest clean achieved rate of each run, BestMedian their median.
	Best       []float64 `json:"best_clean_rate_per_run"`
	BestMedian float64   `json:"best_clean_rate"`
}

// Report is a workload measured on one or more proxies, in runs that alternate between them.
type Report struct {
	Workload string             `json:"workload"`
	Unit     string             `json:"unit"` // what one SIPp "call" of the scenario is (call, REGISTER, OPTIONS)
	Note     string             `json:"note,omitempty"`
	Step     string             `json:"step"`
	Started  time.Time          `json:"started"`
	CPUs     int                `json:"cpus"`
	Order    []string           `json:"proxies"`
	Results  map[string]*Result `json:"results"`
	// Against Kamailio, run by run: the highest rate both ran clean in that run, and at that
	// rate partysip's CPU per operation over Kamailio's; the best clean rate ratio. Medians.
	CommonRate []int     `json:"common_rate_per_run,omitempty"`
	CPURatios  []float64 `json:"cpu_ratio_per_run,omitempty"`
	BestRatios []float64 `json:"best_rate_ratio_per_run,omitempty"`
	CPURatio   float64   `json:"cpu_ratio,omitempty"`
	BestRatio  float64   `json:"best_rate_ratio,omitempty"`
}

// Add records one run's ramp for a proxy.
func (r *Report) Add(proxy string, steps []Step) {
	if r.Results == nil {
		r.Results = map[string]*Result{}
	}
	res := r.Results[proxy]
	if res == nil {
		res = &Result{}
		r.Results[proxy] = res
		r.Order = append(r.Order, proxy)
	}
	res.Runs = append(res.Runs, steps)
}

// Finish computes the medians and, when both ran, the ratios of partysip to Kamailio.
func (r *Report) Finish() {
	for _, res := range r.Results {
		res.Median, res.Best = medianSteps(res.Runs), nil
		for _, run := range res.Runs {
			res.Best = append(res.Best, bestClean(run))
		}
		res.BestMedian = median(res.Best)
	}
	p, k := r.Results["partysip"], r.Results["kamailio"]
	if p == nil || k == nil {
		return
	}
	r.CommonRate, r.CPURatios, r.BestRatios = nil, nil, nil
	for i := 0; i < len(p.Runs) && i < len(k.Runs); i++ {
		common := 0
		for _, s := range p.Runs[i] {
			if t, ok := stepAt(k.Runs[i], s.Rate); ok && s.Clean && t.Clean {
				common = s.Rate
			}
		}
		r.CommonRate = append(r.CommonRate, common)
		ps, _ := stepAt(p.Runs[i], common)
		ks, _ := stepAt(k.Runs[i], common)
		if common > 0 && ks.CPUms1000 > 0 {
			r.CPURatios = append(r.CPURatios, ps.CPUms1000/ks.CPUms1000)
		}
		if kb := bestClean(k.Runs[i]); kb > 0 {
			r.BestRatios = append(r.BestRatios, bestClean(p.Runs[i])/kb)
		}
	}
	r.CPURatio, r.BestRatio = median(r.CPURatios), median(r.BestRatios)
}

func bestClean(steps []Step) float64 {
	best := 0.0
	for _, s := range steps {
		if s.Clean && s.Achieved > best {
			best = s.Achieved
		}
	}
	return best
}

func stepAt(steps []Step, rate int) (Step, bool) {
	for _, s := range steps {
		if s.Rate == rate {
			return s, true
		}
	}
	return Step{}, false
}

// medianSteps takes, rate by rate, the median of each field over the runs that reached it.
func medianSteps(runs [][]Step) []Step {
	var rates []int
	for _, run := range runs {
		for _, s := range run {
			if !slices.Contains(rates, s.Rate) {
				rates = append(rates, s.Rate)
			}
		}
	}
	slices.Sort(rates)
	var out []Step
	for _, rate := range rates {
		var at []Step
		for _, run := range runs {
			if s, ok := stepAt(run, rate); ok {
				at = append(at, s)
			}
		}
		f := func(get func(Step) float64) float64 {
			v := make([]float64, len(at))
			for i, s := range at {
				v[i] = get(s)
			}
			return median(v)
		}
		clean := 0
		for _, s := range at {
			if s.Clean {
				clean++
			}
		}
		out = append(out, Step{
			Rate:            rate,
			Achieved:        f(func(s Step) float64 { return s.Achieved }),
			Calls:           int(f(func(s Step) float64 { return float64(s.Calls) })),
			Successful:      int(f(func(s Step) float64 { return float64(s.Successful) })),
			Failed:          int(f(func(s Step) float64 { return float64(s.Failed) })),
			Reordered:       int(f(func(s Step) float64 { return float64(s.Reordered) })),
			Retransmissions: int(f(func(s Step) float64 { return float64(s.Retransmissions) })),
			P50ms:           f(func(s Step) float64 { return s.P50ms }),
			P95ms:           f(func(s Step) float64 { return s.P95ms }),
			P99ms:           f(func(s Step) float64 { return s.P99ms }),
			CPUms1000:       f(func(s Step) float64 { return s.CPUms1000 }),
			PeakRSSMB:       f(func(s Step) float64 { return s.PeakRSSMB }),
			PeakPSSMB:       f(func(s Step) float64 { return s.PeakPSSMB }),
			Clean:           2*clean > len(at),
			Runs:            len(at),
		})
	}
	return out
}

// median of v (the mean of the middle two for an even count); 0 for none.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

// Markdown is the report as a summary: each proxy's median ramp, then the comparison.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "## %s (%d run(s) per proxy, %s per step, %d CPUs, SIPp on the same box)\n\n",
		r.Workload, r.runs(), r.Step, r.CPUs)
	if r.Note != "" {
		b.WriteString(r.Note + "\n\n")
	}
	for _, name := range r.Order {
		res := r.Results[name]
		fmt.Fprintf(&b, "### %s (medians over the runs)\n\n", name)
		fmt.Fprintf(&b, "| rate asked | achieved/s | failed (of them 1xx after final) | retrans | p50 ms | p95 ms | p99 ms | CPU ms / %s | peak PSS MB | peak RSS MB (summed) | clean | runs |\n", r.Unit)
		b.WriteString("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | :---: | ---: |\n")
		for _, s := range res.Median {
			fmt.Fprintf(&b, "| %d | %.0f | %d (%d) | %d | %.1f | %.1f | %.1f | %.3f | %.0f | %.0f | %v | %d |\n",
				s.Rate, s.Achieved, s.Failed, s.Reordered, s.Retransmissions, s.P50ms, s.P95ms, s.P99ms, s.CPUms1000/1000, s.PeakPSSMB, s.PeakRSSMB, s.Clean, s.Runs)
		}
		fmt.Fprintf(&b, "\nHighest clean rate: median %.0f %s/s (runs: %s)\n\n", res.BestMedian, r.Unit, floats(res.Best, "%.0f"))
	}
	if len(r.CPURatios) > 0 || len(r.BestRatios) > 0 {
		fmt.Fprintf(&b, "**partysip / Kamailio**, run by run: CPU per %s at the highest rate both ran clean (%v/s): %s → median **%.2f**; "+
			"highest clean rate: %s → median **%.2f**.\n", r.Unit, r.CommonRate, floats(r.CPURatios, "%.2f"), r.CPURatio,
			floats(r.BestRatios, "%.2f"), r.BestRatio)
	}
	return b.String()
}

func (r *Report) runs() int {
	n := 0
	for _, res := range r.Results {
		n = max(n, len(res.Runs))
	}
	return n
}

func floats(v []float64, format string) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprintf(format, x)
	}
	return strings.Join(s, ", ")
}

// Chart draws the median ramps of every proxy: achieved rate against p95 response time, and
// against CPU per operation, side by side, as a PNG.
func (r *Report) Chart(path string) error {
	lat, cpu := plot.New(), plot.New()
	lat.Title.Text = r.Workload + ": p95 response time"
	// Against the rate asked (the offered load), not the rate achieved: a proxy that collapses
	// at a step achieves less than at the one before, and its line would turn back on itself.
	x := "rate asked, " + r.Unit + "/s"
	lat.X.Label.Text, lat.Y.Label.Text = x, "p95 ms (SIPp -trace_rtt)"
	cpu.Title.Text = r.Workload + ": proxy CPU per " + r.Unit
	cpu.X.Label.Text, cpu.Y.Label.Text = x, "CPU ms per "+r.Unit
	for i, name := range r.Order {
		var l, c plotter.XYs
		for _, s := range r.Results[name].Median {
			l = append(l, plotter.XY{X: float64(s.Rate), Y: s.P95ms})
			c = append(c, plotter.XY{X: float64(s.Rate), Y: s.CPUms1000 / 1000})
		}
		for _, pc := range []struct {
			p   *plot.Plot
			xys plotter.XYs
		}{{lat, l}, {cpu, c}} {
			line, points, err := plotter.NewLinePoints(pc.xys)
			if err != nil {
				return err
			}
			line.Color, points.Color = plotutil.Color(i), plotutil.Color(i)
			points.Shape = plotutil.Shape(i)
			pc.p.Add(line, points)
			pc.p.Legend.Add(name, line, points)
		}
	}
	for _, p := range []*plot.Plot{lat, cpu} {
		p.Add(plotter.NewGrid())
		p.Legend.Top, p.Legend.Left = true, true
		p.X.Min, p.Y.Min = 0, 0
	}
	lat.Y.Max = max(lat.Y.Max, 1) // SIPp counts whole milliseconds: a fast proxy shows 0
	img := vgimg.New(vg.Points(1100), vg.Points(420))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Points(24), PadTop: vg.Points(8), PadBottom: vg.Points(8), PadLeft: vg.Points(8), PadRight: vg.Points(8)}
	canvases := plot.Align([][]*plot.Plot{{lat, cpu}}, tiles, dc)
	lat.Draw(canvases[0][0])
	cpu.Draw(canvases[0][1])
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
