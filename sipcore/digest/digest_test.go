package digest

import (
	"strings"
	"testing"
	"time"

	"github.com/icholy/digest"
)

var t0 = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func TestNonces(t *testing.T) {
	n := &Nonces{Secret: []byte("k"), TTL: 5 * time.Minute}
	nonce := n.Make(t0, [8]byte{1, 2, 3})
	cases := []struct {
		name  string
		nonce string
		at    time.Time
		want  NonceState
	}{
		{"fresh", nonce, t0.Add(time.Minute), NonceValid},
		{"at the TTL", nonce, t0.Add(5 * time.Minute), NonceValid},
		{"too old", nonce, t0.Add(5*time.Minute + time.Second), NonceStale},
		{"from the future", nonce, t0.Add(-time.Minute), NonceStale},
		{"garbage", "abc", t0, NonceInvalid},
		{"other secret", (&Nonces{Secret: []byte("other"), TTL: time.Hour}).Make(t0, [8]byte{}), t0, NonceInvalid},
		{"tampered", nonce[:len(nonce)-2] + "AA", t0, NonceInvalid},
	}
	for _, c := range cases {
		if got := n.Check(c.nonce, c.at); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// A client computing credentials from our challenge (icholy/digest, as an HTTP client would)
// is verified with the stored HA1, for each algorithm; a wrong password, another method or
// another algorithm's HA1 is not.
func TestVerifyAgainstHA1(t *testing.T) {
	for _, alg := range []string{MD5, SHA256} {
		t.Run(alg, func(t *testing.T) {
			chal, err := digest.ParseChallenge(Challenge("example.com", "n0nce", alg, false))
			if err != nil {
				t.Fatal(err)
			}
			cred, err := digest.Digest(chal, digest.Options{Method: "REGISTER", URI: "sip:example.com", Username: "alice", Password: "secret", Count: 1})
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := ParseCredentials(cred.String())
			if err != nil {
				t.Fatal(err)
			}
			ha1 := HA1(alg, "alice", "example.com", "secret")
			if !Verify(parsed, "REGISTER", nil, ha1) {
				t.Fatal("right credentials refused")
			}
			if Verify(parsed, "REGISTER", nil, HA1(alg, "alice", "example.com", "wrong")) {
				t.Fatal("wrong password accepted")
			}
			if Verify(parsed, "INVITE", nil, ha1) {
				t.Fatal("credentials for another method accepted")
			}
			other := MD5
			if alg == MD5 {
				other = SHA256
			}
			if Verify(parsed, "REGISTER", nil, HA1(other, "alice", "example.com", "secret")) {
				t.Fatal("HA1 of another algorithm accepted")
			}
		})
	}
}

// RFC 2617 clients without qop still verify (SIPp's default when the challenge has none).
func TestVerifyWithoutQop(t *testing.T) {
	chal := &digest.Challenge{Realm: "example.com", Nonce: "abc"}
	cred, err := digest.Digest(chal, digest.Options{Method: "INVITE", URI: "sip:bob@example.com", Username: "alice", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	if !Verify(cred, "INVITE", nil, HA1(MD5, "alice", "example.com", "pw")) {
		t.Fatal("refused")
	}
}

func TestChallengeText(t *testing.T) {
	got := Challenge("example.com", "xyz", SHA256, true)
	for _, want := range []string{`Digest `, `realm="example.com"`, `nonce="xyz"`, `algorithm=SHA-256`, `qop="auth"`, `stale=true`} {
		if !strings.Contains(got, want) {
			t.Errorf("%s lacks %s", got, want)
		}
	}
}
