package registrar

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// withVia is a REGISTER for bob whose top Via has the given sent-by, with a contact there.
func withVia(t *testing.T, sentBy string) *sip.Request {
	t.Helper()
	req := register(t, "nat", 1, "Contact: <sip:bob@"+sentBy+">")
	via := req.Via()
	host, port, _ := strings.Cut(sentBy, ":")
	if strings.HasPrefix(sentBy, "[") {
		host, port, _ = strings.Cut(strings.TrimPrefix(sentBy, "["), "]:")
	}
	via.Host, via.Port = host, 0
	if port != "" {
		via.Port, _ = strconv.Atoi(port)
	}
	return req
}

// A UDP UA whose Via says another address than the one its REGISTER came from is behind a NAT:
// requests for it go to that source. A UA that says where it is (its own contact, or a
// third party's) keeps its contact. Over a stream, requests go back over its connection.
func TestReceived(t *testing.T) {
	cases := []struct {
		name, sentBy, source, want string
	}{
		{"behind a NAT", "10.0.0.99:5060", "UDP:203.0.113.5:40312", "sip:203.0.113.5:40312"},
		{"NAT keeps the address, not the port", "192.0.2.7:5060", "UDP:192.0.2.7:61000", "sip:192.0.2.7:61000"},
		{"where it says it is", "192.0.2.7:5060", "UDP:192.0.2.7:5060", ""},
		{"default port 5060", "192.0.2.7", "UDP:192.0.2.7:5060", ""},
		{"a name as sent-by", "phone.example.com:5060", "UDP:192.0.2.7:5060", "sip:192.0.2.7:5060"},
		{"IPv6", "[2001:db8::1]:5060", "UDP:[2001:db8::1]:5060", ""},
		{"IPv4-mapped source", "192.0.2.7:5060", "UDP:[::ffff:192.0.2.7]:5060", ""},
		{"TCP: reached on its connection", "10.0.0.99:5060", "TCP:203.0.113.5:40312", "sip:203.0.113.5:40312;transport=tcp"},
		{"TCP, not behind a NAT: still its connection", "192.0.2.7:5060", "TCP:192.0.2.7:51000", "sip:192.0.2.7:51000;transport=tcp"},
		{"TLS", "192.0.2.7:5061", "TLS:192.0.2.7:51001", "sip:192.0.2.7:51001;transport=tls"},
		{"WebSocket (a browser)", "abc.invalid", "WS:192.0.2.9:52000", "sip:192.0.2.9:52000;transport=ws"},
		{"secure WebSocket", "abc.invalid", "WSS:192.0.2.9:52001", "sip:192.0.2.9:52001;transport=wss"},
		{"no source", "10.0.0.99:5060", "", ""},
	}
	for _, c := range cases {
		if got := Received(withVia(t, c.sentBy), c.source); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	// A third-party registration (§10.2): the registering UA is where it says, the contact is
	// someone else's: kept as written.
	third := register(t, "3p", 1, "Contact: <sip:bob@192.0.2.50:5070>")
	if got := Received(third, "UDP:127.0.0.1:5070"); got != "" {
		t.Errorf("third-party registration: %q", got)
	}
	// The binding keeps it, and a refresh from a new mapping replaces it.
	now := time.Now()
	reg, rej := Parse(withVia(t, "10.0.0.99:5060"), DefaultPolicy, local, "UDP:203.0.113.5:40312")
	if rej != nil {
		t.Fatal(rej)
	}
	rec, _, _ := Apply(now, Record{AOR: reg.AOR}, reg)
	if len(rec.Bindings) != 1 || rec.Bindings[0].Received != "sip:203.0.113.5:40312" {
		t.Fatalf("binding %+v", rec.Bindings)
	}
	refresh := withVia(t, "10.0.0.99:5060")
	refresh.CSeq().SeqNo = 2
	reg, _ = Parse(refresh, DefaultPolicy, local, "UDP:203.0.113.5:40999")
	rec, _, _ = Apply(now, rec, reg)
	if len(rec.Bindings) != 1 || rec.Bindings[0].Received != "sip:203.0.113.5:40999" {
		t.Fatalf("after a refresh from a new mapping: %+v", rec.Bindings)
	}
}
