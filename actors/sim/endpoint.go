package sim

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/partysip/partysip/actors/internal/clock"
	"github.com/partysip/partysip/sipcore/base"
)

// T1 and T2 are the endpoints' retransmission timers (RFC 3261 defaults, as the proxy's).
const (
	T1 = 500 * time.Millisecond
	T2 = 4 * time.Second
)

// retransmit sends msg again at T1, 2·T1, ... (at most T2 apart) until stop is called or 64·T1
// has passed (Timers A/B, E/F, G/H and §13.3.1.4's 2xx retransmission all have this shape).
func retransmit(w *World, from, to netip.AddrPort, msg sip.Message, gaveUp func()) (stop func()) {
	var t clock.Timer
	done := false
	var elapsed, wait time.Duration = 0, T1
	var arm func()
	arm = func() {
		t = w.After(wait, func() {
			if done {
				return
			}
			elapsed += wait
			if elapsed >= 64*T1 {
				done = true
				if gaveUp != nil {
					gaveUp()
				}
				return
			}
			w.Send(from, to, msg)
			wait = min(2*wait, T2)
			arm()
		})
	}
	arm()
	return func() {
		if !done {
			done = true
			t.Stop()
		}
	}
}

func parse(text string) sip.Message {
	msg, err := sip.ParseMessage([]byte(text))
	if err != nil {
		panic("sim: a scripted message does not parse: " + err.Error() + "\n" + text)
	}
	return msg
}

// dialog is what a caller knows of one dialog its INVITE created (one per To tag).
type dialog struct {
	tag    string
	target string   // the remote target (Contact of the 2xx)
	routes []string // the route set (Record-Route, reversed for the caller)
	ack    sip.Message
	byeAt  time.Duration
	bye    func()
	ended  bool
}

// Caller is a scripted user agent that places one call through the proxy: INVITE (retransmitted
// until a response), optionally CANCEL, ACK for every final response (a new ACK per 2xx, the
// hop-by-hop one for a failure), and BYE for every dialog a 2xx creates.
type Caller struct {
	At     netip.AddrPort
	Proxy  netip.AddrPort
	To     string // the Request-URI, e.g. sip:bob@127.0.0.1
	CallID string
	// CancelAfter, when positive, CANCELs the INVITE this long after sending it, or when the
	// first provisional response arrives if none had by then (§9.1).
	CancelAfter time.Duration
	// HangUpAfter is how long the first dialog lasts before its BYE; a second dialog (a fork
	// answered twice) is hung up at once (§13.2.2.4).
	HangUpAfter time.Duration
	// StartAfter delays the call (to let phones register first).
	StartAfter time.Duration

	// Finals are the distinct final responses to the INVITE, in arrival order (a 2xx per
	// dialog; a retransmission is not counted again).
	Finals []*sip.Response
	// FinalAt is when each of Finals arrived, CancelAt when the CANCEL was sent (-1: never).
	FinalAt  []time.Duration
	CancelAt time.Duration
	// ByeAnswered counts the dialogs whose BYE got its 200.
	ByeAnswered int

	invite      sip.Message
	stopInvite  func()
	provisional bool
	cancelDue   bool
	dialogs     []*dialog
	failAck     sip.Message
	stopCancel  func()
}

// Addr is where the caller is.
func (c *Caller) Addr() netip.AddrPort { return c.At }

func (c *Caller) header() string {
	return fmt.Sprintf("From: <sip:alice@%s>;tag=caller\r\nTo: <%s>\r\nCall-ID: %s\r\n", c.At.Addr(), c.To, c.CallID)
}

// Start sends the INVITE, StartAfter from now.
func (c *Caller) Start(w *World) {
	c.CancelAt = -1
	if c.StartAfter > 0 {
		w.After(c.StartAfter, func() { c.call(w) })
		return
	}
	c.call(w)
}

func (c *Caller) call(w *World) {
	c.invite = parse(fmt.Sprintf("INVITE %s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-inv\r\nMax-Forwards: 70\r\n%s"+
		"CSeq: 1 INVITE\r\nContact: <sip:alice@%s>\r\nContent-Length: 0\r\n\r\n", c.To, c.At, c.header(), c.At))
	w.Send(c.At, c.Proxy, c.invite)
	c.stopInvite = retransmit(w, c.At, c.Proxy, c.invite, nil)
	if c.CancelAfter > 0 {
		w.After(c.CancelAfter, func() { // from the INVITE
			c.cancelDue = true
			c.maybeCancel(w)
		})
	}
}

// maybeCancel sends the CANCEL once it is due, a provisional response came and no final did.
func (c *Caller) maybeCancel(w *World) {
	if !c.cancelDue || !c.provisional || len(c.Finals) > 0 || c.CancelAt >= 0 {
		return
	}
	c.CancelAt = w.Elapsed()
	cancel := parse(fmt.Sprintf("CANCEL %s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-inv\r\nMax-Forwards: 70\r\n%s"+
		"CSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n", c.To, c.At, c.header()))
	w.Send(c.At, c.Proxy, cancel)
	// Its retransmissions stop at the 200 for it; they cannot change the outcome.
	c.stopCancel = retransmit(w, c.At, c.Proxy, cancel, nil)
}

// Receive handles the responses to the call's requests.
func (c *Caller) Receive(w *World, msg sip.Message) {
	res, ok := msg.(*sip.Response)
	if !ok {
		return // a caller here is asked nothing
	}
	cseq := res.CSeq()
	if cseq == nil {
		return
	}
	switch cseq.MethodName {
	case sip.CANCEL:
		if c.stopCancel != nil {
			c.stopCancel()
		}
	case sip.BYE:
		for _, d := range c.dialogs {
			if tag, _ := res.To().Params.Get("tag"); tag == d.tag && !d.ended {
				d.ended = true
				d.bye()
				c.ByeAnswered++
			}
		}
	case sip.INVITE:
		c.stopInvite()
		switch {
		case res.StatusCode < 200:
			c.provisional = true
			c.maybeCancel(w)
		case res.StatusCode < 300:
			c.onSuccess(w, res)
		default:
			c.onFailure(w, res)
		}
	}
}

func (c *Caller) onSuccess(w *World, res *sip.Response) {
	tag, _ := res.To().Params.Get("tag")
	for _, d := range c.dialogs {
		if d.tag == tag { // a retransmission: ACK it again
			w.Send(c.At, c.firstHop(d), d.ack)
			return
		}
	}
	c.Finals = append(c.Finals, res)
	c.FinalAt = append(c.FinalAt, w.Elapsed())
	d := &dialog{tag: tag}
	if ct := res.Contact(); ct != nil {
		d.target = ct.Address.String()
	}
	rrs := res.GetHeaders("Record-Route")
	for i := len(rrs) - 1; i >= 0; i-- {
		d.routes = append(d.routes, rrs[i].Value())
	}
	c.dialogs = append(c.dialogs, d)
	d.ack = parse(c.inDialog(d, "ACK", 1, "z9hG4bK-ack-"+tag))
	w.Send(c.At, c.firstHop(d), d.ack)
	wait := c.HangUpAfter
	if len(c.dialogs) > 1 {
		wait = 0
	}
	w.After(wait, func() {
		bye := parse(c.inDialog(d, "BYE", 2, "z9hG4bK-bye-"+tag))
		w.Send(c.At, c.firstHop(d), bye)
		d.bye = retransmit(w, c.At, c.firstHop(d), bye, nil)
	})
}

func (c *Caller) onFailure(w *World, res *sip.Response) {
	if c.failAck == nil {
		c.Finals = append(c.Finals, res)
		c.FinalAt = append(c.FinalAt, w.Elapsed())
		to := res.To()
		c.failAck = parse(fmt.Sprintf("ACK %s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-inv\r\nMax-Forwards: 70\r\n"+
			"From: <sip:alice@%s>;tag=caller\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
			c.To, c.At, c.At.Addr(), to.Value(), c.CallID))
	} else if code := c.Finals[len(c.Finals)-1].StatusCode; code != res.StatusCode || !sameTag(c.Finals[len(c.Finals)-1], res) {
		c.Finals = append(c.Finals, res) // a second, different failure: the invariant reports it
		c.FinalAt = append(c.FinalAt, w.Elapsed())
	}
	w.Send(c.At, c.Proxy, c.failAck)
}

func sameTag(a, b *sip.Response) bool {
	ta, _ := a.To().Params.Get("tag")
	tb, _ := b.To().Params.Get("tag")
	return ta == tb
}

// inDialog is a request within dialog d (§12.2.1.1: loose routing, the route set as Route).
func (c *Caller) inDialog(d *dialog, method string, cseq int, branch string) string {
	routes := ""
	for _, r := range d.routes {
		routes += "Route: " + r + "\r\n"
	}
	return fmt.Sprintf("%s %s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=%s\r\nMax-Forwards: 70\r\n%s"+
		"From: <sip:alice@%s>;tag=caller\r\nTo: <%s>;tag=%s\r\nCall-ID: %s\r\nCSeq: %d %s\r\nContent-Length: 0\r\n\r\n",
		method, d.target, c.At, branch, routes, c.At.Addr(), c.To, d.tag, c.CallID, cseq, method)
}

// firstHop is where a request within d is sent: its first Route, else its remote target.
func (c *Caller) firstHop(d *dialog) netip.AddrPort {
	uri := d.target
	if len(d.routes) > 0 {
		uri = d.routes[0]
	}
	var u sip.Uri
	if err := sip.ParseUri(trimAngles(uri), &u); err != nil {
		return c.Proxy
	}
	a, err := hostPort(u.Host, u.Port)
	if err != nil {
		return c.Proxy
	}
	return a
}

func trimAngles(s string) string {
	if _, rest, ok := strings.Cut(s, "<"); ok {
		if uri, _, ok := strings.Cut(rest, ">"); ok {
			return uri
		}
	}
	return s
}

// Callee is a scripted user agent that answers INVITEs: 100 at once, 180 after Ring, a final
// response (Code) after Answer; CANCEL is answered 200 and, before the final, 487 (unless
// IgnoreCancel: then no final response ever comes). Final responses are retransmitted until
// their ACK (§13.3.1.4, §17.2.1). A negative Ring or Answer never comes.
type Callee struct {
	At           netip.AddrPort
	Name         string
	Ring, Answer time.Duration
	Code         int
	IgnoreCancel bool
	// Register, when set, is the address-of-record the callee registers its address for at the
	// start (REGISTER through the proxy, retransmitted until answered); Registered is the
	// status it got.
	Register   string
	Registered int

	// Sent2xx are the To tags of the 2xx responses it sent; Acked those whose ACK came.
	Sent2xx []string
	Acked   []string
	// Cancelled counts the CANCELs it was sent for a transaction it knew.
	Cancelled int

	calls        map[string]*uas // by branch
	n            int
	stopRegister func()
}

type uas struct {
	invite    *sip.Request
	from      netip.AddrPort
	tag       string
	last      *sip.Response
	final     bool
	timers    []clock.Timer
	stopFinal func()
}

// Addr is where the callee is.
func (c *Callee) Addr() netip.AddrPort { return c.At }

// Start registers the callee when it has an address-of-record to register for.
func (c *Callee) Start(w *World, proxy netip.AddrPort) {
	if c.Register == "" {
		return
	}
	reg := parse(fmt.Sprintf("REGISTER sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-reg-%s\r\nMax-Forwards: 70\r\n"+
		"From: <%s>;tag=reg-%s\r\nTo: <%s>\r\nCall-ID: reg-%s\r\nCSeq: 1 REGISTER\r\nContact: <sip:%s@%s>;expires=120\r\nContent-Length: 0\r\n\r\n",
		hostOf(c.Register), c.At, c.Name, c.Register, c.Name, c.Register, c.Name, c.Name, c.At))
	w.Send(c.At, proxy, reg)
	c.stopRegister = retransmit(w, c.At, proxy, reg, nil)
}

// hostOf is the host of a sip: URI.
func hostOf(uri string) string {
	_, host, _ := strings.Cut(uri, "@")
	return host
}

// Receive answers requests.
func (c *Callee) Receive(w *World, msg sip.Message) {
	req, ok := msg.(*sip.Request)
	if !ok {
		if res, isRes := msg.(*sip.Response); isRes && res.StatusCode >= 200 && res.CSeq() != nil && res.CSeq().MethodName == sip.REGISTER {
			c.Registered = res.StatusCode
			if c.stopRegister != nil {
				c.stopRegister()
			}
		}
		return
	}
	if c.calls == nil {
		c.calls = map[string]*uas{}
	}
	via := req.Via()
	branch, _ := via.Params.Get("branch")
	from := viaAddr(req)
	switch req.Method {
	case sip.INVITE:
		if u, ok := c.calls[branch]; ok {
			if u.last != nil {
				w.Send(c.At, u.from, u.last)
			}
			return
		}
		c.n++
		u := &uas{invite: req, from: from, tag: c.Name + strconv.Itoa(c.n)}
		c.calls[branch] = u
		c.respond(w, u, 100, "Trying")
		if c.Ring >= 0 {
			u.timers = append(u.timers, w.After(c.Ring, func() {
				if !u.final {
					c.respond(w, u, 180, "Ringing")
				}
			}))
		}
		if c.Answer >= 0 {
			u.timers = append(u.timers, w.After(c.Answer, func() {
				if !u.final {
					c.respond(w, u, c.Code, base.ReasonPhrase(c.Code))
				}
			}))
		}
	case sip.CANCEL:
		u, ok := c.calls[branch]
		if !ok {
			w.Send(c.At, from, sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
			return
		}
		c.Cancelled++
		w.Send(c.At, from, c.tagged(sip.NewResponseFromRequest(req, 200, "OK", nil), u.tag))
		if !u.final && !c.IgnoreCancel {
			c.respond(w, u, 487, "Request Terminated")
		}
	case sip.ACK:
		tag, _ := req.To().Params.Get("tag")
		for _, u := range c.calls {
			if u.tag == tag && u.stopFinal != nil {
				u.stopFinal()
				u.stopFinal = nil
				if u.last.StatusCode < 300 {
					c.Acked = append(c.Acked, tag)
				}
			}
		}
	case sip.BYE:
		w.Send(c.At, from, sip.NewResponseFromRequest(req, 200, "OK", nil))
	default:
		w.Send(c.At, from, sip.NewResponseFromRequest(req, 501, "Not Implemented", nil))
	}
}

func (c *Callee) tagged(res *sip.Response, tag string) *sip.Response {
	if to := res.To(); to != nil {
		to.Params.Add("tag", tag) // ours, not the random one sipgo gave it
	}
	return res
}

func (c *Callee) respond(w *World, u *uas, code int, reason string) {
	res := sip.NewResponseFromRequest(u.invite, code, reason, nil)
	if code > 100 {
		c.tagged(res, u.tag)
	}
	if code >= 200 && code < 300 {
		res.AppendHeader(sip.NewHeader("Contact", fmt.Sprintf("<sip:%s@%s>", c.Name, c.At)))
		c.Sent2xx = append(c.Sent2xx, u.tag)
	}
	u.last = res
	w.Send(c.At, u.from, res)
	if code >= 200 {
		u.final = true
		for _, t := range u.timers {
			t.Stop()
		}
		u.stopFinal = retransmit(w, c.At, u.from, res, nil)
	}
}

// viaAddr is where a response to req goes: its top Via's sent-by (the simulated network has no
// NAT).
func viaAddr(req *sip.Request) netip.AddrPort {
	via := req.Via()
	a, _ := hostPort(via.Host, via.Port)
	return a
}
