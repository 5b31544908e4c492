// Package harness runs load against a proxy process with SIPp and measures it: achieved rate,
// failures, retransmissions, response-time percentiles, the proxy's CPU time and peak memory.
package harness

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is the kernel's USER_HZ, the unit of utime/stime in /proc/PID/stat (100 on Linux).
const clockTick = 100

// CPUTime returns the user+system CPU time the process pid has used.
func CPUTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; fields after its closing ')' are fixed.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad utime/stime", pid)
	}
	return time.Duration(utime+stime) * time.Second / clockTick, nil
}

// PeakRSS returns the process's peak resident set size in bytes (VmHWM).
func PeakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmHWM", pid)
}

// Tree returns pid and all its descendants (a forking server such as Kamailio).
func Tree(pid int) []int {
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		children[ppid] = append(children[ppid], p)
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// TreeCPUTime sums CPUTime over pid and its descendants.
func TreeCPUTime(pid int) (time.Duration, error) {
	var total time.Duration
	for i, p := range Tree(pid) {
		d, err := CPUTime(p)
		if err != nil && i == 0 {
			return 0, err
		}
		total += d
	}
	return total, nil
}

// PSS is a process's proportional set size: its private pages plus its share of the pages it
// shares (/proc/PID/smaps_rollup). Summed over a process tree it counts shared memory once,
// where RSS counts it once per process (Kamailio's shared memory, in every worker).
func PSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Pss:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("/proc/%d/smaps_rollup: no Pss", pid)
}

// TreePSS sums PSS over pid and its descendants: the memory a process tree holds, shared pages
// counted once.
func TreePSS(pid int) (int64, error) {
	var total int64
	for i, p := range Tree(pid) {
		v, err := PSS(p)
		if err != nil && i == 0 {
			return 0, err
		}
		total += v
	}
	return total, nil
}

// TreePeakRSS sums PeakRSS over pid and its descendants (shared pages counted once per
// process: an upper bound for forking servers).
func TreePeakRSS(pid int) (int64, error) {
	var total int64
	for i, p := range Tree(pid) {
		r, err := PeakRSS(p)
		if err != nil && i == 0 {
			return 0, err
		}
		total += r
	}
	return total, nil
}
