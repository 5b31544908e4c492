// Package plugin is the request route: a chain of handlers, in the order the configuration
// lists them, that each look at a request and either let it go on, answer it, or wait for a
// service actor's answer. It is the one small interface every plugin under actors/plugins
// implements, in the spirit of CoreDNS's plugin.Handler and Kamailio's request route.
package plugin

import (
	"net/netip"
	"time"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/partysip/partysip/sipcore/base"
	"github.com/partysip/partysip/sipcore/proxy"
)

// Result is what a handler decided.
type Result int

const (
	// Continue passes the request to the next handler.
	Continue Result = iota
	// Answered: the handler set Request.Answer; the proxy sends it and the chain ends.
	Answered
	// Forward: Request.Targets are where the request goes; the chain ends and the proxy forks
	// a branch per target.
	Forward
	// Wait: the handler asked a service, giving it Request.ReplyTo; the proxy hands the answer
	// to the handler's Resume.
	Wait
)

var resultNames = [...]string{"continue", "answered", "forward", "wait"}

func (r Result) String() string { return resultNames[r] }

// Handler is one plugin of the request route. Handlers are built once and shared by every
// request: all per-request state lives in the Request.
type Handler interface {
	// Name is the plugin's name in the configuration's plugin list.
	Name() string
	// Serve looks at r and decides.
	Serve(r *Request) Result
}

// Waiter is a Handler that can return Wait: Resume is called with the message that answered it.
type Waiter interface {
	Handler
	Resume(r *Request, answer any) Result
}

// Request is one request going through the chain, owned by its proxy context actor.
type Request struct {
	// Received is the request as it arrived; never edited (other actors may read it).
	Received *sip.Request
	// Work is the request after Route pre-processing (§16.4). It is Received itself until a
	// handler needs to change it: handlers read Work, and edit only what Edit returns.
	Work *sip.Request
	// CallID is the request's Call-ID, for log lines.
	CallID string
	// Source is where the request came from, as "transport:address", and SourceIP its address.
	Source   string
	SourceIP netip.Addr
	// Dialog is set by the proxy when the request proved it belongs to a dialog we
	// Record-Routed: a To tag and our signed Record-Route in its Route (proxy.DialogSigner).
	Dialog bool
	// LoopHash identifies the request for loop detection (§16.3 step 4).
	LoopHash string
	// Targets are the branches to fork (set by location or forward), and Fork how.
	Targets []proxy.Target
	Fork    proxy.ForkMode
	// Answer is the response the proxy sends when a handler returns Answered.
	Answer *base.Answer
	// Identity is the authenticated user (set by auth), "" when none.
	Identity string
	// Located is set by location when it resolved the Request-URI to registered contacts.
	Located bool
	// Pending is a waiting plugin's own state between Serve and Resume.
	Pending any
	// ReplyTo is what a service answers a waiting plugin through: it queues the answer for the
	// request's proxy context, which hands it to the plugin's Resume. It never blocks.
	ReplyTo func(answer any)
	// Now is when the chain started for this request.
	Now time.Time
	Log *zap.Logger
}

// WorkOn returns the request a chain starts with: req itself when §16.4 Route pre-processing
// has nothing to do (no Route header, as for most requests answered here), else the proxy's
// copy with it done.
func WorkOn(req *sip.Request, local *base.Local) *sip.Request {
	if proxy.TopRoute(req) == nil {
		return req
	}
	work := req.Clone()
	proxy.PreprocessRoute(work, local)
	return work
}

// Edit returns Work for editing: the first edit of a request still shared with Received makes
// the proxy's own copy.
func (r *Request) Edit() *sip.Request {
	if r.Work == r.Received {
		r.Work = r.Received.Clone()
	}
	return r.Work
}

// OwnsWork reports whether Work is the proxy's own copy, which forwarding may change in place.
func (r *Request) OwnsWork() bool { return r.Work != r.Received }

// Reply sets the answer and returns Answered.
func (r *Request) Reply(code int, reason string, hdrs ...sip.Header) Result {
	r.Answer = &base.Answer{Code: code, Reason: reason, Headers: hdrs}
	return Answered
}

// ReplyWith sets a prepared answer and returns Answered.
func (r *Request) ReplyWith(a *base.Answer) Result {
	r.Answer = a
	return Answered
}

// InDialog reports whether the request is proven to belong to a dialog we Record-Routed (see
// Dialog): such requests are routed by their Route set or Request-URI and skip authentication,
// registration and location, as in Kamailio's default route (WITHINDLG before AUTH). A To tag
// alone proves nothing: anyone can write one, and such a request is handled as a new one. A
// REGISTER never is (RFC 3261 §10.2: it creates no dialog).
func (r *Request) InDialog() bool { return r.Dialog && r.Work.Method != sip.REGISTER }
