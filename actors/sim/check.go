package sim

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Violation is an invariant a run broke.
type Violation struct {
	Invariant string
	Detail    string
}

func (v Violation) String() string { return v.Invariant + ": " + v.Detail }

// Invariants names what Check verifies, in the order it reports.
var Invariants = []string{
	"one-final",     // at most one final non-2xx upstream, never after a 2xx, and the call ends
	"every-2xx",     // every 2xx a callee sent reaches the caller
	"cancel-bound",  // a CANCELled call has its final response within 64·T1 of the CANCEL
	"quiet",         // once quiet, no transaction, parked wait, pending answer or dialog is left
	"dialogs",       // a dialog was tracked for every 2xx the caller got (through our Record-Route)
	"max-forwards",  // every request the proxy forwards carries Max-Forwards one below what it got
	"no-stray-send", // the proxy sends only to hops the scenario routes to, and back to the caller
}

// cancelSlack is what the cancel bound allows beyond 64·T1: the proxy's own steps between its
// give-up timer and its answer (virtual time stands still while actors run, so none is needed).
const cancelSlack = 10 * time.Millisecond

// Check verifies the invariants on a finished run of call.
func Check(w *World, call *Call) []Violation {
	var out []Violation
	bad := func(inv, format string, args ...any) {
		out = append(out, Violation{Invariant: inv, Detail: fmt.Sprintf(format, args...)})
	}
	c := call.Caller

	// one-final
	var got2xx []string
	seen2xx := false
	failures := 0
	for i, f := range c.Finals {
		tag, _ := f.To().Params.Get("tag")
		if f.StatusCode < 300 {
			seen2xx = true
			got2xx = append(got2xx, tag)
			continue
		}
		failures++
		if seen2xx {
			bad("one-final", "%d %s reached the caller at %s, after a 2xx", f.StatusCode, f.Reason, c.FinalAt[i])
		}
	}
	if failures > 1 {
		bad("one-final", "%d final failure responses reached the caller", failures)
	}
	if len(c.Finals) == 0 {
		bad("one-final", "the caller never had a final response")
	}

	// every-2xx
	for _, callee := range call.Callees {
		for _, tag := range callee.Sent2xx {
			if !slices.Contains(got2xx, tag) {
				bad("every-2xx", "the 2xx %s sent with To tag %s never reached the caller", callee.Name, tag)
			}
		}
	}

	// cancel-bound: from the first CANCEL the proxy sends a branch (§9.1: only once the branch
	// had a provisional response) to the first final response it sends the caller.
	cancelSent, finalSent := time.Duration(-1), time.Duration(-1)
	for _, ev := range w.Trace {
		if ev.Kind != "send" || ev.From != w.proxy {
			continue
		}
		switch m := ev.Msg.(type) {
		case *sip.Request:
			if m.Method == sip.CANCEL && cancelSent < 0 {
				cancelSent = ev.At
			}
		case *sip.Response:
			if ev.To == c.At && m.StatusCode >= 200 && m.CSeq() != nil && m.CSeq().MethodName == sip.INVITE && finalSent < 0 {
				finalSent = ev.At
			}
		}
	}
	if cancelSent >= 0 && finalSent > cancelSent {
		if d := finalSent - cancelSent; d > 64*T1+cancelSlack {
			bad("cancel-bound", "the proxy sent the caller its final response %s after it CANCELled a branch (64·T1 = %s)", d, 64*T1)
		}
	}

	// quiet
	st := w.engine.Stats()
	for name, n := range map[string]int64{
		"transactions": st.LiveTx.Load(), "parked waits": st.Parked.Load(),
		"server transactions owing an answer": st.Pending.Load(), "dialogs": st.Dialogs.Load(),
	} {
		if n != 0 {
			bad("quiet", "%d %s left once the run was quiet", n, name)
		}
	}
	if len(w.packets) > 0 || len(w.tasks) > 0 {
		bad("quiet", "%d packets and %d mailboxes still busy at the end of the run", len(w.packets), len(w.tasks))
	}

	// dialogs
	if n := st.DialogsCreated.Load(); n != int64(len(got2xx)) {
		bad("dialogs", "%d dialogs tracked for %d 2xx responses the caller got", n, len(got2xx))
	}

	// max-forwards, no-stray-send
	allowed := map[string]bool{c.At.String(): true}
	for _, callee := range call.Callees {
		allowed[callee.At.String()] = true
	}
	for _, hop := range w.routedTo {
		allowed[hop] = true
	}
	for _, ev := range w.Trace {
		if ev.Kind != "send" || ev.From != w.proxy {
			continue
		}
		if !allowed[ev.To.String()] {
			bad("no-stray-send", "the proxy sent %s to %s", ev.Summary, ev.To)
		}
		req, ok := ev.Msg.(*sip.Request)
		if !ok || (req.Method != sip.INVITE && req.Method != sip.BYE) {
			continue // CANCEL and the ACK of a failure are the proxy's own (Max-Forwards 70)
		}
		if mf := req.MaxForwards(); mf == nil || mf.Val() != 69 {
			bad("max-forwards", "the proxy forwarded %s with %v (the caller sent 70)", req.Method, mf)
		}
	}
	return out
}

// Outcome is what the caller got, in short: "487", "200", "200+200".
func Outcome(call *Call) string {
	var parts []string
	for _, f := range call.Caller.Finals {
		parts = append(parts, fmt.Sprint(f.StatusCode))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "+")
}
