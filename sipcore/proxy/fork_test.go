package proxy

import (
	"os"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

func TestForkPlan(t *testing.T) {
	ts := []Target{{Q: 500}, {Q: 0}, {Q: 1000}, {Q: 500}, {Q: 100}}
	if got := ForkPlan(ts, Parallel); len(got) != 1 || len(got[0]) != 5 {
		t.Fatalf("parallel: %v", got)
	}
	got := ForkPlan(ts, Sequential)
	want := [][]int{{1, 2}, {0, 3}, {4}} // no q = 1.0, equal q together, in the given order
	if len(got) != len(want) {
		t.Fatalf("sequential: %v, want %v", got, want)
	}
	for i := range want {
		if len(got[i]) != len(want[i]) || got[i][0] != want[i][0] || got[i][len(got[i])-1] != want[i][len(want[i])-1] {
			t.Fatalf("sequential: %v, want %v", got, want)
		}
	}
	if ForkPlan(nil, Sequential) != nil {
		t.Fatal("empty target set")
	}
	if m, ok := ParseForkMode("sequential"); !ok || m != Sequential {
		t.Fatal("ParseForkMode")
	}
	if _, ok := ParseForkMode("serial"); ok {
		t.Fatal("unknown mode accepted")
	}
}

func TestMergeChallenges(t *testing.T) {
	resp := func(code int, hdr string) *sip.Response {
		r := sip.NewResponse(code, "x")
		if hdr != "" {
			name, v, _ := strings.Cut(hdr, ": ")
			r.AppendHeader(sip.NewHeader(name, v))
		}
		return r
	}
	a := resp(407, `Proxy-Authenticate: Digest realm="a.example", nonce="1"`)
	b := resp(401, `WWW-Authenticate: Digest realm="b.example", nonce="2"`)
	c := resp(486, "")
	out := MergeChallenges(a, []*sip.Response{a, b, c, nil})
	if len(out.GetHeaders("Proxy-Authenticate")) != 1 || len(out.GetHeaders("WWW-Authenticate")) != 1 {
		t.Fatalf("merged:\n%s", out)
	}
	if len(a.GetHeaders("WWW-Authenticate")) != 0 {
		t.Fatal("best was modified")
	}
	if MergeChallenges(c, []*sip.Response{a, b}) != c {
		t.Fatal("a non-challenge best response changed")
	}
}

// Stateful and stateless branches never look alike, whatever the loop hash begins with (a
// stateful branch taken for a stateless one had its responses routed around its transaction).
func TestBranchKindsDistinct(t *testing.T) {
	for _, loop := range []string{"s5fqfui8tfaf", "l0", "abc"} {
		b := NewBranch(loop, "x1")
		if IsStatelessBranch(b) || BranchLoopHash(b) != loop {
			t.Errorf("stateful %s: stateless=%v loop=%q", b, IsStatelessBranch(b), BranchLoopHash(b))
		}
	}
	raw, _ := os.ReadFile("testdata/invite_rr.sip")
	req := mustParse(t, raw)
	sb := StatelessBranch(req)
	if !IsStatelessBranch(sb) || BranchLoopHash(sb) != LoopHash(req) {
		t.Errorf("stateless %s: it must carry the loop hash %s (§16.3 step 4 in stateless mode)", sb, LoopHash(req))
	}
	// The ACK for a non-2xx (with the response's To tag) and a CANCEL share the INVITE's branch.
	ack := mustParse(t, []byte(strings.Replace(strings.Replace(string(raw), "INVITE", "ACK", 2), "<sip:bob@example.com>", "<sip:bob@example.com>;tag=resp", 1)))
	cancel := mustParse(t, []byte(strings.Replace(string(raw), "INVITE", "CANCEL", 2)))
	if StatelessBranch(ack) != sb || StatelessBranch(cancel) != sb {
		t.Errorf("ACK %s, CANCEL %s, want the INVITE's %s", StatelessBranch(ack), StatelessBranch(cancel), sb)
	}
}
