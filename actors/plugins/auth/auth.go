// Package auth is digest authentication (RFC 3261 §22 with RFC 7616 / RFC 8760 algorithms):
// REGISTERs for our domains are challenged with 401, other requests from our users with 407.
// Who may relay through us is the forward plugin's relay policy: it lets authenticated users by.
package auth

import (
	"crypto/rand"
	"net/netip"
	"slices"
	"strings"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/partysip/partysip/actors/plugin"
	"github.com/partysip/partysip/actors/services"
	"github.com/partysip/partysip/sipcore/base"
	"github.com/partysip/partysip/sipcore/digest"
)

// Auth challenges and verifies. It is built once and shared: users and settings are read-only;
// the nonce-count table lives in the nonce service actor.
type Auth struct {
	Local *base.Local
	Realm string
	// Algorithms offered, one challenge each, in order of preference (RFC 8760 §2.4).
	Algorithms []string
	// Users are the current users (users file and those added with partysip ctl).
	Users *services.Credentials
	// MatchIdentity: the user authenticated must be the To user (REGISTER) or From user.
	MatchIdentity bool
	// Methods challenged; empty: every method but ACK and CANCEL.
	Methods []sip.RequestMethod
	Nonces  *digest.Nonces
	// UseNonce asks the nonce service whether a nonce-count is fresh (services.Services.UseNonce);
	// the answer comes back through the request's ReplyTo.
	UseNonce func(nonce string, nc int, reply func(any))
	// Failed, when set, counts wrong credentials from a source and reports whether that source
	// is now banned for it (limits.auth_failures): it is then answered 403, not challenged.
	Failed func(addr netip.Addr, user string) bool
	// guesses counts the wrong responses each nonce carried (maxGuessesPerNonce).
	guesses nonceGuesses
	// watch logs the challenges our users' clients never answered.
	watch challengeWatch
}

var _ plugin.Waiter = (*Auth)(nil)

// New builds the plugin from its config section (realm already resolved, see Realm).
// secret signs the nonces; nil picks a random one.
func New(cfg *Config, realm string, users *services.Credentials, local *base.Local, useNonce func(nonce string, nc int, reply func(any)), secret []byte) *Auth {
	a := &Auth{Local: local, Realm: realm, MatchIdentity: cfg.MatchIdentity, UseNonce: useNonce, Users: users}
	for _, alg := range cfg.Algorithms {
		a.Algorithms = append(a.Algorithms, strings.ToUpper(alg))
	}
	for _, m := range cfg.Methods {
		a.Methods = append(a.Methods, sip.RequestMethod(strings.ToUpper(m)))
	}
	if secret == nil {
		secret = make([]byte, 32)
		_, _ = rand.Read(secret)
	}
	a.Nonces = &digest.Nonces{Secret: secret, TTL: cfg.NonceTTL}
	return a
}

// Name is "auth".
func (*Auth) Name() string { return "auth" }

// pending is what Serve verified, waiting for the nonce service's word on the nonce-count.
type pending struct {
	user   string
	header string
}

// Serve decides whether the request needs credentials and checks them.
func (a *Auth) Serve(r *plugin.Request) plugin.Result {
	w := r.Work
	// ACK and CANCEL cannot be challenged (§22.1); requests proven to be within a dialog we
	// Record-Routed were authorized with the dialog (Kamailio's default route authenticates
	// initial requests only). A To tag without that proof is a new request here. Credentials
	// for our realm they still carry (a UA may send them on every request) are ours to consume.
	if w.Method == sip.ACK || w.Method == sip.CANCEL || r.InDialog() {
		if digest.HasCredentials(w, "Proxy-Authorization", a.Realm) {
			digest.RemoveCredentials(r.Edit(), "Proxy-Authorization", a.Realm)
		}
		return plugin.Continue
	}
	register := w.Method == sip.REGISTER && a.Local.IsDomain(w.Recipient.Host)
	from := w.From()
	ours := from != nil && a.Local.IsDomain(from.Address.Host)
	if !register && !ours {
		// Not one of our users: nothing to check here. Calling one of ours is fine; anywhere
		// else, the relay policy (forward) refuses it.
		return plugin.Continue
	}
	if len(a.Methods) > 0 && !slices.Contains(a.Methods, w.Method) {
		return plugin.Continue
	}
	header := "Proxy-Authorization"
	if register {
		header = "Authorization"
	}
	cred := a.credentials(w, header)
	if cred == nil {
		user := ""
		if register && w.To() != nil {
			user = w.To().Address.User
		} else if !register {
			user = from.Address.User // from is one of ours here
		}
		if _, known := a.Users.Get().HA1[user]; known {
			agent := ""
			if h := w.GetHeader("User-Agent"); h != nil {
				agent = h.Value()
			}
			a.watch.sent(r.Log, a.Algorithms, r.CallID, user, r.Source, agent, r.Now)
		}
		return a.challenge(r, register, false)
	}
	a.watch.answered(r.CallID)
	switch a.Nonces.Check(cred.Nonce, r.Now) {
	case digest.NonceInvalid:
		return a.challenge(r, register, false)
	case digest.NonceStale:
		return a.challenge(r, register, true)
	}
	if a.guesses.spent(cred.Nonce) {
		return a.challenge(r, register, false) // a new nonce, before any more guessing on this one
	}
	alg := strings.ToUpper(cred.Algorithm)
	if alg == "" {
		alg = digest.MD5
	}
	ha1, ok := a.Users.Get().HA1[cred.Username][alg]
	if !ok || !slices.Contains(a.Algorithms, alg) || !digest.Verify(cred, string(w.Method), w.Body(), ha1) {
		// §22.3: failed credentials are challenged again; the log says why, the client does not.
		r.Log.Info("authentication failed", zap.String("call_id", r.CallID), zap.String("user", cred.Username),
			zap.String("algorithm", alg), zap.String("source", r.Source))
		a.guesses.failed(cred.Nonce, r.Now, a.Nonces.TTL)
		user := ""
		if _, known := a.Users.Get().HA1[cred.Username]; known {
			user = cred.Username // only our users are counted by name
		}
		if a.Failed != nil && a.Failed(r.SourceIP, user) {
			return r.Reply(403, "Forbidden")
		}
		return a.challenge(r, register, false)
	}
	if a.MatchIdentity {
		identity := from.Address.User
		if register {
			identity = w.To().Address.User
		}
		if identity != cred.Username {
			r.Log.Info("authenticated user is not the request's identity", zap.String("call_id", r.CallID),
				zap.String("user", cred.Username), zap.String("identity", identity))
			return r.Reply(403, "Forbidden")
		}
	}
	r.Identity = cred.Username
	a.UseNonce(cred.Nonce, cred.Nc, r.ReplyTo)
	r.Pending = &pending{user: cred.Username, header: header}
	return plugin.Wait
}

// Resume accepts the request once the nonce-count is known to be fresh.
func (a *Auth) Resume(r *plugin.Request, answer any) plugin.Result {
	p, _ := r.Pending.(*pending)
	r.Pending = nil
	ans, ok := answer.(*services.NonceUseAnswered)
	if !ok || p == nil {
		return r.Reply(500, "Server Internal Error")
	}
	register := p.header == "Authorization"
	if !ans.Fresh {
		// A replayed nonce-count: the credentials were right once; ask for a new nonce.
		r.Log.Info("digest nonce-count replayed", zap.String("call_id", r.CallID), zap.String("user", p.user))
		r.Identity = ""
		return a.challenge(r, register, true)
	}
	if !register {
		// §22.3: a proxy removes the credentials meant for its own realm before forwarding.
		digest.RemoveCredentials(r.Edit(), p.header, a.Realm)
	}
	return plugin.Continue
}

// credentials returns the parsed credentials for our realm in header, or nil.
func (a *Auth) credentials(req *sip.Request, header string) *digest.Credentials {
	for _, h := range req.GetHeaders(header) {
		c, err := digest.ParseCredentials(h.Value())
		if err == nil && c.Realm == a.Realm && digest.Supported(c.Algorithm) {
			return c
		}
	}
	return nil
}

// challenge answers 401 (REGISTER to us) or 407 with one challenge per algorithm.
func (a *Auth) challenge(r *plugin.Request, register, stale bool) plugin.Result {
	code, reason, name := 407, "Proxy Authentication Required", "Proxy-Authenticate"
	if register {
		code, reason, name = 401, "Unauthorized", "WWW-Authenticate"
	}
	var salt [8]byte
	_, _ = rand.Read(salt[:])
	nonce := a.Nonces.Make(r.Now, salt)
	hdrs := make([]sip.Header, 0, len(a.Algorithms))
	for _, alg := range a.Algorithms {
		hdrs = append(hdrs, sip.NewHeader(name, digest.Challenge(a.Realm, nonce, alg, stale)))
	}
	return r.Reply(code, reason, hdrs...)
}
