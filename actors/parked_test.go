package actors

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/partysip/partysip/config"
)

// TestParkedTransactionsActLikeTheirMachines walks a call whose transactions hand their final
// waits to the shards (parked.go) and checks each parked wait does what its machine would:
// the accepted INVITE absorbs a retransmitted INVITE and answers a late CANCEL with 200, the
// accepted client INVITE relays a retransmitted 2xx, the completed BYE answers its
// retransmission with the same bytes without forwarding it again; then every wait ends on
// time and the transaction gauges are back to zero.
func TestParkedTransactionsActLikeTheirMachines(t *testing.T) {
	c := placeCall(t, "z9hG4bKpark1", "call-park", func(cfg *config.Config) {
		cfg.Timers.T1 = 50 * time.Millisecond // 64*T1 = 3.2 s
		cfg.Timers.T4 = 500 * time.Millisecond
	})
	ok := sip.NewResponseFromRequest(c.fwd, 200, "OK", nil)
	ok.To().Params.Add("tag", "b1")
	c.uas.sendMsg(c.proxyFrom, ok)
	c.uac.expectResponse(200)

	waitFor(t, "the INVITE transactions to park", func() bool {
		return c.e.Stats().Parked.Load() == 2 && c.e.Stats().LiveTx.Load() == 0
	})
	list, err := c.e.Transactions(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || !list[0].Parked || list[0].State != "Accepted" || list[1].State != "Accepted" {
		t.Fatalf("listing: %+v, want two parked transactions in Accepted", list)
	}

	c.uac.send(c.proxy, c.inv) // a retransmitted INVITE: absorbed (RFC 6026)
	if m, _, got := c.uas.tryRecv(300 * time.Millisecond); got {
		t.Fatalf("retransmitted INVITE reached the callee: %s", firstLine(m))
	}
	if m, _, got := c.uac.tryRecv(100 * time.Millisecond); got {
		t.Fatalf("retransmitted INVITE was answered: %s", firstLine(m))
	}
	c.uas.sendMsg(c.proxyFrom, ok) // the callee retransmits its 2xx: relayed
	c.uac.expectResponse(200)
	c.uac.send(c.proxy, asMethod(c.inv, sip.CANCEL)) // too late, but the context existed
	if res := c.uac.expectResponse(200); res.CSeq().MethodName != sip.CANCEL {
		t.Fatalf("200 for %s, want CANCEL", res.CSeq().MethodName)
	}
	if m, _, got := c.uas.tryRecv(200 * time.Millisecond); got {
		t.Fatalf("late CANCEL reached the callee: %s", firstLine(m))
	}

	bye := strings.Replace(asMethod(c.inv, sip.BYE), "z9hG4bKpark1", "z9hG4bKbye1", 1)
	bye = strings.Replace(bye, "CSeq: 1 BYE", "CSeq: 2 BYE", 1)
	c.uac.send(c.proxy, bye)
	fwdBye, _ := c.uas.expectRequest(sip.BYE)
	c.answer(fwdBye, 200, "OK")
	first := c.uac.expectResponse(200)
	waitFor(t, "the BYE transactions to park", func() bool { return c.e.Stats().Parked.Load() == 4 })
	c.uac.send(c.proxy, bye) // retransmitted: the same final response, from its bytes
	again := c.uac.expectResponse(200)
	if again.String() != first.String() {
		t.Fatalf("retransmitted BYE got\n%s\nwant the first answer\n%s", again, first)
	}
	if m, _, got := c.uas.tryRecv(300 * time.Millisecond); got {
		t.Fatalf("retransmitted BYE reached the callee: %s", firstLine(m))
	}

	started := time.Now()
	waitFor(t, "the parked waits to end", func() bool { return c.e.Stats().Parked.Load() == 0 })
	if took := time.Since(started); took < time.Second {
		t.Fatalf("parked waits ended after %v, before 64*T1", took)
	}
	for k := range c.e.c.metrics.txStates {
		for s := range c.e.c.metrics.txStates[k] {
			if v := c.e.c.metrics.txStates[k][s].Load(); v != 0 {
				t.Errorf("transaction gauge kind %d state %d = %d after the waits", k, s, v)
			}
		}
	}
	// After its wait a BYE is a new transaction again: forwarded.
	c.uac.send(c.proxy, bye)
	c.uas.expectRequest(sip.BYE)
}
