// Package dnstest is a DNS server on loopback for tests of RFC 3263 resolution.
package dnstest

import (
	"net"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// Server serves zone (records in master-file syntax) on a loopback UDP port for the test and
// returns its address; it stops when the test ends.
func Server(t testing.TB, zone ...string) string {
	t.Helper()
	var rrs []dns.RR
	for _, z := range zone {
		rr, err := dns.NewRR(z)
		if err != nil {
			t.Fatalf("%q: %v", z, err)
		}
		rrs = append(rrs, rr)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		for _, rr := range rrs {
			h := rr.Header()
			if strings.EqualFold(h.Name, q.Question[0].Name) && h.Rrtype == q.Question[0].Qtype {
				m.Answer = append(m.Answer, rr)
			}
		}
		_ = w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}
