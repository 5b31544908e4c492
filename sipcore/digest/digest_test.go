package digest

import (
	"github.com/emiago/sipgo/sip"
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

// A proxy consumes the credentials for its realm and passes on the others, in order.
func TestRemoveCredentials(t *testing.T) {
	raw := "BYE sip:bob@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\nFrom: <sip:a@example.com>;tag=1\r\n" +
		"To: <sip:b@example.com>;tag=2\r\nCall-ID: c\r\nCSeq: 2 BYE\r\n" +
		`Proxy-Authorization: Digest username="a", realm="other.example", nonce="n1", uri="sip:b", response="00"` + "\r\n" +
		`Proxy-Authorization: Digest username="a", realm="example.com", nonce="n2", uri="sip:b", response="00"` + "\r\n" +
		"Content-Length: 0\r\n\r\n"
	msg, err := sip.NewParser().ParseSIP([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	req := msg.(*sip.Request)
	if !HasCredentials(req, "Proxy-Authorization", "example.com") || HasCredentials(req, "Proxy-Authorization", "nowhere") {
		t.Fatal("HasCredentials")
	}
	RemoveCredentials(req, "Proxy-Authorization", "example.com")
	hs := req.GetHeaders("Proxy-Authorization")
	if len(hs) != 1 || !strings.Contains(hs[0].Value(), "other.example") {
		t.Fatalf("left: %v", hs)
	}
}
