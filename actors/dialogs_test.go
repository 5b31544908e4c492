package actors

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/partysip/partysip/config"
)

// waitFor polls cond until it holds or 5 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// inDialog turns the test INVITE into an in-dialog request of the dialog with the callee's tag.
func inDialog(inv string, m sip.RequestMethod, cseq, branch, toTag string) string {
	out := strings.Replace(inv, "INVITE sip:", string(m)+" sip:", 1)
	out = strings.Replace(out, "CSeq: 1 INVITE", "CSeq: "+cseq+" "+string(m), 1)
	i := strings.Index(out, "branch=") + len("branch=")
	j := strings.IndexByte(out[i:], ';')
	out = out[:i] + branch + out[i+j:]
	k := strings.Index(out, "To: <")
	l := strings.Index(out[k:], "\r\n")
	return out[:k+l] + ";tag=" + toTag + out[k+l:]
}

func dialogStates(t *testing.T, e *Engine) []string {
	ds, err := e.Dialogs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range ds {
		out = append(out, d.State)
	}
	return out
}

// A 2xx to a Record-Routed INVITE creates a dialog actor (Accepted), the ACK confirms it, an
// UPDATE is seen by it, the BYE ends it.
func TestDialogLifecycle(t *testing.T) {
	c := placeCall(t, "z9hG4bKdlg1", "dialog-1")
	// Operators see the call's transactions with their state while it rings.
	txs, err := c.e.Transactions(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]string{}
	for _, x := range txs {
		kinds[x.Kind] = x.State
	}
	if kinds["IST"] != "Proceeding" || kinds["ICT"] != "Calling" || len(txs) != 2 {
		t.Fatalf("live transactions: %+v", txs)
	}
	ok := sip.NewResponseFromRequest(c.fwd, 200, "OK", nil)
	ok.To().Params.Add("tag", "callee1")
	c.uas.sendMsg(c.proxyFrom, ok)
	c.uac.expectResponse(200)
	waitFor(t, "the dialog", func() bool { return c.e.Stats().Dialogs.Load() == 1 })
	waitFor(t, "Accepted", func() bool { s := dialogStates(t, c.e); return len(s) == 1 && s[0] == "Accepted" })

	c.uac.send(c.proxy, inDialog(c.inv, sip.ACK, "1", "z9hG4bKdlgack", "callee1"))
	c.uas.expectRequest(sip.ACK)
	waitFor(t, "Confirmed", func() bool { s := dialogStates(t, c.e); return len(s) == 1 && s[0] == "Confirmed" })

	c.uac.send(c.proxy, inDialog(c.inv, sip.UPDATE, "2", "z9hG4bKdlgupd", "callee1"))
	upd, _ := c.uas.expectRequest(sip.UPDATE)
	c.uas.sendMsg(c.proxyFrom, sip.NewResponseFromRequest(upd, 200, "OK", nil))
	c.uac.expectResponse(200)
	// The listing is what the dialog actor last reported to its shard: it follows shortly.
	waitFor(t, "the UPDATE in the dialog's listing", func() bool {
		ds, _ := c.e.Dialogs(context.Background())
		return len(ds) == 1 && ds[0].Requests["ACK"] == 1 && ds[0].Requests["UPDATE"] == 1 && strings.Contains(ds[0].Caller, "alice")
	})

	c.uac.send(c.proxy, inDialog(c.inv, sip.BYE, "3", "z9hG4bKdlgbye", "callee1"))
	bye, _ := c.uas.expectRequest(sip.BYE)
	c.uas.sendMsg(c.proxyFrom, sip.NewResponseFromRequest(bye, 200, "OK", nil))
	c.uac.expectResponse(200)
	waitFor(t, "the dialog to end", func() bool { return c.e.Stats().Dialogs.Load() == 0 })

	// A late retransmission of the 2xx (its ACK was slow) is still relayed, but does not bring
	// the ended dialog back (it would hold a drain for 64·T1).
	c.uas.sendMsg(c.proxyFrom, ok)
	c.uac.expectResponse(200)
	time.Sleep(50 * time.Millisecond)
	if n, live := c.e.Stats().DialogsCreated.Load(), c.e.Stats().Dialogs.Load(); n != 1 || live != 0 {
		t.Fatalf("%d dialogs created, %d live", n, live)
	}
}

// A dialog nothing goes through for its lifetime ends by itself; one never ACKed ends after
// 64·T1.
func TestDialogLifetime(t *testing.T) {
	c := placeCall(t, "z9hG4bKdlg2", "dialog-2", func(cfg *config.Config) {
		cfg.Dialogs.Lifetime = 200 * time.Millisecond
		cfg.Timers.T1 = 5 * time.Millisecond // ACK wait 320 ms
	})
	ok := sip.NewResponseFromRequest(c.fwd, 200, "OK", nil)
	ok.To().Params.Add("tag", "callee2")
	c.uas.sendMsg(c.proxyFrom, ok)
	c.uac.expectResponse(200)
	waitFor(t, "the dialog", func() bool { return c.e.Stats().Dialogs.Load() == 1 })
	c.uac.send(c.proxy, inDialog(c.inv, sip.ACK, "1", "z9hG4bKdlgack2", "callee2"))
	c.uas.expectRequestPast(sip.ACK, sip.INVITE) // T1 is 5 ms: Timer A may have fired meanwhile
	start := time.Now()
	waitFor(t, "the lifetime to end the dialog", func() bool { return c.e.Stats().Dialogs.Load() == 0 })
	if took := time.Since(start); took < 150*time.Millisecond {
		t.Fatalf("ended after %s, before its lifetime", took)
	}
}
