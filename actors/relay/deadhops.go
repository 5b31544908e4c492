package relay

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/partysip/partysip/sipcore/proxy"
)

// DeadHops remembers next hops that did not answer at all or could not be reached (Kamailio's
// dst_blacklist), so that the next calls do not wait for them again: a branch about to use one
// while it has an alternative (another RFC 3263 hop, a later fork group) skips it at once.
type DeadHops struct {
	m sync.Map // hop key → time.Time until which it counts as dead
	n atomic.Int64
	// marked counts hops marked dead; skipped counts branches that skipped one.
	marked, skipped atomic.Int64
}

// Known is the number of hops remembered dead; Marked counts hops marked dead, Skipped the
// branches that skipped one (metrics).
func (dh *DeadHops) Known() int64   { return dh.n.Load() }
func (dh *DeadHops) Marked() int64  { return dh.marked.Load() }
func (dh *DeadHops) Skipped() int64 { return dh.skipped.Load() }

func hopKey(h proxy.Hop) string {
	return strings.ToUpper(h.Transport) + ":" + h.Host + ":" + strconv.Itoa(h.Port)
}

// Mark records h as dead until now+d (d ≤ 0: nothing).
func (dh *DeadHops) Mark(h proxy.Hop, now time.Time, d time.Duration) {
	if d <= 0 {
		return
	}
	if _, loaded := dh.m.Swap(hopKey(h), now.Add(d)); !loaded {
		dh.n.Add(1)
	}
	dh.marked.Add(1)
}

// Dead reports whether h is marked dead at now; an expired mark is forgotten.
func (dh *DeadHops) Dead(h proxy.Hop, now time.Time) bool {
	k := hopKey(h)
	v, ok := dh.m.Load(k)
	if !ok {
		return false
	}
	if now.Before(v.(time.Time)) {
		return true
	}
	if dh.m.CompareAndDelete(k, v) {
		dh.n.Add(-1)
	}
	return false
}

// Alive clears h's mark: it answered.
func (dh *DeadHops) Alive(h proxy.Hop) {
	if _, ok := dh.m.LoadAndDelete(hopKey(h)); ok {
		dh.n.Add(-1)
	}
}
