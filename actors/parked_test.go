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

// TestParkedCompletedInviteResendsItsAck: a branch answered with a failure ACKs it and waits
// out Timer D parked (the case of every CANCELled branch of a forked call); a retransmitted
// final response gets the same ACK again, from its bytes, and goes no further upstream. Waits
// on shorter timers parked after it, in the same shard, still end on their own time.
func TestParkedCompletedInviteResendsItsAck(t *testing.T) {
	c := placeCall(t, "z9hG4bKparkD", "call-park-d", func(cfg *config.Config) {
		cfg.Timers.T1 = 50 * time.Millisecond // Timer G: the server side retransmits until ACKed
		cfg.Timers.T4 = 300 * time.Millisecond
		cfg.Transactions.Shards = 1
	})
	busy := sip.NewResponseFromRequest(c.fwd, 486, "Busy Here", nil)
	busy.To().Params.Add("tag", "b1")
	c.uas.sendMsg(c.proxyFrom, busy)
	ack, _ := c.uas.expectRequest(sip.ACK)
	c.uac.expectResponse(486)
	c.uac.send(c.proxy, asMethod(c.inv, sip.ACK)) // ends the server side's retransmissions

	waitFor(t, "the client INVITE to park in Completed", func() bool { return c.e.Stats().Parked.Load() == 1 })
	list, err := c.e.Transactions(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	parked := 0
	for _, tx := range list {
		if tx.Parked {
			parked++
			if tx.Kind != "ICT" || tx.State != "Completed" {
				t.Fatalf("parked %s in %s, want ICT in Completed", tx.Kind, tx.State)
			}
		}
	}
	if parked != 1 {
		t.Fatalf("listing: %+v, want one parked transaction", list)
	}

	c.uas.sendMsg(c.proxyFrom, busy) // the callee did not hear the ACK
	again, _ := c.uas.expectRequest(sip.ACK)
	if again.String() != ack.String() {
		t.Fatalf("ACK again:\n%s\nwant the first one\n%s", again, ack)
	}
	if m, _, got := c.uac.tryRecv(300 * time.Millisecond); got && m.(*sip.Response).StatusCode == 486 {
		t.Fatalf("retransmitted 486 went upstream: %s", firstLine(m))
	}

	// Timer D is at least 32 s whatever T1. A BYE's waits (Timer J 3.2 s, Timer K 0.3 s) park
	// behind it and end first.
	bye := strings.Replace(asMethod(c.inv, sip.BYE), "z9hG4bKparkD", "z9hG4bKbyeD", 1)
	c.uac.send(c.proxy, strings.Replace(bye, "CSeq: 1 BYE", "CSeq: 2 BYE", 1))
	fwdBye, _ := c.uas.expectRequest(sip.BYE)
	c.answer(fwdBye, 200, "OK")
	c.uac.expectResponse(200)
	waitFor(t, "the BYE transactions to park", func() bool { return c.e.Stats().Parked.Load() == 3 })
	waitFor(t, "their waits to end before Timer D's", func() bool { return c.e.Stats().Parked.Load() == 1 })
}
