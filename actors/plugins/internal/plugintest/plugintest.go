// Package plugintest builds chain requests from raw SIP text for the plugins' tests.
package plugintest

import (
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/partysip/partysip/actors/plugin"
	"github.com/partysip/partysip/actors/services"
	"github.com/partysip/partysip/actors/store"
	"github.com/partysip/partysip/sipcore/base"
	"github.com/partysip/partysip/sipcore/proxy"
	"github.com/partysip/partysip/sipcore/registrar"
)

// Local is the proxy the tests play: example.com and 127.0.0.1:5060.
var Local = &base.Local{Domains: []string{"example.com"}, Addrs: []base.HostPort{{Host: "127.0.0.1", Port: 5060}}}

// Request parses a request from its request line and header lines (Via, Call-ID and
// Content-Length are added when missing) and wraps it as the chain sees it: Work is the clone
// after Route pre-processing. Messages the plugin sends are appended to *sent.
func Request(t testing.TB, line string, hdrs ...string) (*plugin.Request, *[]any) {
	t.Helper()
	all := strings.Join(hdrs, "\r\n")
	if !strings.Contains(all, "Via:") {
		hdrs = append(hdrs, "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-test")
	}
	if !strings.Contains(all, "Call-ID:") {
		hdrs = append(hdrs, "Call-ID: test-call")
	}
	raw := line + "\r\n" + strings.Join(hdrs, "\r\n") + "\r\nContent-Length: 0\r\n\r\n"
	msg, err := sip.NewParser().ParseSIP([]byte(raw))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, raw)
	}
	req := msg.(*sip.Request)
	work := plugin.WorkOn(req, Local)
	sent := &[]any{}
	return &plugin.Request{
		Received: req, Work: work, CallID: "test-call", Source: "UDP:10.0.0.1:5060",
		LoopHash: proxy.LoopHash(req), Now: time.Now(), Log: zap.NewNop(),
		ReplyTo: func(m any) { *sent = append(*sent, m) },
	}, sent
}

// Invite is a new INVITE from alice@example.org to uri.
func Invite(t testing.TB, uri string, extra ...string) *plugin.Request {
	t.Helper()
	hdrs := []string{"From: <sip:alice@example.org>;tag=a1", "To: <" + uri + ">", "CSeq: 1 INVITE"}
	if !strings.Contains(strings.Join(extra, "\n"), "Max-Forwards:") {
		hdrs = append(hdrs, "Max-Forwards: 70")
	}
	r, _ := Request(t, "INVITE "+uri+" SIP/2.0", append(hdrs, extra...)...)
	return r
}

// Services runs the real service actors (memory store) for a test; Run collects their answers.
type Services struct {
	*services.Services
	System  *actor.ActorSystem
	answers chan any
}

// StartServices starts the services; they stop when the test ends.
func StartServices(t testing.TB, opts services.Options) *Services {
	t.Helper()
	s := &Services{System: actor.NewActorSystem(), answers: make(chan any, 8)}
	if opts.Store == nil {
		opts.Store = store.NewMemory()
	}
	if opts.Policy == (registrar.Policy{}) {
		opts.Policy = registrar.DefaultPolicy
	}
	var err error
	if s.Services, err = services.Start(s.System.Root, opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = s.Stop()
		s.System.Shutdown()
	})
	return s
}

// Run serves r with h the way the proxy context does: a Wait is resumed with the service
// actor's answer.
func (s *Services) Run(t testing.TB, h plugin.Handler, r *plugin.Request) plugin.Result {
	t.Helper()
	r.ReplyTo = func(m any) { s.answers <- m }
	res := h.Serve(r)
	if res != plugin.Wait {
		return res
	}
	select {
	case a := <-s.answers:
		return h.(plugin.Waiter).Resume(r, a)
	case <-time.After(5 * time.Second):
		t.Fatal("no answer from the service")
		return res
	}
}
