package relay

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/miekg/dns"

	"github.com/partysip/partysip/actors/internal/dnstest"
)

func TestLocateRFC3263(t *testing.T) {
	server := dnstest.Server(t,
		`naptr.test. 60 IN NAPTR 10 10 "s" "SIP+D2T" "" _sip._tcp.naptr.test.`,
		`naptr.test. 60 IN NAPTR 20 10 "s" "SIP+D2U" "" _sip._udp.naptr.test.`,
		`_sip._tcp.naptr.test. 60 IN SRV 10 1 5070 a.naptr.test.`,
		`_sip._tcp.naptr.test. 60 IN SRV 20 1 5071 b.naptr.test.`,
		`_sip._udp.naptr.test. 60 IN SRV 10 1 5072 a.naptr.test.`,
		`a.naptr.test. 60 IN A 127.0.0.2`,
		`b.naptr.test. 60 IN A 127.0.0.3`,
		`b.naptr.test. 60 IN AAAA ::1`,
		`srv.test. 60 IN A 127.0.0.9`,
		`_sip._udp.srv.test. 60 IN SRV 10 1 5080 a.naptr.test.`,
		`plain.test. 60 IN A 127.0.0.4`,
	)
	l, err := NewLocator([]string{server}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		uri  string
		want string
	}{
		// NAPTR prefers TCP (order 10); SRV priority 10 then 20; A before AAAA.
		{"sip:naptr.test", "TCP 127.0.0.2:5070, TCP 127.0.0.3:5071, TCP [::1]:5071"},
		// A transport parameter: no NAPTR, the SRV of that transport.
		{"sip:naptr.test;transport=udp", "UDP 127.0.0.2:5072"},
		// No NAPTR: _sip._udp first.
		{"sip:srv.test", "UDP 127.0.0.2:5080"},
		// Neither NAPTR nor SRV: the address, default port and transport.
		{"sip:plain.test", "UDP 127.0.0.4:5060"},
		// A port: the address only.
		{"sip:srv.test:5099;transport=tcp", "TCP 127.0.0.9:5099"},
		// An address needs no DNS at all.
		{"sip:127.0.0.7:5062", "UDP 127.0.0.7:5062"},
	}
	for _, c := range cases {
		var u sip.Uri
		if err := sip.ParseUri(c.uri, &u); err != nil {
			t.Fatal(err)
		}
		hops, err := l.Locate(context.Background(), &u)
		if err != nil {
			t.Fatalf("%s: %v", c.uri, err)
		}
		var got []string
		for _, h := range hops {
			got = append(got, h.Transport+" "+h.Addr())
		}
		if strings.Join(got, ", ") != c.want {
			t.Errorf("%s: %s, want %s", c.uri, strings.Join(got, ", "), c.want)
		}
	}
	var u sip.Uri
	_ = sip.ParseUri("sip:nowhere.test", &u)
	if _, err := l.Locate(context.Background(), &u); err == nil {
		t.Fatal("a name with no records located")
	}
}

// Lookups of one name at once share one query, later ones come from the cache, and the cache
// holds at most dnsCacheSize names (the least used go first) instead of emptying itself.
func TestLocatorSharesQueriesAndBoundsItsCache(t *testing.T) {
	server := dnstest.Server(t, `shared.test. 60 IN A 127.0.0.2`)
	l, err := NewLocator([]string{server}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var uri sip.Uri
	if err := sip.ParseUri("sip:bob@shared.test:5060", &uri); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 50)
	for i := 0; i < 50; i++ {
		go func() {
			hops, err := l.Locate(context.Background(), &uri)
			if err == nil && (len(hops) != 1 || hops[0].Host != "127.0.0.2") {
				err = fmt.Errorf("hops %v", hops)
			}
			done <- err
		}()
	}
	for i := 0; i < 50; i++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	// One A and one AAAA query, or a few more if a lookup came after the first finished but
	// before it was cached; never one per caller.
	if q := l.queries.Load(); q > 4 {
		t.Fatalf("%d queries for 50 lookups of one name", q)
	}
	before := l.queries.Load()
	if _, err := l.Locate(context.Background(), &uri); err != nil || l.queries.Load() != before {
		t.Fatalf("a cached name was asked again (%v)", err)
	}
	for i := 0; i < dnsCacheSize+100; i++ {
		l.cache.Add(dnsKey{name: fmt.Sprintf("n%d.test.", i), qtype: dns.TypeA}, dnsEntry{expires: time.Now().Add(time.Minute)})
	}
	if n := l.cache.Len(); n > dnsCacheSize {
		t.Fatalf("%d names cached, bound %d", n, dnsCacheSize)
	}
}
