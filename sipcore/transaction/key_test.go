package transaction

import (
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

func parseMsg(t *testing.T, lines ...string) sip.Message {
	t.Helper()
	m, err := sip.ParseMessage([]byte(strings.Join(lines, "\r\n") + "\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func request(t *testing.T, method, via, toTag string) *sip.Request {
	to := "To: <sip:bob@example.com>"
	if toTag != "" {
		to += ";tag=" + toTag
	}
	return parseMsg(t, method+" sip:bob@example.com SIP/2.0", "Via: "+via, "From: <sip:a@example.org>;tag=f1",
		to, "Call-ID: k1", "CSeq: 7 "+method).(*sip.Request)
}

// TestServerKey covers §17.2.3 matching: ACK to the INVITE, CANCEL apart but pointing to its
// INVITE, sent-by part of the key, and the RFC 2543 fallback.
func TestServerKey(t *testing.T) {
	via := "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc"
	key := func(r *sip.Request) Key {
		k, err := ServerKey(r)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	inv := key(request(t, "INVITE", via, ""))
	if got := key(request(t, "ACK", via, "t9")); got != inv {
		t.Fatalf("ACK key %+v != INVITE key %+v", got, inv)
	}
	cancel := key(request(t, "CANCEL", via, ""))
	if cancel == inv || InviteKey(cancel) != inv {
		t.Fatalf("CANCEL key %+v must differ from, and point to, %+v", cancel, inv)
	}
	if other := key(request(t, "INVITE", "SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKabc", "")); other == inv {
		t.Fatal("same branch from another sent-by must be another transaction")
	}
	if cancel.Shard(16) != inv.Shard(16) {
		t.Fatal("CANCEL and INVITE must land on the same shard")
	}

	// RFC 2543: no magic cookie. The ACK for a non-2xx carries the To tag the response added
	// and must still match its INVITE; a new CSeq must not.
	old := "SIP/2.0/UDP 10.0.0.1:5060;branch=1234"
	inv2543 := key(request(t, "INVITE", old, ""))
	if got := key(request(t, "ACK", old, "t9")); got != inv2543 {
		t.Fatalf("2543 ACK key %+v != INVITE key %+v", got, inv2543)
	}
	if !strings.HasPrefix(inv2543.Branch, "2543|") {
		t.Fatalf("2543 key not derived: %+v", inv2543)
	}
	noBranch := key(request(t, "OPTIONS", "SIP/2.0/UDP 10.0.0.1:5060", ""))
	if noBranch.Branch == "" {
		t.Fatal("a request without branch still needs a key")
	}

	if _, err := ServerKey(parseMsg(t, "OPTIONS sip:x SIP/2.0", "Call-ID: 1").(*sip.Request)); err != ErrNoVia {
		t.Fatalf("missing Via: %v", err)
	}
}

func TestClientKey(t *testing.T) {
	res := parseMsg(t, "SIP/2.0 200 OK", "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-ps1.2",
		"Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx", "CSeq: 3 INVITE", "Call-ID: c").(*sip.Response)
	k, err := ClientKey(res)
	if err != nil {
		t.Fatal(err)
	}
	if k != ClientKeyFor("z9hG4bK-ps1.2", sip.INVITE) {
		t.Fatalf("client key %+v", k)
	}
	cres := parseMsg(t, "SIP/2.0 200 OK", "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-ps1.2", "CSeq: 3 CANCEL", "Call-ID: c").(*sip.Response)
	ck, _ := ClientKey(cres)
	if ck == k || ck != ClientKeyFor("z9hG4bK-ps1.2", sip.CANCEL) {
		t.Fatalf("CANCEL response must match the CANCEL transaction: %+v", ck)
	}
	if k.Shard(8) != ck.Shard(8) {
		t.Fatal("INVITE and CANCEL client transactions must share a shard")
	}
}
