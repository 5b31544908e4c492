package proxy

import (
	"slices"

	"github.com/emiago/sipgo/sip"
)

// ForkMode says how a target set is tried (RFC 3261 §16.6, q-values of §16.6/§20.10).
type ForkMode int

const (
	// Parallel starts a branch to every target at once.
	Parallel ForkMode = iota
	// Sequential tries the targets by q-value: every target of the highest q at once, the next
	// q group only when each branch of the current one ended without a 2xx or 6xx.
	Sequential
)

func (m ForkMode) String() string { return [...]string{"parallel", "sequential"}[m] }

// ParseForkMode reads "parallel" or "sequential".
func ParseForkMode(s string) (ForkMode, bool) {
	switch s {
	case "parallel":
		return Parallel, true
	case "sequential":
		return Sequential, true
	}
	return Parallel, false
}

// ForkPlan splits targets into the groups they are tried in, as indices into targets, in
// order. Parallel: one group. Sequential: one group per q value, highest first; targets without
// q count as q=1.0 (the order among equals is the given one).
func ForkPlan(targets []Target, mode ForkMode) [][]int {
	if len(targets) == 0 {
		return nil
	}
	idx := make([]int, len(targets))
	for i := range idx {
		idx[i] = i
	}
	if mode == Parallel {
		return [][]int{idx}
	}
	q := func(i int) int {
		if targets[i].Q <= 0 {
			return 1000
		}
		return targets[i].Q
	}
	slices.SortStableFunc(idx, func(a, b int) int { return q(b) - q(a) })
	var groups [][]int
	for _, i := range idx {
		if n := len(groups); n > 0 && q(groups[n-1][0]) == q(i) {
			groups[n-1] = append(groups[n-1], i)
			continue
		}
		groups = append(groups, []int{i})
	}
	return groups
}

// MergeChallenges returns the response to send upstream when the best response is a 401 or 407
// (§16.7 step 7): best with the WWW-Authenticate and Proxy-Authenticate values of every other
// 401/407 response added, so the caller can answer every challenge at once. best is not
// modified.
func MergeChallenges(best *sip.Response, all []*sip.Response) *sip.Response {
	if best.StatusCode != 401 && best.StatusCode != 407 {
		return best
	}
	out := best.Clone()
	for _, r := range all {
		if r == nil || r == best || (r.StatusCode != 401 && r.StatusCode != 407) {
			continue
		}
		for _, name := range []string{"WWW-Authenticate", "Proxy-Authenticate"} {
			for _, h := range r.GetHeaders(name) {
				out.AppendHeader(sip.NewHeader(name, h.Value()))
			}
		}
	}
	return out
}
