package actors

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/partysip/partysip/sipcore/proxy"
)

// deadHops remembers next hops that did not answer at all or could not be reached (Kamailio's
// dst_blacklist), so that the next calls do not wait for them again: a branch about to use one
// while it has an alternative (another RFC 3263 hop, a later fork group) skips it at once.
type deadHops struct {
	m sync.Map // hop key → time.Time until which it counts as dead
	n atomic.Int64
	// marked counts hops marked dead; skipped counts branches that skipped one.
	marked, skipped atomic.Int64
}

func hopKey(h proxy.Hop) string {
	return strings.ToUpper(h.Transport) + ":" + h.Host + ":" + strconv.Itoa(h.Port)
}

// mark records h as dead until now+d (d ≤ 0: nothing).
func (dh *deadHops) mark(h proxy.Hop, now time.Time, d time.Duration) {
	if d <= 0 {
		return
	}
	if _, loaded := dh.m.Swap(hopKey(h), now.Add(d)); !loaded {
		dh.n.Add(1)
	}
	dh.marked.Add(1)
}

// dead reports whether h is marked dead at now; an expired mark is forgotten.
func (dh *deadHops) dead(h proxy.Hop, now time.Time) bool {
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

// alive clears h's mark: it answered.
func (dh *deadHops) alive(h proxy.Hop) {
	if _, ok := dh.m.LoadAndDelete(hopKey(h)); ok {
		dh.n.Add(-1)
	}
}
