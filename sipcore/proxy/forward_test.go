package proxy

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/partysip/partysip/sipcore/base"
)

var update = flag.Bool("update", false, "rewrite golden files")

func testLocal() *base.Local {
	return &base.Local{Addrs: []base.HostPort{{Host: "127.0.0.1", Port: 5060}}, Domains: []string{"example.com"}}
}

func mustParse(t testing.TB, raw []byte) *sip.Request {
	t.Helper()
	msg, err := sip.ParseMessage(raw)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	req, ok := msg.(*sip.Request)
	if !ok {
		t.Fatalf("not a request")
	}
	return req
}

// TestForwardGolden runs each testdata/*.sip request through the §16.4–§16.6 pipeline
// (pre-process routes, decide, forward) and compares the result with testdata/*.golden: one
// file per forwarding transformation. Lines starting with "#" at the top of an input set the
// case up instead of the defaults:
//
//	# target: URI           the target found by location (the Request-URI becomes it)
//	# path: URI             a Path value of that target (repeatable), sent as a Route
//	# inbound: TRANSPORT    the request arrived over this transport (double Record-Route)
//	# stateless             the branch is the §16.11 hash of the request
//	# no-record-route       record_route: false
func TestForwardGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.sip")
	if len(files) < 9 {
		t.Fatalf("%d golden inputs, want one per transformation (9)", len(files))
	}
	local := testLocal()
	route, err := ParseStaticRoute(`^bob@example\.com$=sip:127.0.0.1:5070`)
	if err != nil {
		t.Fatal(err)
	}
	router := &Router{Routes: []StaticRoute{route}, Local: local}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			setup, msg := splitSetup(string(raw))
			in := mustParse(t, []byte(msg))
			orig := in.String()
			req := in.Clone()
			strict, own := PreprocessRoute(req, local)
			targets, rej := router.Decide(req)
			if rej != nil {
				t.Fatalf("rejected: %d %s", rej.Code, rej.Reason)
			}
			opt := ForwardOptions{
				Branch:      NewBranch(LoopHash(in), "1"),
				RecordRoute: true,
				Via:         Outbound{Host: "127.0.0.1", Port: 5060, Transport: "UDP"},
			}
			target := targets[0]
			for _, line := range setup {
				key, val, _ := strings.Cut(line, ": ")
				switch key {
				case "target":
					target = Target{}
					if err := sip.ParseUri(val, &target.URI); err != nil {
						t.Fatal(err)
					}
				case "path":
					var u sip.Uri
					if err := sip.ParseUri(val, &u); err != nil {
						t.Fatal(err)
					}
					target.Routes = append(target.Routes, u)
				case "inbound":
					opt.Inbound = &Outbound{Host: "127.0.0.1", Port: 5060, Transport: val}
				case "stateless":
					opt.Branch = StatelessBranch(in)
				case "no-record-route":
					opt.RecordRoute = false
				default:
					t.Fatalf("unknown setup line %q", line)
				}
			}
			out, hop := Forward(req, target, opt)
			if in.String() != orig {
				t.Fatal("Forward modified its input")
			}
			var b strings.Builder
			b.WriteString("# strict previous hop: ")
			b.WriteString(map[bool]string{true: "yes", false: "no"}[strict])
			b.WriteString(", removed own route: ")
			b.WriteString(map[bool]string{true: "yes", false: "no"}[own])
			b.WriteString("\n# next hop: " + hop.Transport + " " + hop.Addr() + "\n")
			b.WriteString(strings.ReplaceAll(out.String(), "\r\n", "\n"))
			golden := strings.TrimSuffix(f, ".sip") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if b.String() != string(want) {
				t.Fatalf("mismatch with %s:\n--- got\n%s\n--- want\n%s", golden, b.String(), want)
			}
		})
	}
}

// splitSetup separates the "# ..." setup lines at the top of a golden input from the message,
// whose line ends become CRLF.
func splitSetup(raw string) ([]string, string) {
	var setup []string
	for strings.HasPrefix(raw, "#") {
		line, rest, _ := strings.Cut(raw, "\n")
		setup = append(setup, strings.TrimSpace(strings.TrimPrefix(line, "#")))
		raw = rest
	}
	return setup, raw
}

func TestMaxForwardsNotShared(t *testing.T) {
	raw, _ := os.ReadFile("testdata/invite_rr.sip")
	in := mustParse(t, raw)
	out, _ := Forward(in, Target{URI: in.Recipient}, ForwardOptions{Branch: "z9hG4bK-x", Via: Outbound{Host: "127.0.0.1", Port: 5060, Transport: "UDP"}})
	if in.MaxForwards().Val() != 70 || out.MaxForwards().Val() != 69 {
		t.Fatalf("max-forwards in=%d out=%d", in.MaxForwards().Val(), out.MaxForwards().Val())
	}
}

// TestDoubleRecordRoute: a request that changes transport on its way through gets one
// Record-Route per side, and the in-dialog requests that come back with both values in their
// Route set have both removed (§16.4), from either direction.
func TestDoubleRecordRoute(t *testing.T) {
	raw, _ := os.ReadFile("testdata/invite_rr.sip")
	in := mustParse(t, raw)
	udpIn := Outbound{Host: "127.0.0.1", Port: 5060, Transport: "UDP"}
	tcpOut := Outbound{Host: "127.0.0.1", Port: 5061, Transport: "TCP"}
	out, _ := Forward(in, Target{URI: in.Recipient}, ForwardOptions{Branch: "z9hG4bK-1", RecordRoute: true, Via: tcpOut, Inbound: &udpIn})
	rrs := out.GetHeaders("Record-Route")
	if len(rrs) != 2 || rrs[0].Value() != "<sip:127.0.0.1:5061;transport=tcp;lr>" || rrs[1].Value() != "<sip:127.0.0.1:5060;lr>" {
		t.Fatalf("record-routes: %v", rrs)
	}
	same, _ := Forward(in, Target{URI: in.Recipient}, ForwardOptions{Branch: "z9hG4bK-2", RecordRoute: true, Via: udpIn, Inbound: &udpIn})
	if n := len(same.GetHeaders("Record-Route")); n != 1 {
		t.Fatalf("no transport change: %d Record-Routes, want 1", n)
	}

	local := &base.Local{Addrs: []base.HostPort{{Host: "127.0.0.1", Port: 5060}, {Host: "127.0.0.1", Port: 5061}}}
	for _, routes := range []string{
		"Route: <sip:127.0.0.1:5061;transport=tcp;lr>, <sip:127.0.0.1:5060;lr>, <sip:10.0.0.9;lr>", // from the callee
		"Route: <sip:127.0.0.1:5060;lr>, <sip:127.0.0.1:5061;transport=tcp;lr>, <sip:10.0.0.9;lr>", // from the caller
	} {
		bye := reqFrom(t, "BYE sip:alice@10.0.0.1 SIP/2.0", "Via: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKb", routes,
			"To: <sip:a@b>;tag=1", "From: <sip:c@d>;tag=2", "Call-ID: d", "CSeq: 2 BYE")
		PreprocessRoute(bye, local)
		if rs := bye.GetHeaders("Route"); len(rs) != 1 || rs[0].Value() != "<sip:10.0.0.9;lr>" {
			t.Fatalf("after pre-processing %q: %v", routes, rs)
		}
	}
}

// A contact registered through edge proxies (Path, RFC 3327) is reached through them: their
// URIs become the first Route values, in order, and the first is the next hop.
func TestForwardThroughPath(t *testing.T) {
	raw, err := os.ReadFile("testdata/invite_rr.sip")
	if err != nil {
		t.Fatal(err)
	}
	req := mustParse(t, raw)
	var contact, edge1, edge2 sip.Uri
	for s, u := range map[string]*sip.Uri{"sip:bob@192.168.1.20:5062": &contact, "sip:edge1.example.net:5080;lr": &edge1, "sip:edge2.example.net;lr": &edge2} {
		if err := sip.ParseUri(s, u); err != nil {
			t.Fatal(err)
		}
	}
	out, hop := Forward(req, Target{URI: contact, Routes: []sip.Uri{edge1, edge2}}, ForwardOptions{
		Branch: "z9hG4bK-p", Via: Outbound{Host: "127.0.0.1", Port: 5060, Transport: "UDP"},
	})
	if hop.Addr() != "edge1.example.net:5080" {
		t.Fatalf("next hop %s", hop.Addr())
	}
	var routes []string
	for _, h := range out.GetHeaders("Route") {
		routes = append(routes, h.Value())
	}
	if strings.Join(routes, " ") != "<sip:edge1.example.net:5080;lr> <sip:edge2.example.net;lr>" {
		t.Fatalf("routes %v", routes)
	}
	if out.Recipient.String() != "sip:bob@192.168.1.20:5062" {
		t.Fatalf("request-uri %s", out.Recipient.String())
	}
}
