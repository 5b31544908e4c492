// Package digest is SIP digest authentication (RFC 3261 §22, RFC 7616 for the algorithms,
// RFC 8760 for SHA-256 in SIP) as pure functions: challenges, self-verifying nonces with an
// expiry, and verification of credentials against a stored HA1. Header parsing and the response
// computation come from github.com/icholy/digest; randomness and the clock come from the caller.
package digest

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"github.com/emiago/sipgo/sip"
	"hash"
	"io"
	"strings"
	"time"

	"github.com/icholy/digest"
)

// Algorithms partysip offers, by their RFC 7616 names.
const (
	MD5    = "MD5"
	SHA256 = "SHA-256"
)

// Credentials are a parsed Authorization or Proxy-Authorization header value.
type Credentials = digest.Credentials

// ParseCredentials reads an Authorization or Proxy-Authorization value ("Digest ...").
func ParseCredentials(v string) (*Credentials, error) { return digest.ParseCredentials(v) }

// Supported reports whether alg is one we verify ("" means MD5, RFC 2617's default).
func Supported(alg string) bool {
	switch strings.ToUpper(alg) {
	case "", MD5, SHA256:
		return true
	}
	return false
}

func newHash(alg string) hash.Hash {
	if strings.EqualFold(alg, SHA256) {
		return sha256.New()
	}
	return md5.New()
}

// HA1 is H(username:realm:password) for alg, the value a credentials file may store instead of
// the password.
func HA1(alg, user, realm, password string) string {
	h := newHash(alg)
	h.Write([]byte(user + ":" + realm + ":" + password))
	return hex.EncodeToString(h.Sum(nil))
}

// Challenge is a WWW-Authenticate or Proxy-Authenticate value offering alg with qop=auth.
// stale=true tells the client its credentials were right but the nonce too old: retry without
// asking the user (RFC 7616 §3.3).
func Challenge(realm, nonce, alg string, stale bool) string {
	return (&digest.Challenge{Realm: realm, Nonce: nonce, Algorithm: alg, QOP: []string{"auth"}, Stale: stale}).String()
}

// Verify reports whether c's response is right for a request with this method and body, given
// the user's HA1 for c's algorithm. The comparison takes constant time.
func Verify(c *Credentials, method string, body []byte, ha1 string) bool {
	chal := &digest.Challenge{Realm: c.Realm, Nonce: c.Nonce, Algorithm: c.Algorithm, Opaque: c.Opaque}
	if c.QOP != "" {
		chal.QOP = []string{c.QOP}
	}
	want, err := digest.Digest(chal, digest.Options{
		Method:   method,
		URI:      c.URI,
		Count:    c.Nc,
		Cnonce:   c.Cnonce,
		Username: c.Username,
		A1:       ha1,
		GetBody:  func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil },
	})
	if err != nil || c.Response == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.ToLower(c.Response)), []byte(want.Response)) == 1
}

// Nonces makes and checks self-verifying nonces: issue time, salt and an HMAC of both under a
// secret, so no table of issued nonces is needed to recognise ours and their age.
type Nonces struct {
	Secret []byte
	TTL    time.Duration
}

// NonceState is what Check found.
type NonceState int

const (
	// NonceInvalid: not one of ours (or forged).
	NonceInvalid NonceState = iota
	// NonceStale: ours, but older than the TTL (or from the future).
	NonceStale
	// NonceValid: ours and fresh.
	NonceValid
)

func (s NonceState) String() string { return [...]string{"invalid", "stale", "valid"}[s] }

const nonceLen = 8 + 8 + 16

// Make returns a nonce issued at now; salt must be random.
func (n *Nonces) Make(now time.Time, salt [8]byte) string {
	var b [nonceLen]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixNano()))
	copy(b[8:16], salt[:])
	copy(b[16:], n.mac(b[:16]))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Check says whether nonce is ours and fresh at now.
func (n *Nonces) Check(nonce string, now time.Time) NonceState {
	b, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil || len(b) != nonceLen || !hmac.Equal(b[16:], n.mac(b[:16])) {
		return NonceInvalid
	}
	issued := time.Unix(0, int64(binary.BigEndian.Uint64(b[:8])))
	if age := now.Sub(issued); age < -time.Second || age > n.TTL {
		return NonceStale
	}
	return NonceValid
}

func (n *Nonces) mac(b []byte) []byte {
	m := hmac.New(sha256.New, n.Secret)
	m.Write(b)
	return m.Sum(nil)[:16]
}

// HasCredentials reports whether req carries credentials for realm in header ("Authorization"
// or "Proxy-Authorization").
func HasCredentials(req *sip.Request, header, realm string) bool {
	for _, h := range req.GetHeaders(header) {
		if c, err := ParseCredentials(h.Value()); err == nil && c.Realm == realm {
			return true
		}
	}
	return false
}

// RemoveCredentials removes from req the header values that carry credentials for realm,
// keeping the others in order: a proxy consumes the credentials meant for it and passes on
// those for proxies further on (RFC 3261 §22.3). req must be the caller's own copy.
func RemoveCredentials(req *sip.Request, header, realm string) {
	keep := []sip.Header{}
	for _, h := range req.GetHeaders(header) {
		if c, err := ParseCredentials(h.Value()); err != nil || c.Realm != realm {
			keep = append(keep, h)
		}
	}
	for req.GetHeader(header) != nil {
		req.RemoveHeader(header)
	}
	for _, h := range keep {
		req.AppendHeader(h)
	}
}
