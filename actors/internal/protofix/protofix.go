// Package protofix works around defects of protoactor-go that partysip's actors would otherwise
// pay for, each with the reason it is needed and how to tell when it can go.
package protofix

import "github.com/asynkron/protoactor-go/actor"

// ReleaseChild must be called by a parent when it receives the Terminated of one of its
// children. protoactor-go's PIDSet.Remove (actor/pidset.go, since its PR #839, still so in
// v0.0.0-20240822202345) fills the removed child's slot with the last child and shortens the
// slice, without clearing the slot it vacates: the backing array keeps a pointer to a PID that
// is, or later becomes, a dead child's. A PID caches its process, and the process holds the whole
// actor (its mailbox, context, props and state). A shard that once held 30,000 transactions (a
// flood) kept as many dead ones reachable, ~120 MB, for as long as it lived. protoactor removes
// the child just before it delivers Terminated, so the slot vacated is the one just past the
// children's length; clearing it is within the slice's capacity, on the parent's own goroutine,
// and is overwritten by the next append anyway. It can go when PIDSet.Remove clears the slot.
func ReleaseChild(ctx actor.Context) {
	kids := ctx.Children()
	if n := len(kids); n < cap(kids) {
		kids[:n+1][n] = nil
	}
}
