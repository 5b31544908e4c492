package maxfwd

import (
	"testing"

	"github.com/partysip/partysip/actors/plugin"
	"github.com/partysip/partysip/actors/plugins/internal/plugintest"
)

func TestMaxFwd(t *testing.T) {
	if r := plugintest.Invite(t, "sip:b@example.com", "Max-Forwards: 0"); (&MaxFwd{}).Serve(r) != plugin.Answered || r.Answer.Code != 483 {
		t.Fatalf("Max-Forwards 0: %+v", r.Answer)
	}
	r, _ := plugintest.Request(t, "INVITE sip:b@example.com SIP/2.0", "Max-Forwards: 200",
		"From: <sip:a@example.org>;tag=1", "To: <sip:b@example.com>", "CSeq: 1 INVITE")
	if (&MaxFwd{Limit: 16}).Serve(r) != plugin.Continue || r.Work.MaxForwards().Val() != 16 {
		t.Fatalf("capped: %d", r.Work.MaxForwards().Val())
	}
	if r.Received.MaxForwards().Val() != 200 || !r.OwnsWork() {
		t.Fatal("the received request was edited, not copied")
	}
	r, _ = plugintest.Request(t, "INVITE sip:b@example.com SIP/2.0", "Max-Forwards: 200",
		"From: <sip:a@example.org>;tag=1", "To: <sip:b@example.com>", "CSeq: 1 INVITE")
	if (&MaxFwd{}).Serve(r) != plugin.Continue || r.Work.MaxForwards().Val() != 200 {
		t.Fatal("limit 0 changed Max-Forwards")
	}
	if r.OwnsWork() {
		t.Fatal("a request nothing edited was copied")
	}
}
