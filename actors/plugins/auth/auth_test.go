package auth

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	idigest "github.com/icholy/digest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/partysip/partysip/actors/plugin"
	"github.com/partysip/partysip/actors/plugins/internal/plugintest"
	"github.com/partysip/partysip/actors/services"
	"github.com/partysip/partysip/sipcore/base"
	"github.com/partysip/partysip/sipcore/digest"
)

var local = &base.Local{Domains: []string{"example.com"}, Addrs: []base.HostPort{{Host: "127.0.0.1", Port: 5060}}}

// newAuth builds the plugin over the real users service (memory store) with alice as the one
// user of the users file.
func newAuth(t *testing.T, algs ...string) *Auth {
	t.Helper()
	users := map[string]map[string]string{"alice": {
		digest.MD5:    digest.HA1(digest.MD5, "alice", "example.com", "secret"),
		digest.SHA256: digest.HA1(digest.SHA256, "alice", "example.com", "secret"),
	}}
	svc := plugintest.StartServices(t, services.Options{Users: users, Realm: "example.com"})
	return New(&Config{Algorithms: algs, NonceTTL: time.Minute, MatchIdentity: true},
		"example.com", svc.Credentials, local, svc.UseNonce, nil)
}

// request parses raw (header lines after the request line) into a chain request; the services'
// answers to it arrive on the channel.
func request(t *testing.T, line string, hdrs ...string) (*plugin.Request, chan any) {
	t.Helper()
	raw := line + "\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\nMax-Forwards: 70\r\nCall-ID: c1\r\n" +
		strings.Join(hdrs, "\r\n") + "\r\nContent-Length: 0\r\n\r\n"
	msg, err := sip.NewParser().ParseSIP([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	req := msg.(*sip.Request)
	answers := make(chan any, 4)
	return &plugin.Request{Received: req, Work: req.Clone(), Now: time.Now(), Log: zap.NewNop(),
		ReplyTo: func(m any) { answers <- m }}, answers
}

func register(t *testing.T, to string, extra ...string) (*plugin.Request, chan any) {
	return request(t, "REGISTER sip:example.com SIP/2.0", append([]string{
		"From: <sip:" + to + "@example.com>;tag=1", "To: <sip:" + to + "@example.com>", "CSeq: 1 REGISTER",
		"Contact: <sip:" + to + "@10.0.0.1>"}, extra...)...)
}

// answer computes credentials for the challenge in res as a client with password would.
func answer(t *testing.T, res *base.Answer, user, password, method, uri string) string {
	t.Helper()
	chal, err := idigest.ParseChallenge(res.Headers[0].Value())
	if err != nil {
		t.Fatal(err)
	}
	cred, err := idigest.Digest(chal, idigest.Options{Method: method, URI: uri, Username: user, Password: password, Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	return cred.String()
}

func TestRegisterChallengeAndVerify(t *testing.T) {
	for _, alg := range []string{"SHA-256", "MD5"} {
		t.Run(alg, func(t *testing.T) {
			a := newAuth(t, alg)
			r, _ := register(t, "alice")
			if res := a.Serve(r); res != plugin.Answered || r.Answer.Code != 401 || r.Answer.Headers[0].Name() != "WWW-Authenticate" {
				t.Fatalf("no credentials: %v %+v", res, r.Answer)
			}
			creds := answer(t, r.Answer, "alice", "secret", "REGISTER", "sip:example.com")

			r, answers := register(t, "alice", "Authorization: "+creds)
			if res := a.Serve(r); res != plugin.Wait {
				t.Fatalf("right credentials: %v %+v", res, r.Answer)
			}
			var fresh any
			select {
			case fresh = <-answers: // the nonce service's word on the nonce-count
			case <-time.After(5 * time.Second):
				t.Fatal("the nonce service did not answer")
			}
			if res := a.Resume(r, fresh); res != plugin.Continue || r.Identity != "alice" {
				t.Fatalf("fresh nonce-count: %v identity %q", res, r.Identity)
			}
			// The registrar keeps its Authorization (it is the UAS for it); nothing removed.
			if r.Work.GetHeader("Authorization") == nil {
				t.Fatal("REGISTER credentials removed")
			}

			// The same nonce-count again: a replay, challenged again with stale=true.
			r, _ = register(t, "alice", "Authorization: "+creds)
			a.Serve(r)
			if res := a.Resume(r, &services.NonceUseAnswered{Fresh: false}); res != plugin.Answered || r.Answer.Code != 401 ||
				!strings.Contains(r.Answer.Headers[0].Value(), "stale=true") {
				t.Fatalf("replay: %v %+v", res, r.Answer)
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	a := newAuth(t, "MD5")
	r, _ := register(t, "alice")
	a.Serve(r)
	challenge := r.Answer

	wrong := answer(t, challenge, "alice", "guess", "REGISTER", "sip:example.com")
	r, _ = register(t, "alice", "Authorization: "+wrong)
	if a.Serve(r); r.Answer == nil || r.Answer.Code != 401 {
		t.Fatalf("wrong password: %+v", r.Answer)
	}

	// alice's own password, registering bob: 403.
	right := answer(t, challenge, "alice", "secret", "REGISTER", "sip:example.com")
	r, _ = register(t, "bob", "Authorization: "+right)
	if a.Serve(r); r.Answer == nil || r.Answer.Code != 403 {
		t.Fatalf("identity mismatch: %+v", r.Answer)
	}

	// A nonce past its TTL: 401 with stale=true.
	r, _ = register(t, "alice", "Authorization: "+right)
	r.Now = r.Now.Add(2 * time.Minute)
	if a.Serve(r); r.Answer == nil || r.Answer.Code != 401 || !strings.Contains(r.Answer.Headers[0].Value(), "stale=true") {
		t.Fatalf("stale nonce: %+v", r.Answer)
	}

	// A nonce we never issued: a plain challenge.
	forged := strings.Replace(right, challenge.Headers[0].Value()[strings.Index(challenge.Headers[0].Value(), "nonce=")+7:][:10], "AAAAAAAAAA", 1)
	r, _ = register(t, "alice", "Authorization: "+forged)
	if a.Serve(r); r.Answer == nil || r.Answer.Code != 401 || strings.Contains(r.Answer.Headers[0].Value(), "stale=true") {
		t.Fatalf("forged nonce: %+v", r.Answer)
	}
}

func TestProxyAuthentication(t *testing.T) {
	a := newAuth(t, "SHA-256", "MD5")
	invite := func(from, to string, extra ...string) (*plugin.Request, chan any) {
		return request(t, "INVITE sip:"+to+" SIP/2.0", append([]string{
			"From: <sip:" + from + ">;tag=1", "To: <sip:" + to + ">", "CSeq: 1 INVITE"}, extra...)...)
	}
	r, _ := invite("alice@example.com", "bob@example.org")
	if a.Serve(r); r.Answer == nil || r.Answer.Code != 407 || len(r.Answer.Headers) != 2 ||
		r.Answer.Headers[0].Name() != "Proxy-Authenticate" || !strings.Contains(r.Answer.Headers[1].Value(), "algorithm=MD5") {
		t.Fatalf("our user calling out: %+v", r.Answer)
	}
	creds := answer(t, r.Answer, "alice", "secret", "INVITE", "sip:bob@example.org")
	r, _ = invite("alice@example.com", "bob@example.org", "Proxy-Authorization: "+creds, `Proxy-Authorization: Digest username="x", realm="elsewhere", nonce="n", uri="sip:b", response="00"`)
	if res := a.Serve(r); res != plugin.Wait {
		t.Fatalf("credentials: %v %+v", res, r.Answer)
	}
	if res := a.Resume(r, &services.NonceUseAnswered{Fresh: true}); res != plugin.Continue {
		t.Fatalf("resume: %v", res)
	}
	// §22.3: our realm's credentials are consumed; another realm's go on.
	if hs := r.Work.GetHeaders("Proxy-Authorization"); len(hs) != 1 || !strings.Contains(hs[0].Value(), "elsewhere") {
		t.Fatalf("Proxy-Authorization left: %v", hs)
	}
	if hs := r.Received.GetHeaders("Proxy-Authorization"); len(hs) != 2 {
		t.Fatalf("the received request was edited: %v", hs)
	}

	// Someone else's user calling one of ours: no challenge (calling elsewhere is the relay
	// policy's to refuse, in forward).
	r, _ = invite("carol@example.net", "alice@example.com")
	if res := a.Serve(r); res != plugin.Continue {
		t.Fatalf("inbound call: %v %+v", res, r.Answer)
	}
	// A request proven in-dialog (our signed Record-Route came back) passes; a To tag alone
	// proves nothing and is challenged like a new request, whatever its method.
	r, _ = invite("alice@example.com", "bob@example.org", "")
	r.Work.To().Params.Add("tag", "x")
	r.Dialog = true
	if res := a.Serve(r); res != plugin.Continue {
		t.Fatalf("in-dialog: %v", res)
	}
	for _, method := range []string{"INVITE", "BYE", "MESSAGE", "NOTIFY", "PUBLISH", "INFO"} {
		r, _ = request(t, method+" sip:bob@example.org SIP/2.0", "From: <sip:alice@example.com>;tag=1", "To: <sip:bob@example.org>;tag=forged", "CSeq: 1 "+method)
		if a.Serve(r); r.Answer == nil || r.Answer.Code != 407 {
			t.Fatalf("%s with a To tag, unproven: %+v, want 407", method, r.Answer)
		}
	}
	// Methods left out of a narrowed auth.methods pass unauthenticated (forward's relay policy
	// then refuses them foreign destinations).
	narrow := newAuth(t, "MD5")
	narrow.Methods = []sip.RequestMethod{sip.INVITE}
	r, _ = request(t, "MESSAGE sip:bob@example.org SIP/2.0", "From: <sip:alice@example.com>;tag=1", "To: <sip:bob@example.org>", "CSeq: 1 MESSAGE")
	if res := narrow.Serve(r); res != plugin.Continue || r.Identity != "" {
		t.Fatalf("unlisted method: %v %q", res, r.Identity)
	}
}

// A REGISTER is never in-dialog: one with a To tag and no credentials is challenged, for an
// existing user and for one that does not exist (it used to get 200 and bind any contact).
func TestRegisterWithToTagIsChallenged(t *testing.T) {
	a := newAuth(t, "MD5")
	for _, user := range []string{"alice", "nobody"} {
		r, _ := request(t, "REGISTER sip:example.com SIP/2.0", "From: <sip:"+user+"@example.com>;tag=1",
			"To: <sip:"+user+"@example.com>;tag=x", "CSeq: 1 REGISTER", "Contact: <sip:evil@127.0.0.2>")
		r.Dialog = true // even were it claimed proven
		if a.Serve(r); r.Answer == nil || r.Answer.Code != 401 {
			t.Fatalf("REGISTER for %s with a To tag: %+v, want 401", user, r.Answer)
		}
	}
}

// Wrong credentials are reported to the source limits; once they ban the source, the answer is
// 403, not another challenge. A request with no credentials (the usual first step) is not a
// failure.
func TestFailuresReportedAndBanned(t *testing.T) {
	a := newAuth(t, "MD5")
	var failures int
	a.Failed = func(src netip.Addr, user string) bool {
		if src != netip.MustParseAddr("127.0.0.3") || user != "alice" {
			t.Errorf("failure reported for %v, user %q", src, user)
		}
		failures++
		return failures > 2
	}
	r, _ := register(t, "alice")
	r.SourceIP = netip.MustParseAddr("127.0.0.3")
	a.Serve(r)
	challenge := r.Answer
	if failures != 0 {
		t.Fatalf("a request without credentials counted as a failure")
	}
	for i, want := range []int{401, 401, 403} {
		r, _ = register(t, "alice", "Authorization: "+answer(t, challenge, "alice", "guess"+strconv.Itoa(i), "REGISTER", "sip:example.com"))
		r.SourceIP = netip.MustParseAddr("127.0.0.3")
		if a.Serve(r); r.Answer == nil || r.Answer.Code != want {
			t.Fatalf("guess %d: %+v, want %d", i+1, r.Answer, want)
		}
	}
}

// A request proven in-dialog passes without a challenge, but the credentials for our realm it
// carries are consumed here (§22.3); another realm's go on. The received request is not edited.
func TestInDialogCredentialsConsumed(t *testing.T) {
	a := newAuth(t, "MD5")
	r, _ := request(t, "BYE sip:bob@192.0.2.2 SIP/2.0", "From: <sip:alice@example.com>;tag=1", "To: <sip:bob@example.org>;tag=2", "CSeq: 2 BYE",
		`Proxy-Authorization: Digest username="alice", realm="example.com", nonce="n", uri="sip:bob@192.0.2.2", response="00"`,
		`Proxy-Authorization: Digest username="alice", realm="elsewhere", nonce="n", uri="sip:bob@192.0.2.2", response="00"`)
	r.Dialog = true
	if res := a.Serve(r); res != plugin.Continue {
		t.Fatalf("in-dialog BYE: %v", res)
	}
	if hs := r.Work.GetHeaders("Proxy-Authorization"); len(hs) != 1 || !strings.Contains(hs[0].Value(), "elsewhere") {
		t.Fatalf("forwarded Proxy-Authorization: %v", hs)
	}
	if hs := r.Received.GetHeaders("Proxy-Authorization"); len(hs) != 2 {
		t.Fatalf("the received request was edited: %v", hs)
	}
}

// One nonce carries maxGuessesPerNonce wrong responses; its next use, even with the right
// password, gets a new challenge instead of being verified, and the new nonce works.
func TestNonceCarriesFewGuesses(t *testing.T) {
	a := newAuth(t, "MD5")
	r, _ := register(t, "alice")
	a.Serve(r)
	challenge := r.Answer
	for i := 0; i < maxGuessesPerNonce; i++ {
		r, _ = register(t, "alice", "Authorization: "+answer(t, challenge, "alice", "guess"+strconv.Itoa(i), "REGISTER", "sip:example.com"))
		if a.Serve(r); r.Answer == nil || r.Answer.Code != 401 {
			t.Fatalf("guess %d: %+v", i+1, r.Answer)
		}
	}
	r, _ = register(t, "alice", "Authorization: "+answer(t, challenge, "alice", "secret", "REGISTER", "sip:example.com"))
	if res := a.Serve(r); res == plugin.Wait || r.Answer == nil || r.Answer.Code != 401 {
		t.Fatalf("a spent nonce was verified: %v %+v", res, r.Answer)
	}
	fresh := r.Answer
	if fresh.Headers[0].Value() == challenge.Headers[0].Value() {
		t.Fatal("the same nonce was offered again")
	}
	r, _ = register(t, "alice", "Authorization: "+answer(t, fresh, "alice", "secret", "REGISTER", "sip:example.com"))
	if res := a.Serve(r); res != plugin.Wait {
		t.Fatalf("the right password on a new nonce: %v %+v", res, r.Answer)
	}
}

// A challenge to one of our users that no credentials answer is logged once, with the client's
// User-Agent and the algorithms offered, when the next challenge goes out; an answered one is
// not; a name that is not one of our users is not tracked.
func TestUnansweredChallengeLogged(t *testing.T) {
	a := newAuth(t, "SHA-256", "MD5")
	core, logs := observer.New(zapcore.InfoLevel)
	now := time.Now()
	send := func(user, callID string, at time.Duration, extra ...string) *plugin.Request {
		r, _ := register(t, user, append([]string{"User-Agent: baresip v1.0.0"}, extra...)...)
		r.CallID, r.Now, r.Log, r.Source = callID, now.Add(at), zap.New(core), "UDP:10.0.0.1:5060"
		a.Serve(r)
		return r
	}
	send("alice", "gave-up", 0)
	answered := send("alice", "answered", time.Second)
	send("alice", "answered", 2*time.Second, "Authorization: "+answer(t, answered.Answer, "alice", "secret", "REGISTER", "sip:example.com"))
	send("mallory", "not-ours", 3*time.Second)
	if logs.Len() != 0 {
		t.Fatalf("logged before the wait: %v", logs.All())
	}
	send("alice", "retry", 15*time.Second)
	lines := logs.FilterMessageSnippet("challenge not answered").All()
	if len(lines) != 1 {
		t.Fatalf("%d lines for the unanswered challenge, want 1: %v", len(lines), logs.All())
	}
	f := lines[0].ContextMap()
	if f["user"] != "alice" || f["user_agent"] != "baresip v1.0.0" || f["algorithms"] != "SHA-256, MD5" || f["source"] != "UDP:10.0.0.1:5060" {
		t.Fatalf("line: %v", f)
	}
	send("alice", "again", 40*time.Second) // "retry" unanswered too, but alice was logged a moment ago
	if n := logs.FilterMessageSnippet("challenge not answered").Len(); n != 1 {
		t.Fatalf("%d lines: one user is logged at most every %v", n, watchLogEvery)
	}
}
