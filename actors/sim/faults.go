package sim

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/partysip/partysip/sipcore/transaction"
)

// A FaultPoint is a fault chosen by name instead of drawn at random:
//
//	drop 200/INVITE#2          drop the 2nd 200 to an INVITE put on the network
//	drop bob>proxy:200#1       the same, only counting what bob sends the proxy
//	dup 180                    deliver every 180 twice
//	delay CANCEL#1 3ms         hold the 1st CANCEL 3 ms more than its drawn delay
//	crash IST#1                the 1st server INVITE transaction actor panics as it starts
//	crash relay.proxyContext#1@2  the 1st proxy context panics on its 2nd message
//
// A message is named by its method, or by its status code with the method of its CSeq after a
// slash; "from>to:" restricts it to what one node sends another (alice, proxy, bob, carol); #N
// picks the Nth such packet (none: every one). crash takes a transaction kind (IST, NIST, ICT,
// NICT) and #N, or an actor as causal traces name it (kind#N, see --actors) and @M, the message
// it panics on (default its first).
type FaultPoint struct {
	Action string // drop, dup, delay, crash
	From   string // "" for any sender
	To     string // "" for any receiver
	What   string // INVITE, 200/INVITE, 180; for crash, IST, NIST, ICT, NICT
	N      int    // 0: every match
	Delay  time.Duration
	At     int // crash of an actor: on its At-th message (0: first)
}

var actorCrash = regexp.MustCompile(`^crash\s+([a-z]+\.[A-Za-z]+)#([1-9][0-9]*)(?:@([1-9][0-9]*))?$`)

var faultPoint = regexp.MustCompile(`^(drop|dup|delay|crash)\s+(?:([a-z0-9.:]+)>([a-z0-9.:]+):)?([A-Za-z0-9]+(?:/[A-Za-z]+)?)(?:#([1-9][0-9]*))?(?:\s+(\S+))?$`)

// ParseFaultPoint reads a fault point written as above.
func ParseFaultPoint(s string) (FaultPoint, error) {
	if m := actorCrash.FindStringSubmatch(strings.TrimSpace(s)); m != nil {
		f := FaultPoint{Action: "crash", What: m[1]}
		f.N, _ = strconv.Atoi(m[2])
		if m[3] != "" {
			f.At, _ = strconv.Atoi(m[3])
		}
		return f, nil
	}
	m := faultPoint.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return FaultPoint{}, fmt.Errorf("fault %q: want ACTION [FROM>TO:]WHAT[#N] [DELAY], e.g. 'drop 200/INVITE#2', 'delay CANCEL#1 3ms', 'crash IST#1'", s)
	}
	f := FaultPoint{Action: m[1], From: m[2], To: m[3], What: strings.ToUpper(m[4])}
	if m[5] != "" {
		f.N, _ = strconv.Atoi(m[5])
	}
	switch {
	case f.Action == "delay":
		d, err := time.ParseDuration(m[6])
		if err != nil || d <= 0 {
			return FaultPoint{}, fmt.Errorf("fault %q: delay needs a positive duration (3ms)", s)
		}
		f.Delay = d
	case m[6] != "":
		return FaultPoint{}, fmt.Errorf("fault %q: only delay takes a duration", s)
	}
	if f.Action == "crash" {
		if _, ok := kinds[f.What]; !ok || f.From != "" {
			return FaultPoint{}, fmt.Errorf("fault %q: crash takes IST, NIST, ICT or NICT, and #N, or an actor as traces name it (relay.proxyContext#1[@M])", s)
		}
	}
	return f, nil
}

var kinds = map[string]transaction.Kind{"IST": transaction.ServerInvite, "NIST": transaction.ServerNonInvite,
	"ICT": transaction.ClientInvite, "NICT": transaction.ClientNonInvite}

func (f FaultPoint) String() string {
	s := f.Action + " "
	if f.From != "" {
		s += f.From + ">" + f.To + ":"
	}
	s += f.What
	if f.N > 0 {
		s += "#" + strconv.Itoa(f.N)
	}
	if f.At > 0 {
		s += "@" + strconv.Itoa(f.At)
	}
	if f.Delay > 0 {
		s += " " + f.Delay.String()
	}
	return s
}

// actorName reports whether the point crashes an actor named as causal traces name it.
func (f FaultPoint) actorName() bool { return f.Action == "crash" && strings.Contains(f.What, ".") }

// name is how fault points name a message: INVITE, or 200/INVITE.
func name(msg sip.Message) string {
	switch m := msg.(type) {
	case *sip.Request:
		return string(m.Method)
	case *sip.Response:
		if c := m.CSeq(); c != nil {
			return strconv.Itoa(m.StatusCode) + "/" + string(c.MethodName)
		}
		return strconv.Itoa(m.StatusCode)
	}
	return ""
}

// matches reports whether a packet from → to carrying msg is one the point names (before #N).
func (f FaultPoint) matches(from, to, msgName string) bool {
	if f.From != "" && (f.From != from || f.To != to) {
		return false
	}
	return f.What == msgName || (!strings.Contains(f.What, "/") && strings.HasPrefix(msgName, f.What+"/"))
}

// pointState counts the matches of each fault point in a run.
type pointState struct {
	FaultPoint
	seen int
}

// hit counts a match and reports whether the point applies to it.
func (p *pointState) hit() bool {
	p.seen++
	return p.N == 0 || p.seen == p.N
}
