package transaction

import (
	"testing"

	"github.com/emiago/sipgo/sip"
)

// FuzzKeys computes the transaction key of anything that parses as SIP: no panic, the same key
// for the same message twice, a shard within range, and a CANCEL finding its INVITE.
func FuzzKeys(f *testing.F) {
	f.Add([]byte("INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-x\r\n" +
		"From: <sip:a@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: k1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-x\r\n" +
		"From: <sip:a@example.com>;tag=1\r\nTo: <sip:bob@example.com>;tag=2\r\nCall-ID: k1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("CANCEL sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-x\r\n" +
		"From: <sip:a@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: k1\r\nCSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("CANCEL sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1\r\n" +
		"From: <sip:a@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: k2\r\nCSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1\r\n" + // RFC 2543: no magic cookie
		"From: <sip:a@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: k2\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := sip.ParseMessage(data)
		if err != nil {
			return
		}
		var k1, k2 Key
		switch m := msg.(type) {
		case *sip.Request:
			if k1, err = ServerKey(m); err != nil {
				return
			}
			k2, _ = ServerKey(m)
			if m.Method == sip.CANCEL {
				// The same request as an INVITE is the transaction the CANCEL is for (§9.2).
				inv := m.Clone()
				inv.Method = sip.INVITE
				if cseq := inv.CSeq(); cseq != nil {
					cseq.MethodName = sip.INVITE
				}
				if ki, err := ServerKey(inv); err == nil && ki != InviteKey(k1) {
					t.Fatalf("a CANCEL's INVITE key %+v, its INVITE's %+v", InviteKey(k1), ki)
				}
			}
		case *sip.Response:
			if k1, err = ClientKey(m); err != nil {
				return
			}
			k2, _ = ClientKey(m)
		}
		if k1 != k2 {
			t.Fatalf("two keys for one message: %+v %+v", k1, k2)
		}
		for _, n := range []int{1, 7, 16} {
			if s := k1.Shard(n); s < 0 || s >= n {
				t.Fatalf("shard %d of %d", s, n)
			}
		}
	})
}
