package sim

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/partysip/partysip/config"
)

// Addresses of the simulated network (nothing is bound: these are names in the world).
var (
	ProxyAddr  = netip.MustParseAddrPort("127.0.0.1:5060")
	CallerAddr = netip.MustParseAddrPort("127.0.0.2:5060")
	BobAddr    = netip.MustParseAddrPort("127.0.0.3:5060")
	CarolAddr  = netip.MustParseAddrPort("127.0.0.4:5060")
	DeadAddr   = netip.MustParseAddrPort("127.0.0.5:5060")
)

// baseConfig is the proxy of every scenario: the embedded defaults, a memory store, no rate
// limits (they count on the wall clock), no access log; the scenario adds its routes.
const baseConfig = `store: {driver: memory}
limits: {source_requests: 0, source_transactions: 0, auth_failures: 0, user_auth_failures: 0}
log: {access: 0}
`

// Call is the call a scenario places: its caller and the callees it may reach.
type Call struct {
	Caller  *Caller
	Callees []*Callee
}

// Scenario is a named situation to run on many seeds.
type Scenario struct {
	Name, About string
	// Routes is the YAML of the proxy's routes (over baseConfig), or any other keys it needs;
	// a scenario without plugins: gets [sanity, maxfwd, forward].
	Routes string
	// Setup puts the endpoints in the world, their timing drawn from w.Rand(), and starts the
	// call.
	Setup func(w *World) *Call
}

// jitter is base ± spread, drawn from the run's generator.
func jitter(w *World, base, spread time.Duration) time.Duration {
	if w.explorer != nil {
		return base // exhaustive mode: the events meet, the schedule decides
	}
	return base - spread + time.Duration(w.Rand().Int64N(int64(2*spread)+1))
}

func route(to string, alternates []string, forking string) string {
	s := "routes:\n  - match: '^bob@'\n    to: sip:" + to + "\n"
	if len(alternates) > 0 {
		s += "    alternates: ["
		for i, a := range alternates {
			if i > 0 {
				s += ", "
			}
			s += "'sip:" + a + "'"
		}
		s += "]\n"
	}
	if forking != "" {
		s += "    forking: " + forking + "\n"
	}
	return s
}

func caller(w *World) *Caller {
	return &Caller{At: CallerAddr, Proxy: ProxyAddr, To: "sip:bob@" + ProxyAddr.Addr().String(), CallID: "sim-call", HangUpAfter: time.Second}
}

// Scenarios are the built-in scenarios, by name.
var Scenarios = map[string]Scenario{
	"cancel-200": {
		Name:   "cancel-200",
		About:  "the caller CANCELs around the moment the callee answers 200: either 487 or the call, never both",
		Routes: route(BobAddr.String(), nil, ""),
		Setup: func(w *World) *Call {
			bob := &Callee{At: BobAddr, Name: "bob", Ring: 100 * time.Millisecond, Answer: jitter(w, 200*time.Millisecond, 15*time.Millisecond), Code: 200}
			c := caller(w)
			c.CancelAfter = jitter(w, 200*time.Millisecond, 15*time.Millisecond)
			return &Call{Caller: c, Callees: []*Callee{bob}}
		},
	},
	"cancel-meets-200": {
		Name:   "cancel-meets-200",
		About:  "the caller's CANCEL and the callee's 200 reach the proxy at about the same moment (together, in exhaustive mode)",
		Routes: route(BobAddr.String(), nil, ""),
		Setup: func(w *World) *Call {
			// The 200 leaves bob 2 ms after the INVITE left the caller, plus Answer; the CANCEL
			// leaves the caller at CancelAfter: equal middles meet at the proxy.
			bob := &Callee{At: BobAddr, Name: "bob", Ring: 100 * time.Millisecond, Answer: jitter(w, 198*time.Millisecond, 2*time.Millisecond), Code: 200}
			c := caller(w)
			c.CancelAfter = jitter(w, 200*time.Millisecond, 2*time.Millisecond)
			return &Call{Caller: c, Callees: []*Callee{bob}}
		},
	},
	"fork-2xx": {
		Name:   "fork-2xx",
		About:  "a parallel fork whose two callees both answer 200: the caller gets both and ends both dialogs",
		Routes: route(BobAddr.String(), []string{CarolAddr.String()}, "parallel"),
		Setup: func(w *World) *Call {
			bob := &Callee{At: BobAddr, Name: "bob", Ring: 50 * time.Millisecond, Answer: jitter(w, 200*time.Millisecond, 20*time.Millisecond), Code: 200}
			carol := &Callee{At: CarolAddr, Name: "carol", Ring: 50 * time.Millisecond, Answer: jitter(w, 200*time.Millisecond, 20*time.Millisecond), Code: 200}
			return &Call{Caller: caller(w), Callees: []*Callee{bob, carol}}
		},
	},
	"fork-cancel": {
		Name:   "fork-cancel",
		About:  "a parallel fork where one callee answers 200 as the caller CANCELs, the other rings on",
		Routes: route(BobAddr.String(), []string{CarolAddr.String()}, "parallel"),
		Setup: func(w *World) *Call {
			bob := &Callee{At: BobAddr, Name: "bob", Ring: 50 * time.Millisecond, Answer: jitter(w, 200*time.Millisecond, 20*time.Millisecond), Code: 200}
			carol := &Callee{At: CarolAddr, Name: "carol", Ring: 50 * time.Millisecond, Answer: -1, Code: 200}
			c := caller(w)
			c.CancelAfter = jitter(w, 200*time.Millisecond, 20*time.Millisecond)
			return &Call{Caller: c, Callees: []*Callee{bob, carol}}
		},
	},
	"cancel-ignored": {
		Name:   "cancel-ignored",
		About:  "the callee answers the CANCEL but never the INVITE: the caller has its 487 within 64·T1 of the CANCEL",
		Routes: route(BobAddr.String(), nil, ""),
		Setup: func(w *World) *Call {
			bob := &Callee{At: BobAddr, Name: "bob", Ring: 100 * time.Millisecond, Answer: -1, IgnoreCancel: true}
			c := caller(w)
			c.CancelAfter = jitter(w, 300*time.Millisecond, 100*time.Millisecond)
			return &Call{Caller: c, Callees: []*Callee{bob}}
		},
	},
	"busy-fork": {
		Name:   "busy-fork",
		About:  "a parallel fork where one callee is busy at once and the other answers later: the 486 waits, the call goes through",
		Routes: route(BobAddr.String(), []string{CarolAddr.String()}, "parallel"),
		Setup: func(w *World) *Call {
			bob := &Callee{At: BobAddr, Name: "bob", Ring: -1, Answer: 50 * time.Millisecond, Code: 486}
			carol := &Callee{At: CarolAddr, Name: "carol", Ring: 50 * time.Millisecond, Answer: jitter(w, 300*time.Millisecond, 50*time.Millisecond), Code: 200}
			return &Call{Caller: caller(w), Callees: []*Callee{bob, carol}}
		},
	},
	"register-fork": {
		Name:  "register-fork",
		About: "bob's two phones register through the proxy's registrar; a call to bob then forks to both, one answers",
		Routes: "domains: [example.com]\nplugins: [sanity, maxfwd, registrar, location, forward]\n" +
			"registrar: {min_expires: 60s, default_expires: 120s}\nforking: {mode: parallel}\n",
		Setup: func(w *World) *Call {
			desk := &Callee{At: BobAddr, Name: "desk", Register: "sip:bob@example.com", Ring: 50 * time.Millisecond, Answer: jitter(w, 300*time.Millisecond, 100*time.Millisecond), Code: 200}
			mobile := &Callee{At: CarolAddr, Name: "mobile", Register: "sip:bob@example.com", Ring: 50 * time.Millisecond, Answer: jitter(w, 300*time.Millisecond, 100*time.Millisecond), Code: 200}
			c := caller(w)
			c.To, c.StartAfter = "sip:bob@example.com", time.Second
			return &Call{Caller: c, Callees: []*Callee{desk, mobile}}
		},
	},
	"refused-tcp": {
		Name:   "refused-tcp",
		About:  "the route's first hop is over TCP and refuses the connection: the branch fails over at once to the UDP alternate",
		Routes: route(DeadAddr.String()+";transport=tcp", []string{BobAddr.String()}, ""),
		Setup: func(w *World) *Call {
			bob := &Callee{At: BobAddr, Name: "bob", Ring: 50 * time.Millisecond, Answer: jitter(w, 150*time.Millisecond, 50*time.Millisecond), Code: 200}
			return &Call{Caller: caller(w), Callees: []*Callee{bob}}
		},
	},
	"loop": {
		Name:   "loop",
		About:  "a route that sends calls back to the proxy itself: the loop is found on the second pass and answered 482",
		Routes: route(ProxyAddr.String(), nil, ""),
		Setup: func(w *World) *Call {
			return &Call{Caller: caller(w)}
		},
	},
	"dead-hop": {
		Name:   "dead-hop",
		About:  "the route's first hop never answers: the branch fails over to the alternate, which answers",
		Routes: route(DeadAddr.String(), []string{BobAddr.String()}, ""),
		Setup: func(w *World) *Call {
			bob := &Callee{At: BobAddr, Name: "bob", Ring: 50 * time.Millisecond, Answer: jitter(w, 150*time.Millisecond, 50*time.Millisecond), Code: 200}
			return &Call{Caller: caller(w), Callees: []*Callee{bob}}
		},
	},
}

// ScenarioNames lists the built-in scenarios in a stable order.
func ScenarioNames() []string {
	return []string{"cancel-200", "cancel-meets-200", "fork-2xx", "fork-cancel", "cancel-ignored", "busy-fork", "register-fork", "dead-hop", "refused-tcp", "loop"}
}

// proxyConfig is the configuration of a scenario's proxy.
func proxyConfig(s Scenario) (*config.Config, error) {
	text := baseConfig + s.Routes
	if !strings.Contains(s.Routes, "plugins:") {
		text += "plugins: [sanity, maxfwd, forward]\n"
	}
	cfg, err := config.Parse("<scenario "+s.Name+">", []byte(text))
	if err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	return cfg, nil
}
