package proxy

import "testing"

// §18.2.1 and RFC 3581: received and rport say where the request really came from; whatever the
// client wrote there itself is overwritten, so responses cannot be aimed at a third party.
func TestStampReceived(t *testing.T) {
	cases := []struct{ via, want string }{
		{"SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK1", "SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK1"},
		{"SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK1", "SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK1;received=192.0.2.7"},
		{"SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK1;rport", "SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK1;rport=40000;received=192.0.2.7"},
		{"SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK1;received=198.51.100.66", "SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK1;received=192.0.2.7"},
		{"SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK1;received=198.51.100.66;rport=9", "SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK1;received=192.0.2.7;rport=40000"},
	}
	for _, c := range cases {
		raw := "INVITE sip:a@example.com SIP/2.0\r\nVia: " + c.via + "\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@example.com>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
		req := mustParse(t, []byte(raw))
		via := req.Via()
		StampReceived(via, "192.0.2.7", 40000)
		if got := via.Value(); got != c.want {
			t.Errorf("%s\n got  %s\n want %s", c.via, got, c.want)
		}
	}
}
