package base

import (
	"testing"

	"github.com/emiago/sipgo/sip"
)

func TestLocal(t *testing.T) {
	l := &Local{Domains: []string{"example.com"}, Addrs: []HostPort{{Host: "127.0.0.1", Port: 5060}, {Host: "::1", Port: 5061}}}
	for _, c := range []struct {
		uri  string
		want bool
	}{
		{"sip:example.com", true},
		{"sip:alice@EXAMPLE.com", true},
		{"sip:example.com:5070", false},
		{"sip:127.0.0.1", true},
		{"sip:127.0.0.1:5060", true},
		{"sips:127.0.0.1", true}, // a host we listen on, no port: us
		{"sips:[::1]", true},
		{"sip:127.0.0.2", false},
		{"sip:127.0.0.1:5061", false},
	} {
		var u sip.Uri
		if err := sip.ParseUri(c.uri, &u); err != nil {
			t.Fatal(err)
		}
		if got := l.IsUs(&u); got != c.want {
			t.Errorf("IsUs(%s) = %v", c.uri, got)
		}
	}
	if !l.IsOurVia(&sip.ViaHeader{Host: "[::1]", Transport: "TLS"}) || l.IsOurVia(&sip.ViaHeader{Host: "::1", Transport: "UDP"}) {
		t.Error("a Via without port means the transport's default port")
	}
}

func TestVocabulary(t *testing.T) {
	if DefaultPort("tls") != 5061 || DefaultPort("UDP") != 5060 || DefaultPort("WS") != 5060 {
		t.Error("default ports")
	}
	if ReasonPhrase(487) != "Request Terminated" || ReasonPhrase(500) != "Server Internal Error" || ReasonPhrase(499) != "Error" {
		t.Error("reason phrases")
	}
	if a := NewAnswer(423, sip.NewHeader("Min-Expires", "60")); a.Reason != "Interval Too Brief" || len(a.Headers) != 1 {
		t.Errorf("answer %+v", a)
	}
	req := sip.NewRequest(sip.INVITE, sip.Uri{Host: "example.com"})
	if HasToTag(req) {
		t.Error("no To at all has no tag")
	}
	to := &sip.ToHeader{Address: sip.Uri{Host: "example.com"}, Params: sip.NewParams()}
	req.AppendHeader(to)
	if HasToTag(req) {
		t.Error("no tag")
	}
	to.Params.Add("tag", "x")
	if !HasToTag(req) {
		t.Error("tag missed")
	}
}
