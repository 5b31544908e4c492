package sim

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/partysip/partysip/sipcore/base"
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
	"registered",    // every REGISTER an endpoint sent got its 2xx
	"quiet",         // once quiet, no transaction, parked wait, pending answer, dialog or timer is left
	"dialogs",       // a dialog was tracked for every 2xx the caller got (through our Record-Route)
	"loop",          // no request goes through the proxy twice (a loop is answered 482)
	"max-forwards",  // every request the proxy forwards carries Max-Forwards one below what it got
	"no-stray-send", // the proxy sends only to hops the scenario routes to, and back to the caller
}

// cancelSlack is what the cancel bound allows beyond 64·T1: the proxy's own steps between its
// give-up timer and its answer (virtual time stands still while actors run, so none is needed).
const cancelSlack = 10 * time.Millisecond

// Check verifies the invariants on a finished run of call.
func Check(w *World, call *Call) []Violation {
	uas := make([]netip.AddrPort, len(call.Callees))
	for i, c := range call.Callees {
		uas[i] = c.At
	}
	return CheckTrace(w, []netip.AddrPort{call.Caller.At}, uas)
}

// finalsTo are the distinct final responses to INVITEs delivered to uac, in delivery order (a
// retransmission, same status and To tag, counts once), with when each came.
func finalsTo(w *World, uac netip.AddrPort) (res []*sip.Response, at []time.Duration) {
	seen := map[string]bool{}
	for _, ev := range w.Trace {
		m, ok := ev.Msg.(*sip.Response)
		if ev.Kind != "deliver" || ev.To != uac || !ok || m.StatusCode < 200 || m.CSeq() == nil || m.CSeq().MethodName != sip.INVITE {
			continue
		}
		tag, _ := m.To().Params.Get("tag")
		key := fmt.Sprintf("%s %s %d %s", base.CallID(m), branchOf(m), m.StatusCode, tag)
		if !seen[key] {
			seen[key] = true
			res, at = append(res, m), append(at, ev.At)
		}
	}
	return res, at
}

func branchOf(m sip.Message) string {
	if via := m.Via(); via != nil {
		b, _ := via.Params.Get("branch")
		return b
	}
	return ""
}

// CheckTrace verifies the invariants on what a finished run put on the network: uacs are the
// endpoints that placed calls, uases those that answered them; the proxy is the world's.
func CheckTrace(w *World, uacs, uases []netip.AddrPort) []Violation {
	var out []Violation
	bad := func(inv, format string, args ...any) {
		out = append(out, Violation{Invariant: inv, Detail: fmt.Sprintf(format, args...)})
	}
	// one-final, per INVITE transaction of each caller
	got2xx := map[string]bool{} // Call-ID and To tag of each 2xx a caller got
	for _, uac := range uacs {
		finals, at := finalsTo(w, uac)
		byBranch := map[string][]int{}
		for i, f := range finals {
			byBranch[branchOf(f)] = append(byBranch[branchOf(f)], i)
		}
		for _, idx := range byBranch {
			seen2xx, failures := false, 0
			for _, i := range idx {
				f := finals[i]
				if f.StatusCode < 300 {
					seen2xx = true
					tag, _ := f.To().Params.Get("tag")
					got2xx[base.CallID(f)+" "+tag] = true
					continue
				}
				failures++
				if seen2xx {
					bad("one-final", "%d %s reached %s at %s, after a 2xx", f.StatusCode, f.Reason, w.name(uac), at[i])
				}
			}
			if failures > 1 {
				bad("one-final", "%d final failure responses reached %s for one INVITE", failures, w.name(uac))
			}
		}
		for _, ev := range w.Trace {
			if req, ok := ev.Msg.(*sip.Request); ok && ev.Kind == "send" && ev.From == uac && req.Method == sip.INVITE && !base.HasToTag(req) {
				if len(byBranch[branchOf(req)]) == 0 {
					bad("one-final", "the INVITE %s sent (%s) never had a final response", w.name(uac), branchOf(req))
				}
			}
		}
	}

	// every-2xx
	for _, ev := range w.Trace {
		m, ok := ev.Msg.(*sip.Response)
		if ev.Kind != "send" || !ok || !slices.Contains(uases, ev.From) || m.StatusCode/100 != 2 || m.CSeq() == nil || m.CSeq().MethodName != sip.INVITE {
			continue
		}
		if tag, _ := m.To().Params.Get("tag"); !got2xx[base.CallID(m)+" "+tag] {
			bad("every-2xx", "the 2xx %s sent with To tag %s never reached the caller", w.name(ev.From), tag)
		}
	}

	// registered: every endpoint that REGISTERed got its 2xx
	checked := map[string]bool{}
	for _, ev := range w.Trace {
		req, ok := ev.Msg.(*sip.Request)
		if ev.Kind != "send" || !ok || req.Method != sip.REGISTER || ev.From == w.proxy || checked[base.CallID(req)] {
			continue
		}
		checked[base.CallID(req)] = true
		answered := false
		for _, d := range w.Trace {
			if m, ok := d.Msg.(*sip.Response); ok && d.Kind == "deliver" && d.To == ev.From && m.StatusCode/100 == 2 &&
				m.CSeq() != nil && m.CSeq().MethodName == sip.REGISTER && base.CallID(m) == base.CallID(req) {
				answered = true
				break
			}
		}
		if !answered {
			bad("registered", "%s's REGISTER (%s) never had its 2xx", w.name(ev.From), base.CallID(req))
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
			if slices.Contains(uacs, ev.To) && m.StatusCode >= 200 && m.CSeq() != nil && m.CSeq().MethodName == sip.INVITE && finalSent < 0 {
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
	if n := w.clock.Pending(); n > 0 {
		next, _ := w.clock.Next()
		bad("quiet", "%d timers still armed at the end of the run (the next at %s)", n, next.Sub(Epoch))
	}

	// dialogs
	if n := st.DialogsCreated.Load(); n != int64(len(got2xx)) {
		bad("dialogs", "%d dialogs tracked for %d 2xx responses the callers got", n, len(got2xx))
	}

	// max-forwards, no-stray-send
	allowed := map[netip.AddrPort]bool{}
	for _, a := range append(slices.Clone(uacs), uases...) {
		allowed[a] = true
	}
	for _, hop := range w.routedTo {
		allowed[hop] = true
	}
	received := map[string]int{} // Max-Forwards of each request the proxy got, by Call-ID, CSeq, method
	for _, ev := range w.Trace {
		req, ok := ev.Msg.(*sip.Request)
		if ev.Kind == "deliver" && ev.To == w.proxy && ok {
			if mf := req.MaxForwards(); mf != nil {
				received[requestKey(req)] = int(mf.Val())
			}
		}
		if ev.Kind != "send" || ev.From != w.proxy {
			continue
		}
		if !allowed[ev.To] {
			bad("no-stray-send", "the proxy sent %s to %s", ev.Summary, ev.To)
		}
		if ok {
			own := 0
			for _, h := range req.GetHeaders("Via") {
				if v, isVia := h.(*sip.ViaHeader); isVia && v.Host == w.proxy.Addr().String() && v.Port == int(w.proxy.Port()) {
					own++
				}
			}
			if own > 1 {
				bad("loop", "the proxy forwarded %s through itself %d times (§16.3 step 4: a loop is answered 482)", req.Method, own)
			}
		}
		if !ok || (req.Method != sip.INVITE && req.Method != sip.BYE) {
			continue // CANCEL and the ACK of a failure are the proxy's own (Max-Forwards 70)
		}
		in, known := received[requestKey(req)]
		if mf := req.MaxForwards(); known && (mf == nil || int(mf.Val()) != in-1) {
			bad("max-forwards", "the proxy forwarded %s with %v (it got %d)", req.Method, mf, in)
		}
	}
	return out
}

// requestKey names a request across hops: Call-ID, CSeq and method.
func requestKey(req *sip.Request) string {
	if c := req.CSeq(); c != nil {
		return fmt.Sprintf("%s %d %s", base.CallID(req), c.SeqNo, req.Method)
	}
	return base.CallID(req) + " " + string(req.Method)
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
