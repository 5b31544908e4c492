package registrar

import (
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// FuzzParse feeds any bytes that parse as a SIP request to Parse and, when it accepts them,
// Apply: neither may panic, an accepted REGISTER names an AOR of ours, and applying it never
// leaves more bindings than the policy allows.
func FuzzParse(f *testing.F) {
	f.Add([]byte("REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bK1\r\n" +
		"From: <sip:bob@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: f1\r\nCSeq: 1 REGISTER\r\n" +
		"Contact: <sip:bob@10.0.0.9>;expires=60, <sip:bob@10.0.0.8>;q=0.5\r\nExpires: 300\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/TCP 10.0.0.9;branch=z9hG4bK2\r\n" +
		"From: <sip:bob@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: f2\r\nCSeq: 2 REGISTER\r\n" +
		"Contact: *\r\nExpires: 0\r\nPath: <sip:edge@10.0.0.1;lr>\r\nSupported: path\r\nContent-Length: 0\r\n\r\n"))
	pol := DefaultPolicy
	pol.MaxContacts = 3
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := sip.ParseMessage(data)
		if err != nil {
			return
		}
		req, ok := msg.(*sip.Request)
		if !ok {
			return
		}
		reg, rej := Parse(req, pol, local, "UDP:10.0.0.9:5060")
		if rej != nil {
			return
		}
		if reg == nil || reg.AOR == "" {
			t.Fatalf("accepted without an AOR: %+v", reg)
		}
		rec, _, rej := Apply(time.Now(), Record{AOR: reg.AOR}, reg)
		if rej == nil && len(rec.Bindings) > pol.MaxContacts {
			t.Fatalf("%d bindings, over max_contacts %d", len(rec.Bindings), pol.MaxContacts)
		}
	})
}
