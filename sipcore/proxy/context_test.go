package proxy

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// ctxDriver runs a Context on a fake clock: it keeps the timers the context arms and fires
// them when time is advanced past them, and records every action.
type ctxDriver struct {
	t      *testing.T
	c      *Context
	now    time.Time
	timers map[TimerID]time.Time
	log    []Action
}

const t1 = 500 * time.Millisecond

func newDriver(t *testing.T, cfg ContextConfig) *ctxDriver {
	if cfg.T1 == 0 {
		cfg.T1 = t1
	}
	return &ctxDriver{t: t, c: NewContext(cfg), now: time.Unix(1_000_000, 0), timers: map[TimerID]time.Time{}}
}

func invite() ContextConfig {
	return ContextConfig{Invite: true, CreatesDialog: true, TimerC: 180 * time.Second}
}

// step feeds ev and returns the actions, keeping the timers.
func (d *ctxDriver) step(ev Event) []Action {
	acts := slices.Clone(d.c.Step(d.now, ev))
	for _, a := range acts {
		if a.Kind == ArmTimer {
			if a.At != d.now.Add(a.After) {
				d.t.Fatalf("ArmTimer At %v, want now+%v", a.At, a.After)
			}
			d.timers[a.Timer] = a.At
		}
	}
	d.log = append(d.log, acts...)
	return acts
}

// advance moves the clock by dt, firing the timers due on the way in order.
func (d *ctxDriver) advance(dt time.Duration) []Action {
	until := d.now.Add(dt)
	var out []Action
	for {
		var next TimerID
		for id, at := range d.timers {
			if !at.After(until) && (next == 0 || at.Before(d.timers[next]) || (at.Equal(d.timers[next]) && id < next)) {
				next = id
			}
		}
		if next == 0 {
			break
		}
		d.now = d.timers[next]
		delete(d.timers, next)
		out = append(out, d.step(Event{Kind: TimerFired, Timer: next})...)
	}
	d.now = until
	return out
}

func hop(n int) Hop { return Hop{Host: fmt.Sprintf("127.0.0.%d", n), Port: 5060, Transport: "UDP"} }

// fork starts a context on n targets, each with one direct hop (127.0.0.10+i).
func (d *ctxDriver) fork(n int, mode ForkMode, qs ...int) []Action {
	targets := make([]Target, n)
	hops := make([][]Hop, n)
	for i := range targets {
		if i < len(qs) {
			targets[i].Q = qs[i]
		}
		hops[i] = []Hop{hop(10 + i)}
	}
	return d.step(Event{Kind: Fork, Targets: targets, Mode: mode, Hops: hops})
}

func res(code int, tag string) *sip.Response {
	r := sip.NewResponse(code, "x")
	to := &sip.ToHeader{Address: sip.Uri{User: "bob", Host: "example.com"}, Params: sip.NewParams()}
	if tag != "" {
		to.Params.Add("tag", tag)
	}
	r.AppendHeader(to)
	return r
}

func (d *ctxDriver) respond(i, code int) []Action {
	return d.step(Event{Kind: BranchResponded, Branch: i, Res: res(code, fmt.Sprintf("b%d", i))})
}

// kinds lists the action kinds of acts, with their branch, as "Kind/branch" (Respond with its
// code, timers left out).
func kinds(acts []Action) string {
	var s []string
	for _, a := range acts {
		switch a.Kind {
		case ArmTimer:
		case Respond:
			s = append(s, fmt.Sprintf("Respond %d", a.Code))
		case Relay:
			s = append(s, fmt.Sprintf("Relay/%d %d", a.Branch, a.Res.StatusCode))
		case Done:
			s = append(s, "Done")
		case RaceSeen:
			s = append(s, "race "+a.Race.String())
		default:
			s = append(s, fmt.Sprintf("%s/%d", a.Kind, a.Branch))
		}
	}
	return strings.Join(s, " ")
}

func want(t *testing.T, what string, acts []Action, w string) {
	t.Helper()
	if got := kinds(acts); got != w {
		t.Fatalf("%s: got %q, want %q", what, got, w)
	}
}

// finalAt reports when the final response went upstream, from the driver's log.
func (d *ctxDriver) finals() []Action {
	var out []Action
	for _, a := range d.log {
		if (a.Kind == Respond || a.Kind == Relay) && a.Final {
			out = append(out, a)
		}
	}
	return out
}

// RFC 3261 §9.1: a callee that answers the CANCEL but never the INVITE: the branch is given up
// 64·T1 after the CANCEL, and the caller has its final response then (not Timer C later).
func TestContextGivesUpCancelledBranchAfter64T1(t *testing.T) {
	d := newDriver(t, invite())
	want(t, "fork", d.fork(1, Parallel), "StartBranch/0")
	want(t, "180", d.respond(0, 180), "Relay/0 180")
	d.advance(2 * time.Second)
	cancelAt := d.now
	want(t, "CANCEL", d.step(Event{Kind: CancelArrived}), "CancelBranch/0")
	want(t, "31.9 s later", d.advance(64*t1-100*time.Millisecond), "")
	want(t, "32 s later", d.advance(100*time.Millisecond), "StopBranch/0 Respond 487 Done")
	if f := d.finals(); len(f) != 1 || d.now.Sub(cancelAt) > 64*t1 {
		t.Fatalf("final responses %v, %v after the CANCEL", kinds(f), d.now.Sub(cancelAt))
	}
	// A late 487 from the callee changes nothing.
	want(t, "late 487", d.respond(0, 487), "")
}

// The same for a branch that lost to a 2xx: it is CANCELled (Reason: completed elsewhere), and
// the context is Done within 64·T1 although that branch never answers the CANCEL.
func TestContextLosingBranchNeverOutlivesContext(t *testing.T) {
	d := newDriver(t, invite())
	want(t, "fork", d.fork(3, Parallel), "StartBranch/0 StartBranch/1 StartBranch/2")
	d.respond(0, 180)
	d.respond(1, 183)
	// Branch 2 has sent nothing: §9.1, no CANCEL before a provisional response.
	acts := d.respond(0, 200)
	want(t, "200", acts, "Relay/0 200 DialogCreated/0 CancelBranch/1 race cancel_before_provisional")
	if acts[2].Reason != ReasonCompletedElsewhere {
		t.Fatalf("CANCEL Reason %q", acts[2].Reason)
	}
	want(t, "100 on branch 2", d.respond(2, 100), "CancelBranch/2")
	want(t, "487 on branch 2", d.respond(2, 487), "race failure_after_2xx")
	if d.c.Done() {
		t.Fatal("done with branch 1 running")
	}
	want(t, "64·T1", d.advance(64*t1), "StopBranch/1 Done")
	for i := range d.c.Branches() {
		if st, _, _ := d.c.Branch(i); st != BranchEnded {
			t.Fatalf("branch %d %v after Done", i, st)
		}
	}
	if f := d.finals(); len(f) != 1 || f[0].Res.StatusCode != 200 {
		t.Fatalf("finals %s", kinds(f))
	}
}

// A branch that never sends even a provisional response cannot be CANCELled (§9.1); it ends by
// its own Timer B (BranchFailed 408), and the caller's CANCEL still gets its 487 upstream.
func TestContextCancelWaitsForProvisional(t *testing.T) {
	d := newDriver(t, invite())
	d.fork(1, Parallel)
	want(t, "CANCEL", d.step(Event{Kind: CancelArrived}), "race cancel_before_provisional")
	want(t, "Timer B", d.step(Event{Kind: BranchFailed, Branch: 0, Code: 408}), "Respond 408 Done")
}

// §16.8: a provisional response resets Timer C; when it fires the branch is CANCELled, and
// given up as a 408 64·T1 later if the CANCEL brings nothing.
func TestContextTimerC(t *testing.T) {
	d := newDriver(t, invite())
	d.fork(1, Parallel)
	d.advance(100 * time.Second)
	d.respond(0, 180)
	want(t, "179 s after the 180", d.advance(179*time.Second), "")
	want(t, "Timer C", d.advance(time.Second), "CancelBranch/0")
	want(t, "another 180 after CANCEL", d.respond(0, 180), "Relay/0 180")
	want(t, "give up", d.advance(64*t1), "StopBranch/0 Respond 408 Done")
}

// §16.8: Timer C firing on a branch with no provisional response is a 408, without CANCEL.
func TestContextTimerCWithoutProvisional(t *testing.T) {
	cfg := invite()
	cfg.TimerC = 10 * time.Second
	d := newDriver(t, cfg)
	d.fork(1, Parallel)
	want(t, "Timer C", d.advance(10*time.Second), "StopBranch/0 Respond 408 Done")
}

// RFC 3263 §4.3: a transport error, a timeout or an answered 503 moves a branch to its next hop;
// an answered 503 is not forwarded while another hop remains, and becomes a 500 upstream.
func TestContextFailover(t *testing.T) {
	d := newDriver(t, ContextConfig{NoResponse: 2 * time.Second})
	acts := d.step(Event{Kind: Fork, Targets: []Target{{}}, Hops: [][]Hop{{hop(1), hop(2), hop(3)}}})
	want(t, "fork", acts, "StartBranch/0")
	if !acts[0].Alternative || acts[0].NoResponse != 2*time.Second || acts[0].LastUse || acts[0].Hop != hop(1) {
		t.Fatalf("first hop %+v", acts[0])
	}
	acts = d.step(Event{Kind: BranchFailed, Branch: 0, Code: 408})
	want(t, "timeout", acts, "StartBranch/0")
	if acts[0].Hop != hop(2) || !acts[0].Alternative {
		t.Fatalf("second hop %+v", acts[0])
	}
	acts = d.respond(0, 503)
	want(t, "503", acts, "StartBranch/0")
	if acts[0].Hop != hop(3) || acts[0].Alternative || acts[0].NoResponse != 0 {
		t.Fatalf("last hop %+v", acts[0])
	}
	acts = d.respond(0, 503)
	want(t, "503 on the last hop", acts, "Relay/0 500 Done")
	if acts[0].Res.Reason != "Server Internal Error" {
		t.Fatalf("reason %q", acts[0].Res.Reason)
	}
	if _, h, _ := d.c.Branch(0); h != hop(3) || d.c.AnsweredBy() != 0 {
		t.Fatalf("answered by branch %d at %v", d.c.AnsweredBy(), h)
	}
}

// A failed hop after a CANCEL does not start another transaction.
func TestContextNoFailoverOnceCancelled(t *testing.T) {
	d := newDriver(t, invite())
	d.step(Event{Kind: Fork, Targets: []Target{{}}, Hops: [][]Hop{{hop(1), hop(2)}}})
	d.respond(0, 100)
	d.step(Event{Kind: CancelArrived})
	want(t, "503 after CANCEL", d.respond(0, 503), "Relay/0 500 Done")
}

// §16.7 step 6–7: the best response of all branches, challenges merged; a 6xx CANCELs the others.
func TestContextBestResponse(t *testing.T) {
	d := newDriver(t, ContextConfig{})
	d.fork(3, Parallel)
	d.respond(0, 486)
	ch := res(401, "b1")
	ch.AppendHeader(sip.NewHeader("WWW-Authenticate", `Digest realm="a"`))
	d.step(Event{Kind: BranchResponded, Branch: 1, Res: ch})
	ch2 := res(407, "b2")
	ch2.AppendHeader(sip.NewHeader("Proxy-Authenticate", `Digest realm="b"`))
	acts := d.step(Event{Kind: BranchResponded, Branch: 2, Res: ch2})
	want(t, "last", acts, "Relay/1 401 Done")
	if got := acts[0].Res.GetHeaders("Proxy-Authenticate"); len(got) != 1 {
		t.Fatalf("challenges not merged: %v", acts[0].Res)
	}

	d = newDriver(t, invite())
	d.fork(2, Parallel)
	d.respond(1, 180)
	want(t, "603", d.respond(0, 603), "CancelBranch/1")
	want(t, "487", d.respond(1, 487), "Relay/0 603 Done")
}

// Sequential forking: the next q group only when the running one failed; its timer moves it on
// by CANCEL; a 6xx or a CANCEL from upstream starts no further group.
func TestContextSequential(t *testing.T) {
	cfg := invite()
	cfg.GroupTimeout = 5 * time.Second
	d := newDriver(t, cfg)
	want(t, "fork", d.fork(3, Sequential, 1000, 500, 100), "StartBranch/0")
	want(t, "486", d.respond(0, 486), "StartBranch/1")
	d.respond(1, 180)
	want(t, "group timer", d.advance(5*time.Second), "CancelBranch/1")
	acts := d.respond(1, 487)
	want(t, "487", acts, "StartBranch/2")
	if !acts[0].LastUse {
		t.Fatal("the last group's only branch may take the request")
	}
	want(t, "no timer for the last group", d.advance(time.Minute), "")
	want(t, "200", d.respond(2, 200), "Relay/2 200 DialogCreated/2 Done")

	d = newDriver(t, cfg)
	d.fork(2, Sequential, 1000, 500)
	d.respond(0, 180)
	want(t, "CANCEL", d.step(Event{Kind: CancelArrived}), "CancelBranch/0")
	want(t, "487", d.respond(0, 487), "Relay/0 487 Done")
}

// RFC 3263 lookups: no answer is a 503; an answer after a CANCEL ends the branch as a 487.
func TestContextLocate(t *testing.T) {
	d := newDriver(t, invite())
	acts := d.step(Event{Kind: Fork, Targets: []Target{{}, {}}, Hops: [][]Hop{nil, {hop(2)}}})
	want(t, "fork", acts, "Locate/0 StartBranch/1")
	if acts[1].LastUse {
		t.Fatal("a branch sent later still needs the request")
	}
	d.respond(1, 180)
	want(t, "CANCEL", d.step(Event{Kind: CancelArrived}), "CancelBranch/1")
	want(t, "located", d.step(Event{Kind: HopsLocated, Branch: 0, Hops: [][]Hop{{hop(1)}}}), "")
	want(t, "487", d.respond(1, 487), "Respond 487 Done")

	d = newDriver(t, ContextConfig{})
	d.step(Event{Kind: Fork, Targets: []Target{{}}})
	want(t, "not found (a 503 goes up as 500, §16.7 step 6)", d.step(Event{Kind: HopsLocated, Branch: 0}), "Respond 500 Done")
}

// Every 2xx goes upstream (forked answers, retransmissions); each dialog is created once.
func TestContextEvery2xxRelayed(t *testing.T) {
	d := newDriver(t, invite())
	d.fork(2, Parallel)
	want(t, "first 200", d.respond(0, 200), "Relay/0 200 DialogCreated/0 race cancel_before_provisional")
	want(t, "second branch 200", d.respond(1, 200), "Relay/1 200 race second_2xx DialogCreated/1 Done")
	want(t, "retransmission", d.respond(0, 200), "Relay/0 200")
	if n := len(d.finals()); n != 1 {
		t.Fatalf("%d final responses marked", n)
	}
}

// The owner going away stops every running branch.
func TestContextAbandon(t *testing.T) {
	d := newDriver(t, invite())
	d.step(Event{Kind: Fork, Targets: []Target{{}, {}, {}}, Hops: [][]Hop{{hop(1)}, {hop(2)}, nil}})
	d.respond(0, 486)
	want(t, "abandon", d.step(Event{Kind: Abandon}), "StopBranch/1 Done")
	want(t, "after", d.respond(1, 180), "")
}

// Random orders of events on forks of 1–3 branches: whatever happens, at most one final
// response goes upstream and never a non-2xx after a 2xx; every CANCELled branch ends within
// 64·T1 of its CANCEL; and once time has run out every branch has ended and the context is Done.
func TestContextInvariantsUnderRandomEvents(t *testing.T) {
	for seed := range uint64(3000) {
		rng := rand.New(rand.NewPCG(seed, 7))
		cfg := invite()
		cfg.TimerC = time.Duration(1+rng.IntN(200)) * time.Second
		if rng.IntN(2) == 0 {
			cfg.GroupTimeout = time.Duration(1+rng.IntN(10)) * time.Second
		}
		d := newDriver(t, cfg)
		n := 1 + rng.IntN(3)
		targets := make([]Target, n)
		hops := make([][]Hop, n)
		for i := range targets {
			targets[i].Q = 100 * (1 + rng.IntN(3))
			if rng.IntN(4) > 0 {
				hops[i] = []Hop{hop(10 + i), hop(20 + i)}[:1+rng.IntN(2)]
			}
		}
		mode := ForkMode(rng.IntN(2))
		d.step(Event{Kind: Fork, Targets: targets, Mode: mode, Hops: hops})
		cancelled := map[int]time.Time{}
		codes := []int{100, 180, 183, 200, 404, 486, 487, 503, 603}
		for range 1 + rng.IntN(12) {
			var acts []Action
			switch k := rng.IntN(10); {
			case k < 5:
				acts = d.respond(rng.IntN(n), codes[rng.IntN(len(codes))])
			case k < 6:
				acts = d.step(Event{Kind: BranchFailed, Branch: rng.IntN(n), Code: []int{408, 503}[rng.IntN(2)]})
			case k < 7:
				acts = d.step(Event{Kind: CancelArrived})
			case k < 8:
				acts = d.step(Event{Kind: HopsLocated, Branch: rng.IntN(n), Hops: [][]Hop{{hop(30)}}[:rng.IntN(2)]})
			default:
				acts = d.advance(time.Duration(rng.IntN(40)) * time.Second)
			}
			for _, a := range acts {
				if a.Kind == CancelBranch {
					cancelled[a.Branch] = d.now
				}
			}
			for i, at := range cancelled {
				if st, _, _ := d.c.Branch(i); st != BranchEnded && d.now.Sub(at) > 64*t1 {
					t.Fatalf("seed %d: branch %d still %v %v after its CANCEL", seed, i, st, d.now.Sub(at))
				}
			}
		}
		// Downstream goes quiet: only timers and the transactions' own Timer B/F remain.
		for i := range n {
			if st, _, _ := d.c.Branch(i); st == BranchTrying {
				d.step(Event{Kind: BranchFailed, Branch: i, Code: 408})
			}
			if st, _, _ := d.c.Branch(i); st == BranchLocating {
				d.step(Event{Kind: HopsLocated, Branch: i})
			}
		}
		d.advance(time.Hour)
		// Later groups of a sequential fork may have started meanwhile; quiet them too.
		for range 3 {
			for i := range n {
				if st, _, _ := d.c.Branch(i); st == BranchTrying {
					d.step(Event{Kind: BranchFailed, Branch: i, Code: 408})
				} else if st == BranchLocating {
					d.step(Event{Kind: HopsLocated, Branch: i})
				}
			}
			d.advance(time.Hour)
		}
		if !d.c.Done() {
			t.Fatalf("seed %d: not done: %s", seed, kinds(d.log))
		}
		for i := range n {
			if st, _, _ := d.c.Branch(i); st != BranchEnded && st != BranchIdle {
				t.Fatalf("seed %d: branch %d %v after Done", seed, i, st)
			}
		}
		finals, dones, saw2xx := 0, 0, false
		for _, a := range d.log {
			if a.Kind == Done {
				dones++
			}
			if a.Kind == Relay && a.Res.StatusCode >= 200 && a.Res.StatusCode < 300 {
				saw2xx = true
			}
			if (a.Kind == Respond || a.Kind == Relay) && a.Final {
				finals++
			}
			isNon2xxFinal := (a.Kind == Respond) || (a.Kind == Relay && a.Res.StatusCode >= 300)
			if isNon2xxFinal && saw2xx {
				t.Fatalf("seed %d: non-2xx final after a 2xx: %s", seed, kinds(d.log))
			}
		}
		if finals != 1 || dones != 1 {
			t.Fatalf("seed %d: %d finals, %d Done: %s", seed, finals, dones, kinds(d.log))
		}
	}
}

// §16.10, §17.2.3: what becomes of a request no server transaction matched.
func TestDispatchUnmatched(t *testing.T) {
	for _, c := range []struct {
		method sip.RequestMethod
		inv    InviteTx
		want   Dispatch
	}{
		{sip.INVITE, NoInvite, NewTransaction},
		{sip.BYE, NoInvite, NewTransaction},
		{sip.ACK, NoInvite, ForwardStateless},   // an ACK for a 2xx
		{sip.ACK, InviteLive, ForwardStateless}, // (a non-2xx's ACK matches the INVITE's own transaction)
		{sip.CANCEL, InviteLive, CancelContext},
		{sip.CANCEL, InviteAnswered, Answer200},
		{sip.CANCEL, NoInvite, ForwardStateless},
	} {
		if got := DispatchUnmatched(c.method, c.inv); got != c.want {
			t.Errorf("%s with INVITE %d: %d, want %d", c.method, c.inv, got, c.want)
		}
	}
}

// Each race the context resolves is reported once, where it is resolved.
func TestContextReportsRaces(t *testing.T) {
	d := newDriver(t, invite())
	d.fork(1, Parallel)
	d.respond(0, 180)
	want(t, "CANCEL", d.step(Event{Kind: CancelArrived}), "CancelBranch/0")
	want(t, "200 after our CANCEL", d.respond(0, 200), "race 2xx_after_cancel Relay/0 200 DialogCreated/0 Done")
	want(t, "CANCEL again, after the final", d.step(Event{Kind: CancelArrived}), "race cancel_after_final")

	d = newDriver(t, invite())
	d.fork(2, Parallel)
	d.respond(1, 180)
	want(t, "200", d.respond(0, 200), "Relay/0 200 DialogCreated/0 CancelBranch/1")
	want(t, "the other branch's 487", d.respond(1, 487), "race failure_after_2xx Done")
	if got := len(Races()); got != 5 || Races()[0].String() != "cancel_after_final" {
		t.Fatalf("races %v", Races())
	}
}
