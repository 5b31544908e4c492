package proxy

import (
	"slices"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/partysip/partysip/sipcore/base"
)

// Context is the response context of RFC 3261 §16.7 for one forwarded request, as a pure
// machine: the actor that owns it feeds it events (Step) and carries out the actions it returns.
// It decides everything about the branches of the request — which group of a fork runs, which
// hop a branch uses (RFC 3263 §4.3 failover), which response goes upstream and when, which
// branch is CANCELled and when (§9.1, §16.8, §16.10), when a branch is given up — and never
// touches a socket, a clock or an actor. Time comes in with each event; timers go out as
// ArmTimer actions and come back as TimerFired.
//
// Two promises it keeps, whatever the order of events:
//   - a CANCELled branch ends within 64·T1 of its CANCEL, with or without a final response
//     from downstream (§9.1: the client then considers the request cancelled);
//   - Done comes once a final response went upstream and every branch started has ended; a
//     branch still running when the owner gives up (Abandon) is stopped, so no branch outlives
//     its context.
type Context struct {
	cfg      ContextConfig
	targets  []Target
	groups   [][]int
	group    int // the group running
	branches []ctxBranch
	// final: a final response went upstream (final2xx: a 2xx). canceled: no new branch or group
	// may start (a CANCEL from upstream, a 2xx or a 6xx).
	final, final2xx, canceled bool
	// named: some branch needed DNS, so the request is sent from again later.
	named        bool
	cancelReason string
	groupTimer   TimerID
	lastTimer    TimerID
	dialogTags   []string
	answeredBy   int // the branch whose final response went upstream, -1 when we answered
	done         bool
	acts         []Action
}

// ContextConfig is what a context knows of its request and of the proxy's settings.
type ContextConfig struct {
	// Invite: the request is an INVITE (Timer C, CANCEL and the 6xx rule apply).
	Invite bool
	// CreatesDialog: a 2xx creates a dialog we Record-Route (an INVITE without To tag).
	CreatesDialog bool
	// TimerC is §16.8's Timer C (0: none); T1 is §17's, for the 64·T1 give-up after a CANCEL.
	TimerC, T1 time.Duration
	// GroupTimeout moves a sequential fork on when a group takes longer (0: never).
	GroupTimeout time.Duration
	// NoResponse is failover.no_response: how long a branch with somewhere else to go waits for
	// any response before its hop is given up (0: Timer B/F decide). A Target's own NoResponse
	// replaces it.
	NoResponse time.Duration
}

// BranchState is where a branch of a context stands.
type BranchState uint8

const (
	// BranchIdle: not started (a later group of a sequential fork).
	BranchIdle BranchState = iota
	// BranchLocating: waiting for RFC 3263 to say where it goes.
	BranchLocating
	// BranchTrying: its request is out, no provisional response yet (no CANCEL may go, §9.1).
	BranchTrying
	// BranchProceeding: a provisional response came (a CANCEL may go).
	BranchProceeding
	// BranchCancelling: its CANCEL went; it ends with the final response, or 64·T1 later.
	BranchCancelling
	// BranchEnded: it has its final outcome.
	BranchEnded
)

func (s BranchState) String() string {
	return [...]string{"Idle", "Locating", "Trying", "Proceeding", "Cancelling", "Ended"}[s]
}

type ctxBranch struct {
	state BranchState
	// hops are where the branch may go, in RFC 3263 order; hop is the one in use. A timeout or
	// a 503 moves the branch to the next one, with a new client transaction.
	hops []Hop
	hop  int
	// cancelWanted: a CANCEL is due once a provisional response arrives (§9.1).
	cancelWanted bool
	// giveUpCode is what the branch counts as if its CANCEL brings no final response in 64·T1:
	// 487 when it was CANCELled for the caller, 408 when Timer C did it.
	giveUpCode     int
	timerC, giveUp TimerID
	code           int           // final status, or the one acted on; 0 while pending
	res            *sip.Response // the final response received, nil if synthesized
}

// TimerID names one arming of a context's timer; a TimerFired with another ID is stale.
type TimerID uint32

// EventKind says what happened to a context.
type EventKind uint8

const (
	// Fork starts the branches: Targets, Mode, and per target the hops when no DNS is needed.
	Fork EventKind = iota
	// HopsLocated is RFC 3263's answer for Branch: Hops, or none (Code 0 then means not found).
	HopsLocated
	// BranchResponded: Branch received Res.
	BranchResponded
	// BranchFailed: Branch ended without a final response; Code is the status acted on (408 on
	// timeout, 503 on a transport error or a dead hop, 500 on a fault).
	BranchFailed
	// CancelArrived: the caller CANCELled the request (§16.10).
	CancelArrived
	// TimerFired: the timer armed as Timer expired.
	TimerFired
	// Abandon: the owner is going away; every branch still running is stopped.
	Abandon
)

func (k EventKind) String() string {
	return [...]string{"Fork", "HopsLocated", "BranchResponded", "BranchFailed",
		"CancelArrived", "TimerFired", "Abandon"}[k]
}

// Event is one input of a context.
type Event struct {
	Kind    EventKind
	Branch  int
	Targets []Target
	Mode    ForkMode
	// Hops: for Fork, per target its hop when no DNS is needed (nil entries are located);
	// for HopsLocated, the branch's hops.
	Hops  [][]Hop
	Res   *sip.Response
	Code  int
	Timer TimerID
}

// ActionKind says what a context asks its owner to do.
type ActionKind uint8

const (
	// Locate Branch's next hops (RFC 3263); the answer comes back as HopsLocated.
	Locate ActionKind = iota
	// StartBranch sends Branch's request to Hop with a new client transaction. Alternative: the
	// branch has somewhere else to go should this hop fail (a hop known dead may then be skipped,
	// by answering BranchFailed 503). NoResponse, when set, gives the hop up if it answers nothing
	// within it. LastUse: no branch will be made from the request again.
	StartBranch
	// CancelBranch sends a CANCEL for Branch's request, with Reason (RFC 3326) when set.
	CancelBranch
	// StopBranch stops Branch's client transaction: the context no longer waits for it.
	StopBranch
	// Relay sends Res (a response of Branch) upstream without our Via.
	Relay
	// Respond answers upstream with a response we build: Code.
	Respond
	// ArmTimer asks for TimerFired with Timer after After (at At).
	ArmTimer
	// DialogCreated: Res, a 2xx relayed upstream, created a dialog.
	DialogCreated
	// Done: a final response went upstream and every branch has ended.
	Done
	// RaceSeen: the context resolved the race Race (nothing to carry out: an observation, for
	// partysip_races_total and traces).
	RaceSeen
)

func (k ActionKind) String() string {
	return [...]string{"Locate", "StartBranch", "CancelBranch", "StopBranch", "Relay", "Respond",
		"ArmTimer", "DialogCreated", "Done", "RaceSeen"}[k]
}

// Race names a race between concurrent events that the context resolved one way.
type Race uint8

const (
	// RaceCancelAfterFinal: the caller's CANCEL came after a final response went upstream:
	// nothing is left to cancel (§9.2).
	RaceCancelAfterFinal Race = iota + 1
	// RaceCancelBeforeProvisional: a branch to CANCEL had no provisional response yet: its
	// CANCEL waits for one (§9.1).
	RaceCancelBeforeProvisional
	// Race2xxAfterCancel: a branch we had CANCELled answered 2xx: the CANCEL lost, the call
	// goes through.
	Race2xxAfterCancel
	// RaceSecond2xx: a fork was answered 2xx by more than one callee: every 2xx goes upstream,
	// each is a dialog (§16.7 step 5).
	RaceSecond2xx
	// RaceFailureAfter2xx: a branch's failure response came after a 2xx went upstream: it is
	// absorbed, never relayed.
	RaceFailureAfter2xx
	// NumRaces is one more than the last race: the size of an array indexed by Race.
	NumRaces
)

// Races lists every race, in order.
func Races() []Race {
	out := make([]Race, 0, NumRaces-1)
	for r := RaceCancelAfterFinal; r < NumRaces; r++ {
		out = append(out, r)
	}
	return out
}

func (r Race) String() string {
	return [...]string{"none", "cancel_after_final", "cancel_before_provisional", "2xx_after_cancel",
		"second_2xx", "failure_after_2xx"}[r]
}

// Action is one output of a context.
type Action struct {
	Kind   ActionKind
	Branch int
	Hop    Hop
	// Alternative, NoResponse and LastUse qualify StartBranch.
	Alternative bool
	NoResponse  time.Duration
	LastUse     bool
	Reason      string
	Res         *sip.Response
	Code        int
	// Final: this Relay or Respond is the final response upstream (the first, for 2xx).
	Final bool
	Timer TimerID
	After time.Duration
	At    time.Time
	// Race is what RaceSeen saw.
	Race Race
}

// NewContext returns the response context of one request.
func NewContext(cfg ContextConfig) *Context {
	return &Context{cfg: cfg, answeredBy: -1}
}

// Step feeds one event to the context at time now and returns what to do, in order. The slice
// is the context's own, valid until the next Step.
func (c *Context) Step(now time.Time, ev Event) []Action {
	c.acts = c.acts[:0]
	switch ev.Kind {
	case Fork:
		c.forward(now, ev)
	case HopsLocated:
		c.located(now, ev)
	case BranchResponded:
		c.responded(now, ev.Branch, ev.Res)
	case BranchFailed:
		c.ended(now, ev.Branch, ev.Code, nil, true)
	case CancelArrived:
		if c.final {
			c.emit(Action{Kind: RaceSeen, Race: RaceCancelAfterFinal, Branch: -1})
		}
		c.cancelPending(now, -1, true)
	case TimerFired:
		c.timerFired(now, ev.Timer)
	case Abandon:
		for i := range c.branches {
			if b := &c.branches[i]; b.running() {
				if b.state != BranchLocating {
					c.emit(Action{Kind: StopBranch, Branch: i})
				}
				b.state, b.code, b.timerC, b.giveUp = BranchEnded, 487, 0, 0
			}
		}
		c.final = true
	}
	if c.final && !c.done && c.allEnded() {
		c.done = true
		c.emit(Action{Kind: Done})
	}
	return c.acts
}

// Final reports whether a final response went upstream; Done whether the context has nothing
// left to do.
func (c *Context) Final() bool { return c.final }
func (c *Context) Done() bool  { return c.done }

// Branches is the number of branches (one per target).
func (c *Context) Branches() int { return len(c.branches) }

// Branch reports branch i's state and the hop it uses (ok false before it has one).
func (c *Context) Branch(i int) (st BranchState, hop Hop, ok bool) {
	b := &c.branches[i]
	if b.hop < len(b.hops) {
		hop, ok = b.hops[b.hop], true
	}
	return b.state, hop, ok
}

// AnsweredBy is the branch whose final response went upstream, -1 when we built it.
func (c *Context) AnsweredBy() int { return c.answeredBy }

func (c *Context) emit(a Action) { c.acts = append(c.acts, a) }

func (c *Context) arm(now time.Time, d time.Duration) TimerID {
	c.lastTimer++
	c.emit(Action{Kind: ArmTimer, Timer: c.lastTimer, After: d, At: now.Add(d)})
	return c.lastTimer
}

// sent: the branch's request is out (a client transaction runs for it).
func (b *ctxBranch) sent() bool {
	return b.state == BranchTrying || b.state == BranchProceeding || b.state == BranchCancelling
}

func (b *ctxBranch) running() bool {
	return b.state != BranchIdle && b.state != BranchEnded
}

func (c *Context) allEnded() bool {
	for i := range c.branches {
		if c.branches[i].running() {
			return false
		}
	}
	return true
}

func (c *Context) forward(now time.Time, ev Event) {
	if c.branches != nil || c.final {
		return
	}
	c.targets = ev.Targets
	c.groups = ForkPlan(ev.Targets, ev.Mode)
	c.branches = make([]ctxBranch, len(ev.Targets))
	for i := range c.branches {
		if i < len(ev.Hops) && len(ev.Hops[i]) > 0 {
			c.branches[i].hops = ev.Hops[i]
		}
	}
	if len(c.groups) == 0 {
		c.final = true
		c.emit(Action{Kind: Respond, Code: 480, Final: true})
		return
	}
	c.startGroup(now, 0)
}

// startGroup starts a branch for every target of group g.
func (c *Context) startGroup(now time.Time, g int) {
	c.group = g
	c.groupTimer = 0
	if g < len(c.groups)-1 && c.cfg.GroupTimeout > 0 {
		c.groupTimer = c.arm(now, c.cfg.GroupTimeout)
	}
	for _, i := range c.groups[g] {
		b := &c.branches[i]
		if len(b.hops) > 0 {
			c.send(now, i)
			continue
		}
		b.state, c.named = BranchLocating, true
		c.emit(Action{Kind: Locate, Branch: i})
	}
}

func (c *Context) located(now time.Time, ev Event) {
	b := c.branch(ev.Branch)
	if b == nil || b.state != BranchLocating {
		return
	}
	var hops []Hop
	if len(ev.Hops) > 0 {
		hops = ev.Hops[0]
	}
	switch {
	case len(hops) == 0:
		c.ended(now, ev.Branch, 503, nil, false)
	case c.canceled || c.final:
		c.ended(now, ev.Branch, 487, nil, false)
	default:
		b.hops = hops
		c.send(now, ev.Branch)
	}
}

// send starts branch i's client transaction to its current hop.
func (c *Context) send(now time.Time, i int) {
	b := &c.branches[i]
	b.state, b.cancelWanted, b.timerC, b.giveUp = BranchTrying, false, 0, 0
	alt := c.hasAlternative(i)
	noResponse := time.Duration(0)
	if alt {
		noResponse = c.cfg.NoResponse
		if t := c.targets[i].NoResponse; t > 0 {
			noResponse = t
		}
	}
	last := !c.named && c.group == len(c.groups)-1 && len(b.hops) == 1 && i == c.groups[c.group][len(c.groups[c.group])-1]
	c.emit(Action{Kind: StartBranch, Branch: i, Hop: b.hops[b.hop], Alternative: alt, NoResponse: noResponse, LastUse: last})
	if c.cfg.Invite && c.cfg.TimerC > 0 {
		b.timerC = c.arm(now, c.cfg.TimerC)
	}
}

// hasAlternative reports whether branch i has somewhere else to go if its hop fails: another
// RFC 3263 hop, or a later group of a sequential fork.
func (c *Context) hasAlternative(i int) bool {
	b := &c.branches[i]
	return b.hop+1 < len(b.hops) || c.group+1 < len(c.groups)
}

func (c *Context) branch(i int) *ctxBranch {
	if i < 0 || i >= len(c.branches) {
		return nil
	}
	return &c.branches[i]
}

func (c *Context) responded(now time.Time, i int, res *sip.Response) {
	b := c.branch(i)
	if b == nil || res == nil {
		return
	}
	code := res.StatusCode
	if !b.sent() && !(b.state == BranchEnded && code >= 200 && code < 300) {
		return // only a client transaction responds, and after the end only with a 2xx
	}
	switch {
	case code < 200:
		if b.state == BranchTrying {
			b.state = BranchProceeding
		}
		if b.cancelWanted {
			c.cancel(now, i, b.giveUpCode) // the provisional response §9.1 waits for
		}
		if code > 100 && b.timerC != 0 && b.state == BranchProceeding {
			b.timerC = c.arm(now, c.cfg.TimerC) // §16.7 step 2: a provisional resets Timer C
		}
		if code > 100 && !c.final {
			c.emit(Action{Kind: Relay, Branch: i, Res: res}) // §16.7 step 5: 100 is not forwarded
		}
	case code < 300:
		// §16.7 step 5/9: every 2xx is forwarded at once (a forked INVITE may have several,
		// and its retransmissions while the client transaction is Accepted), and each new one
		// creates its dialog.
		first := !c.final
		if first {
			c.answeredBy = i
		}
		if b.state == BranchCancelling {
			c.emit(Action{Kind: RaceSeen, Race: Race2xxAfterCancel, Branch: i})
		}
		c.final, c.final2xx = true, true
		c.emit(Action{Kind: Relay, Branch: i, Res: res, Final: first})
		if c.cfg.CreatesDialog && c.newDialog(res) {
			if !first {
				c.emit(Action{Kind: RaceSeen, Race: RaceSecond2xx, Branch: i})
			}
			c.emit(Action{Kind: DialogCreated, Branch: i, Res: res})
		}
		if b.running() {
			b.state, b.code, b.res = BranchEnded, code, nil
			b.timerC, b.giveUp = 0, 0
		}
		if c.cfg.Invite {
			// §16.7 step 10; the Reason tells the other phones not to show a missed call.
			c.cancelReason = ReasonCompletedElsewhere
			c.cancelPending(now, i, true)
		}
	default:
		if !b.running() {
			return
		}
		if c.final2xx {
			c.emit(Action{Kind: RaceSeen, Race: RaceFailureAfter2xx, Branch: i})
		}
		if code >= 600 && c.cfg.Invite {
			c.cancelPending(now, i, true) // §16.7 step 10
		}
		c.ended(now, i, code, res, true)
	}
}

// ended records branch i's final outcome. Once every started branch has one, a sequential
// fork starts its next group (unless a 2xx, a 6xx or a CANCEL ended the fork); otherwise the
// best final response goes upstream (§16.7 step 6), with every challenge of the branches when
// it is a 401/407 (step 7).
func (c *Context) ended(now time.Time, i, code int, res *sip.Response, failover bool) {
	b := c.branch(i)
	if b == nil || !b.running() {
		return
	}
	// RFC 3263 §4.3: a timeout or a 503 sends the branch to the next hop DNS gave, with a new
	// transaction; a 503 that was answered is not forwarded when another hop remains.
	if failover && (code == 503 || (code == 408 && res == nil)) && b.hop+1 < len(b.hops) && !c.canceled && !c.final &&
		b.state != BranchCancelling {
		b.hop++
		c.send(now, i)
		return
	}
	b.state, b.code, b.res = BranchEnded, code, res
	b.timerC, b.giveUp, b.cancelWanted = 0, 0, false
	if !c.allEnded() {
		return
	}
	c.groupTimer = 0
	if c.final {
		return
	}
	if !c.canceled && c.group+1 < len(c.groups) {
		c.startGroup(now, c.group+1)
		return
	}
	c.respondBest()
}

// respondBest sends upstream the best of the branches' final responses (§16.7 steps 6–7).
func (c *Context) respondBest() {
	var codes, index []int
	for j := range c.branches {
		if c.branches[j].state == BranchEnded {
			codes = append(codes, c.branches[j].code)
			index = append(index, j)
		}
	}
	best, upstream := Best(codes)
	c.final = true
	if best >= 0 && c.branches[index[best]].res != nil {
		i := index[best]
		c.answeredBy = i
		out := c.branches[i].res
		if upstream != out.StatusCode {
			out = out.Clone()
			out.StatusCode, out.Reason = upstream, base.ReasonPhrase(upstream)
		}
		all := make([]*sip.Response, 0, len(c.branches))
		for j := range c.branches {
			all = append(all, c.branches[j].res)
		}
		c.emit(Action{Kind: Relay, Branch: i, Res: MergeChallenges(out, all), Final: true})
		return
	}
	c.emit(Action{Kind: Respond, Code: upstream, Final: true})
}

// cancelPending CANCELs every running branch except skip; all: no further group may start.
func (c *Context) cancelPending(now time.Time, skip int, all bool) {
	if all {
		c.canceled = true
	}
	for j := range c.branches {
		if j != skip {
			c.cancel(now, j, 487)
		}
	}
}

// cancel CANCELs branch i if it runs (§9.1: only once it has a provisional response; until
// then the CANCEL is due on the first one). A branch still locating ends when located.
func (c *Context) cancel(now time.Time, i int, giveUpCode int) {
	b := &c.branches[i]
	switch b.state {
	case BranchTrying:
		if !b.cancelWanted {
			c.emit(Action{Kind: RaceSeen, Race: RaceCancelBeforeProvisional, Branch: i})
		}
		b.cancelWanted, b.giveUpCode = true, giveUpCode
	case BranchProceeding:
		b.state, b.cancelWanted = BranchCancelling, false
		if b.giveUpCode == 0 {
			b.giveUpCode = giveUpCode
		}
		b.timerC = 0
		c.emit(Action{Kind: CancelBranch, Branch: i, Reason: c.cancelReason})
		b.giveUp = c.arm(now, 64*c.cfg.T1)
	}
}

func (c *Context) timerFired(now time.Time, id TimerID) {
	if id == 0 {
		return
	}
	if id == c.groupTimer {
		// The sequential fork moves on: the running group's branches are CANCELled, and their
		// final responses (487) start the next group.
		c.groupTimer = 0
		if c.final || c.canceled {
			return
		}
		for _, i := range c.groups[c.group] {
			c.cancel(now, i, 487)
		}
		return
	}
	for i := range c.branches {
		b := &c.branches[i]
		switch id {
		case b.timerC:
			// §16.8: with a provisional response the branch is CANCELled; without, it is as if
			// a 408 came.
			b.timerC = 0
			if b.state == BranchProceeding {
				b.giveUpCode = 408
				c.cancel(now, i, 408)
				return
			}
			c.emit(Action{Kind: StopBranch, Branch: i})
			c.ended(now, i, 408, nil, false)
			return
		case b.giveUp:
			// §9.1: no final response 64·T1 after the CANCEL: the request is cancelled.
			b.giveUp = 0
			c.emit(Action{Kind: StopBranch, Branch: i})
			c.ended(now, i, b.giveUpCode, nil, false)
			return
		}
	}
}

// newDialog reports whether a 2xx is the first of its dialog (its To tag) seen by this context:
// a retransmitted 2xx relayed after the BYE ended the dialog must not create it again.
func (c *Context) newDialog(res *sip.Response) bool {
	to := res.To()
	if to == nil {
		return false
	}
	tag, _ := to.Params.Get("tag")
	if slices.Contains(c.dialogTags, tag) {
		return false
	}
	c.dialogTags = append(c.dialogTags, tag)
	return true
}
