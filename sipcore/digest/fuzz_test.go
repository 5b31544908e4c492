package digest

import (
	"testing"

	idigest "github.com/icholy/digest"
)

// FuzzCredentials parses any Authorization value: no panic; credentials that parse can be
// verified without one, a wrong HA1 never verifies, and the response computed for them with
// the right password does.
func FuzzCredentials(f *testing.F) {
	f.Add(`Digest username="alice", realm="example.com", nonce="abc", uri="sip:example.com", response="0123456789abcdef0123456789abcdef", algorithm=MD5, qop=auth, nc=00000001, cnonce="x"`)
	f.Add(`Digest username="bob", realm="r", nonce="n", uri="sip:b", response="00", algorithm=SHA-256`)
	f.Add(`Digest username="c", realm="r", nonce="n", uri="sip:c"`)
	f.Fuzz(func(t *testing.T, value string) {
		c, err := ParseCredentials(value)
		if err != nil || c == nil {
			return
		}
		alg := c.Algorithm
		if alg == "" {
			alg = MD5
		}
		if !Supported(alg) {
			return
		}
		if Verify(c, "REGISTER", nil, "not-the-ha1") {
			t.Fatalf("a wrong HA1 verified %q", value)
		}
		// The response a client with the right password would send for these parameters.
		chal := &idigest.Challenge{Realm: c.Realm, Nonce: c.Nonce, Algorithm: c.Algorithm, Opaque: c.Opaque}
		if c.QOP != "" {
			chal.QOP = []string{c.QOP}
		}
		right, err := idigest.Digest(chal, idigest.Options{Method: "REGISTER", URI: c.URI, Count: c.Nc, Cnonce: c.Cnonce,
			Username: c.Username, Password: "secret"})
		if err != nil {
			return
		}
		if !Verify(right, "REGISTER", nil, HA1(alg, c.Username, c.Realm, "secret")) {
			t.Fatalf("the right password did not verify for %q", value)
		}
	})
}
