package proxy

import (
	"strconv"

	"github.com/emiago/sipgo/sip"
	"github.com/partysip/partysip/sipcore/base"
)

// StripVia returns a copy of res with our top Via removed (§16.7 step 3), ready to go upstream,
// and whether there is a Via left to send it to. A response with no Via left was meant for us.
func StripVia(res *sip.Response) (*sip.Response, bool) {
	out := res.Clone()
	out.RemoveHeader("Via")
	return out, out.Via() != nil
}

// ResponseHop is where a response goes over an unreliable transport: the top Via's received
// (else sent-by host) and rport (else sent-by port, else 5060) — RFC 3261 §18.2.2, RFC 3581 §4.
func ResponseHop(via *sip.ViaHeader) Hop {
	host := via.Host
	port := via.Port
	if r, ok := via.Params.Get("received"); ok && r != "" {
		host = r
	}
	if rp, ok := via.Params.Get("rport"); ok && rp != "" {
		if p, err := strconv.Atoi(rp); err == nil && p > 0 && p < 65536 {
			port = p
		}
	}
	if port == 0 {
		port = base.DefaultPort(via.Transport)
	}
	return Hop{Host: base.TrimBrackets(host), Port: port, Transport: via.Transport}
}

// StampReceived applies RFC 3261 §18.2.1 and RFC 3581 §4 to a request's top Via as it arrives
// from srcHost:srcPort: add received when the sent-by host differs from the source, fill rport
// when the client asked for it. The caller must own via.
//
// What the client wrote itself never decides where responses go: a received it put there is
// overwritten with the real source (it would aim our responses at a third party), and so is an
// rport it gave a value.
func StampReceived(via *sip.ViaHeader, srcHost string, srcPort int) {
	if base.TrimBrackets(via.Host) != srcHost || via.Params.Has("received") {
		setParam(&via.Params, "received", srcHost)
	}
	if via.Params.Has("rport") {
		setParam(&via.Params, "received", srcHost)
		setParam(&via.Params, "rport", strconv.Itoa(srcPort))
	}
}

func setParam(p *sip.HeaderParams, k, v string) {
	if *p == nil {
		*p = sip.NewParams()
	}
	p.Add(k, v)
}

// Best chooses the response to send upstream once every branch has a final response
// (§16.7 step 6): a 6xx if there is one, else the lowest class, preferring within 4xx the
// responses a UAC can act on (401, 407, 415, 420, 484). codes holds one final status per branch;
// 0 stands for a branch that ended without a response and counts as 408. The returned index
// points into codes; upstreamCode is the status to send (a 503 becomes 500).
func Best(codes []int) (index, upstreamCode int) {
	index = -1
	bestRank := 1 << 30
	for i, c := range codes {
		if c == 0 {
			c = 408
		}
		if r := rank(c); r < bestRank {
			bestRank, index = r, i
		}
	}
	if index < 0 {
		return -1, 408
	}
	upstreamCode = codes[index]
	if upstreamCode == 0 {
		upstreamCode = 408
	}
	if upstreamCode == 503 {
		// §16.7 step 6: a 503 from downstream must not make upstream think we are overloaded.
		upstreamCode = 500
	}
	return index, upstreamCode
}

// rank orders final responses: smaller is better.
func rank(code int) int {
	class := code / 100
	switch {
	case class == 6:
		return 0
	case class == 2:
		return 1
	}
	r := class * 1000
	switch code {
	case 401, 407, 415, 420, 484:
		// Preferred within 4xx: the UAC can fix and retry.
	case 408:
		r += 900 // a timeout says least
	default:
		r += 100 + code%100
	}
	return r
}
