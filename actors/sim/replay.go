package sim

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/partysip/partysip/config"
	"github.com/partysip/partysip/sipcore/base"
)

// A Recording is one endpoint's side of a real run: what it sent and received, and when.
type Recording struct {
	Name   string
	At     netip.AddrPort // where the endpoint was
	Events []Recorded
}

// Recorded is one message of a recording.
type Recorded struct {
	Wall time.Time // when it was sent or received
	Sent bool
	Msg  sip.Message
}

// sippSeparator starts each message of a SIPp message log (-trace_msg).
const sippSeparator = "----------------------------------------------- "

// ReadSIPpLog reads a SIPp message log (sipp -trace_msg): the messages one SIPp instance sent
// and received, over UDP, with when. The endpoint's address is the sent-by of the first
// request it sent, or the Contact of the first response it sent.
func ReadSIPpLog(name string, r io.Reader) (*Recording, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	rec := &Recording{Name: name}
	blocks := strings.Split(string(data), sippSeparator)
	for _, b := range blocks[1:] {
		stamp, rest, _ := strings.Cut(b, "\n")
		wall, err := time.Parse("2006-01-02 15:04:05.000000", strings.TrimSpace(stamp))
		if err != nil {
			return nil, fmt.Errorf("%s: %q: not a SIPp message log timestamp", name, stamp)
		}
		head, body, _ := strings.Cut(rest, "\n")
		var sent bool
		switch {
		case strings.Contains(head, "message sent"):
			sent = true
		case strings.Contains(head, "message received"):
		default:
			continue // SIPp's other log lines
		}
		if !strings.HasPrefix(head, "UDP ") {
			return nil, fmt.Errorf("%s: %q: only UDP is replayed", name, head)
		}
		msg, err := parseLogged(strings.TrimLeft(body, "\r\n"))
		if err != nil {
			return nil, fmt.Errorf("%s at %s: %w", name, stamp, err)
		}
		rec.Events = append(rec.Events, Recorded{Wall: wall, Sent: sent, Msg: msg})
	}
	if len(rec.Events) == 0 {
		return nil, fmt.Errorf("%s: no SIP message in it", name)
	}
	at, err := endpointAddr(rec)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	rec.At = at
	return rec, nil
}

// parseLogged parses a logged message, cut at the end its Content-Length says (logs pad with
// blank lines).
func parseLogged(text string) (sip.Message, error) {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	head, body, _ := strings.Cut(text, "\n\n")
	n := 0
	for _, line := range strings.Split(head, "\n") {
		k, v, _ := strings.Cut(line, ":")
		if k = strings.ToLower(strings.TrimSpace(k)); k == "content-length" || k == "l" {
			n, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	b := strings.ReplaceAll(body, "\n", "\r\n")
	if len(b) < n {
		return nil, fmt.Errorf("body shorter (%d bytes) than its Content-Length (%d)", len(b), n)
	}
	return sip.ParseMessage([]byte(strings.ReplaceAll(head, "\n", "\r\n") + "\r\n\r\n" + b[:n]))
}

// endpointAddr is where a recorded endpoint was: the sent-by of its first request, else the
// Contact of its first response.
func endpointAddr(rec *Recording) (netip.AddrPort, error) {
	for _, e := range rec.Events {
		if !e.Sent {
			continue
		}
		switch m := e.Msg.(type) {
		case *sip.Request:
			if via := m.Via(); via != nil {
				return hostPort(via.Host, via.Port)
			}
		case *sip.Response:
			if ct := m.Contact(); ct != nil {
				return hostPort(ct.Address.Host, ct.Address.Port)
			}
		}
	}
	return netip.AddrPort{}, errors.New("cannot tell where the endpoint was (no Via in a request, no Contact in a response it sent)")
}

func hostPort(host string, port int) (netip.AddrPort, error) {
	a, err := netip.ParseAddr(base.TrimBrackets(host))
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q is not an address", host)
	}
	if port == 0 {
		port = base.DefaultPort("UDP")
	}
	return netip.AddrPortFrom(a, uint16(port)), nil
}

// ReadPcap reads the SIP over UDP of a capture file with tshark and splits it into one
// recording per endpoint: every address that talked to proxy.
func ReadPcap(path string, proxy netip.AddrPort) ([]*Recording, error) {
	out, err := exec.Command("tshark", "-r", path, "-Y", "sip && udp", "-T", "fields", "-E", "separator=|",
		"-e", "frame.time_epoch", "-e", "ip.src", "-e", "udp.srcport", "-e", "ip.dst", "-e", "udp.dstport", "-e", "udp.payload").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("tshark -r %s: %v: %s", path, err, bytes.TrimSpace(ee.Stderr))
		}
		return nil, fmt.Errorf("tshark: %w (install Debian's tshark)", err)
	}
	byAddr := map[netip.AddrPort]*Recording{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Split(sc.Text(), "|")
		if len(f) != 6 {
			continue
		}
		secs, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return nil, fmt.Errorf("%s: time %q", path, f[0])
		}
		src, err1 := addrPort(f[1], f[2])
		dst, err2 := addrPort(f[3], f[4])
		payload, err3 := hex.DecodeString(strings.ReplaceAll(f[5], ":", ""))
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		msg, err := sip.ParseMessage(payload)
		if err != nil {
			continue // not a whole SIP message (a fragment, a keep-alive)
		}
		wall := time.Unix(0, int64(secs*1e9))
		for _, side := range []struct {
			at   netip.AddrPort
			sent bool
		}{{src, true}, {dst, false}} {
			if side.at == proxy || (side.sent && dst != proxy) || (!side.sent && src != proxy) {
				continue // only what endpoints and the proxy said to each other
			}
			rec := byAddr[side.at]
			if rec == nil {
				rec = &Recording{Name: side.at.String(), At: side.at}
				byAddr[side.at] = rec
			}
			rec.Events = append(rec.Events, Recorded{Wall: wall, Sent: side.sent, Msg: msg})
		}
	}
	if len(byAddr) == 0 {
		return nil, fmt.Errorf("%s: no SIP over UDP to or from %s in it", path, proxy)
	}
	var recs []*Recording
	for _, r := range byAddr {
		recs = append(recs, r)
	}
	slices.SortFunc(recs, func(a, b *Recording) int { return a.At.Compare(b.At) })
	return recs, nil
}

func addrPort(ip, port string) (netip.AddrPort, error) {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return netip.AddrPort{}, err
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return netip.AddrPort{}, fmt.Errorf("port %q", port)
	}
	return netip.AddrPortFrom(a, uint16(p)), nil
}

// replayer plays a recorded endpoint against the simulated proxy, causally: each message it
// sent goes out as long after the message that preceded it in the recording (the Nth one of
// that name and Call-ID) arrives in the simulation as it did in the real run, or at its own
// time when it preceded everything. Responses are fitted to the request they answer in the
// simulation (its Via and Record-Route); in-dialog requests take the route set the simulated
// proxy gave (its Record-Route, signed with the simulation's secret, not the real daemon's).
type replayer struct {
	rec   *Recording
	proxy netip.AddrPort
	start time.Time // the wall time the run is aligned to
	// plan: what to send on the Nth arrival of a name for a Call-ID ("200/INVITE call-id #2").
	plan     map[string][]planned
	initial  []planned
	arrivals map[string]int
	requests map[string]*sip.Request // the last request received, by Call-ID, CSeq and method
	routes   map[string][]sip.Header // the route set of each dialog, by Call-ID and To tag
	received []sip.Message           // what it received in the simulation
}

type planned struct {
	after time.Duration
	msg   sip.Message
}

func arrivalKey(msg sip.Message, n int) string {
	return name(msg) + " " + base.CallID(msg) + " #" + strconv.Itoa(n)
}

func newReplayer(rec *Recording, proxy netip.AddrPort, start time.Time) *replayer {
	r := &replayer{rec: rec, proxy: proxy, start: start, plan: map[string][]planned{}, arrivals: map[string]int{},
		requests: map[string]*sip.Request{}, routes: map[string][]sip.Header{}}
	counts := map[string]int{}
	var last *Recorded
	lastKey := ""
	for i := range rec.Events {
		e := &rec.Events[i]
		if !e.Sent {
			k := name(e.Msg) + " " + base.CallID(e.Msg)
			counts[k]++
			last, lastKey = e, arrivalKey(e.Msg, counts[k])
			continue
		}
		if last == nil {
			r.initial = append(r.initial, planned{after: e.Wall.Sub(start), msg: e.Msg})
			continue
		}
		r.plan[lastKey] = append(r.plan[lastKey], planned{after: e.Wall.Sub(last.Wall), msg: e.Msg})
	}
	return r
}

// Addr is where the recorded endpoint was.
func (r *replayer) Addr() netip.AddrPort { return r.rec.At }

// Start schedules what the endpoint sent before it received anything.
func (r *replayer) Start(w *World) {
	for _, p := range r.initial {
		w.After(max(p.after, 0), func() { r.send(w, p.msg) })
	}
}

// Receive notes the arrival and sends what followed it in the recording.
func (r *replayer) Receive(w *World, msg sip.Message) {
	r.received = append(r.received, msg)
	switch m := msg.(type) {
	case *sip.Request:
		if c := m.CSeq(); c != nil {
			r.requests[base.CallID(m)+" "+strconv.Itoa(int(c.SeqNo))+" "+string(c.MethodName)] = m
		}
	case *sip.Response:
		if m.StatusCode/100 == 2 && m.CSeq() != nil && m.CSeq().MethodName == sip.INVITE {
			tag, _ := m.To().Params.Get("tag")
			var set []sip.Header
			rrs := m.GetHeaders("Record-Route")
			for i := len(rrs) - 1; i >= 0; i-- {
				set = append(set, sip.NewHeader("Route", rrs[i].Value()))
			}
			r.routes[base.CallID(m)+" "+tag] = set
		}
	}
	k := name(msg) + " " + base.CallID(msg)
	r.arrivals[k]++
	for _, p := range r.plan[arrivalKey(msg, r.arrivals[k])] {
		w.After(p.after, func() { r.send(w, p.msg) })
	}
}

// send puts a recorded message on the simulated network, fitted to the simulation.
func (r *replayer) send(w *World, recorded sip.Message) {
	var b bytes.Buffer
	recorded.StringWrite(&b)
	msg, err := sip.ParseMessage(b.Bytes()) // a copy to fit
	if err != nil {
		return
	}
	switch m := msg.(type) {
	case *sip.Response:
		c := m.CSeq()
		if c == nil {
			return
		}
		req := r.requests[base.CallID(m)+" "+strconv.Itoa(int(c.SeqNo))+" "+string(c.MethodName)]
		if req == nil {
			return // the simulation never asked it that: nothing to answer
		}
		removeAll(m, "Via")
		for _, v := range req.GetHeaders("Via") {
			m.AppendHeader(sip.HeaderClone(v))
		}
		removeAll(m, "Record-Route")
		for _, rr := range req.GetHeaders("Record-Route") {
			m.AppendHeader(sip.HeaderClone(rr))
		}
		w.Send(r.rec.At, viaAddr(req), m)
	case *sip.Request:
		if base.HasToTag(m) && m.Method != sip.ACK || (m.Method == sip.ACK && len(m.GetHeaders("Route")) > 0) {
			tag, _ := m.To().Params.Get("tag")
			if set, ok := r.routes[base.CallID(m)+" "+tag]; ok {
				removeAll(m, "Route")
				for _, h := range set {
					m.AppendHeader(sip.HeaderClone(h))
				}
			}
		}
		w.Send(r.rec.At, r.proxy, m)
	}
}

// Replay runs recordings against the simulated proxy configured by cfg, listening where the
// real one did (proxy), and checks the invariants; recordings that sent an INVITE without a To
// tag are the callers. It also reports where the simulation did not do what the recording
// shows (a final response an endpoint got in one and not the other).
func Replay(recs []*Recording, cfg *config.Config, proxy netip.AddrPort) (*Result, error) {
	if len(recs) == 0 {
		return nil, errors.New("replay: no recording")
	}
	start := recs[0].Events[0].Wall
	for _, r := range recs {
		if r.Events[0].Wall.Before(start) {
			start = r.Events[0].Wall
		}
	}
	w, err := NewWorld(1, cfg, proxy, ExhaustiveFaults)
	if err != nil {
		return nil, err
	}
	defer w.Close()
	w.names = map[netip.AddrPort]string{proxy: "proxy"}
	var uacs, uases []netip.AddrPort
	var players []*replayer
	for _, rec := range recs {
		p := newReplayer(rec, proxy, start)
		players = append(players, p)
		w.Add(p)
		w.names[rec.At] = rec.Name
		if calls(rec) {
			uacs = append(uacs, rec.At)
		} else {
			uases = append(uases, rec.At)
		}
	}
	w.routeHops(cfg)
	for _, p := range players {
		p.Start(w)
	}
	res := &Result{Scenario: "replay", World: w}
	if err := w.Run(Horizon, MaxSteps); err != nil {
		res.Violations = append(res.Violations, Violation{Invariant: "quiet", Detail: err.Error()})
	}
	res.Violations = append(res.Violations, CheckTrace(w, uacs, uases)...)
	var outcome []string
	for _, p := range players {
		got, want := finalsOf(p.received), finalsOfRecorded(p.rec)
		if got != want {
			res.Violations = append(res.Violations, Violation{Invariant: "replay",
				Detail: fmt.Sprintf("%s got %s in the simulation, %s in the recording", p.rec.Name, orNone(got), orNone(want))})
		}
		if got != "" {
			outcome = append(outcome, p.rec.Name+" "+got)
		}
	}
	res.Outcome, res.Steps, res.Races = strings.Join(outcome, "; "), w.Steps(), w.engine.Races()
	return res, nil
}

// calls reports whether a recording placed a call (sent an INVITE without a To tag).
func calls(rec *Recording) bool {
	for _, e := range rec.Events {
		if req, ok := e.Msg.(*sip.Request); ok && e.Sent && req.Method == sip.INVITE && !base.HasToTag(req) {
			return true
		}
	}
	return false
}

// finalsOf lists the distinct final responses to INVITEs among msgs: "200", "200+200", "487".
func finalsOf(msgs []sip.Message) string {
	var out []string
	seen := map[string]bool{}
	for _, msg := range msgs {
		if m, ok := msg.(*sip.Response); ok && m.StatusCode >= 200 && m.CSeq() != nil && m.CSeq().MethodName == sip.INVITE {
			tag, _ := m.To().Params.Get("tag")
			k := fmt.Sprintf("%d %s", m.StatusCode, tag)
			if !seen[k] {
				seen[k] = true
				out = append(out, strconv.Itoa(m.StatusCode))
			}
		}
	}
	return strings.Join(out, "+")
}

func finalsOfRecorded(rec *Recording) string {
	var got []sip.Message
	for _, e := range rec.Events {
		if !e.Sent {
			got = append(got, e.Msg)
		}
	}
	return finalsOf(got)
}

func orNone(s string) string {
	if s == "" {
		return "no final response"
	}
	return s
}

// removeAll removes every header called name (sipgo's RemoveHeader removes the first).
func removeAll(m interface {
	GetHeader(string) sip.Header
	RemoveHeader(string) bool
}, name string) {
	for m.GetHeader(name) != nil && m.RemoveHeader(name) {
	}
}
