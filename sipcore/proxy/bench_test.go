package proxy

import (
	"bytes"
	"os"
	"testing"

	"github.com/emiago/sipgo/sip"

	"github.com/partysip/partysip/sipcore/transaction"
)

// BenchmarkRequestPath is one request's pure path through the proxy: parse the bytes, compute
// the transaction key, validate (§16.3), pre-process routes (§16.4), route (§16.5), build the
// forwarding copy (§16.6) and serialize it for the wire.
func BenchmarkRequestPath(b *testing.B) {
	raw, err := os.ReadFile("testdata/invite_rr.sip")
	if err != nil {
		b.Fatal(err)
	}
	local := testLocal()
	route, _ := ParseStaticRoute(`^bob@example\.com$=sip:127.0.0.1:5070`)
	router := &Router{Routes: []StaticRoute{route}, Local: local}
	parser := sip.NewParser()
	ob := Outbound{Host: "127.0.0.1", Port: 5060, Transport: "UDP"}
	var buf bytes.Buffer
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for i := 0; i < b.N; i++ {
		msg, err := parser.ParseSIP(raw)
		if err != nil {
			b.Fatal(err)
		}
		req := msg.(*sip.Request)
		req.SetSource("10.0.0.1:5062") // as the transport stamps it
		if _, err := transaction.ServerKey(req); err != nil {
			b.Fatal(err)
		}
		lh := LoopHash(req)
		if rej := Validate(req, local, lh); rej != nil {
			b.Fatal(rej.Reason)
		}
		work := req.Clone()
		PreprocessRoute(work, local)
		targets, rej := router.Decide(work)
		if rej != nil {
			b.Fatal(rej.Reason)
		}
		out, _ := Forward(work, targets[0], ForwardOptions{Branch: NewBranch(lh, "1"), RecordRoute: true, Via: ob, InPlace: true})
		buf.Reset()
		out.StringWrite(&buf)
	}
}
