package proxy

import (
	"testing"

	"github.com/emiago/sipgo/sip"
)

func uri(t *testing.T, s string) *sip.Uri {
	t.Helper()
	var u sip.Uri
	if err := sip.ParseUri(s, &u); err != nil {
		t.Fatal(err)
	}
	return &u
}

func TestPlanFor(t *testing.T) {
	if p := PlanFor(uri(t, "sip:bob@10.0.0.1:5070;transport=tcp")); p.Direct == nil || p.Direct.Port != 5070 || p.Direct.Transport != "TCP" {
		t.Fatalf("IP: %+v", p)
	}
	if p := PlanFor(uri(t, "sip:[::1]")); p.Direct == nil || p.Direct.Host != "::1" || p.Direct.Port != 5060 {
		t.Fatalf("IPv6: %+v", p.Direct)
	}
	p := PlanFor(uri(t, "sip:example.test:5080"))
	if p.Direct != nil || p.Port != 5080 || p.DefaultTransport() != "UDP" {
		t.Fatalf("name with port: %+v", p)
	}
	if p := PlanFor(uri(t, "sips:example.test")); !p.Secure || p.DefaultPort() != 5061 || p.DefaultTransport() != "TLS" {
		t.Fatalf("sips: %+v", p)
	}
}

func TestSRVQueries(t *testing.T) {
	p := PlanFor(uri(t, "sip:example.test"))
	naptrs := []NAPTR{
		{Order: 20, Preference: 10, Flags: "s", Service: "SIP+D2U", Replacement: "_sip._udp.example.test."},
		{Order: 10, Preference: 20, Flags: "s", Service: "SIP+D2T", Replacement: "_sip._tcp.example.test."},
		{Order: 10, Preference: 10, Flags: "s", Service: "SIPS+D2T", Replacement: "_sips._tcp.example.test."},
		{Order: 5, Preference: 10, Flags: "u", Service: "E2U+sip", Replacement: "!^.*$!sip:x@y!"},
	}
	got := SRVQueries(p, naptrs)
	// By order then preference; the "u" record is ENUM's, not ours.
	if len(got) != 3 || got[0].Transport != "TLS" || got[0].Name != "_sips._tcp.example.test" ||
		got[1].Transport != "TCP" || got[2].Transport != "UDP" {
		t.Fatalf("from NAPTR: %+v", got)
	}
	if got := SRVQueries(p, nil); len(got) != 3 || got[0].Name != "_sip._udp.example.test" || got[1].Name != "_sip._tcp.example.test" || got[2].Name != "_sips._tcp.example.test" {
		t.Fatalf("without NAPTR: %+v", got)
	}
	// sips: TLS only (§4.1).
	if got := SRVQueries(PlanFor(uri(t, "sips:example.test")), naptrs); len(got) != 1 || got[0].Transport != "TLS" {
		t.Fatalf("sips: %+v", got)
	}
	if got := SRVQueries(PlanFor(uri(t, "sip:example.test;transport=tcp")), naptrs); len(got) != 1 || got[0].Transport != "TCP" {
		t.Fatalf("transport parameter: %+v", got)
	}
}

func TestOrderSRV(t *testing.T) {
	recs := []SRV{
		{Priority: 20, Weight: 0, Port: 1, Target: "last"},
		{Priority: 10, Weight: 10, Port: 2, Target: "light"},
		{Priority: 10, Weight: 90, Port: 3, Target: "heavy"},
	}
	// pick returns the low end: the first record of positive weight in the group wins.
	got := OrderSRV(recs, func(n int) int { return 0 })
	if got[0].Target != "light" || got[1].Target != "heavy" || got[2].Target != "last" {
		t.Fatalf("%+v", got)
	}
	// pick returns the high end: the heavy one comes first.
	got = OrderSRV(recs, func(n int) int { return n - 1 })
	if got[0].Target != "heavy" || got[2].Target != "last" {
		t.Fatalf("%+v", got)
	}
	// Over many draws, weight 90 comes first about 9 times in 10.
	heavy, seq := 0, 0
	for i := 0; i < 1000; i++ {
		got := OrderSRV(recs, func(n int) int { seq = (seq*1103515245 + 12345) & 0x7fffffff; return seq % n })
		if got[0].Target == "heavy" {
			heavy++
		}
	}
	if heavy < 800 || heavy > 980 {
		t.Fatalf("heavy first %d times in 1000", heavy)
	}
}
