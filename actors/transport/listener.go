package transport

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"
)

// listener is one socket owned by a transport actor.
type listener interface {
	// open binds the socket at its address if it is not bound.
	open() error
	// serve reads until the socket is closed (nil) or fails (the error); it hands every parsed
	// message to the transaction shards.
	serve() error
	// close unbinds the socket; serve returns soon after.
	close()
	String() string
}

// listenerFailed is a transport actor's read loop ending with an error.
type listenerFailed struct{ Err error }

// transportActor owns one listener: it runs its read loop, and when the loop fails it fails
// too, so its supervisor re-binds the socket after a backoff (see Supervisor). The
// read loop itself routes messages straight to the shards, by transaction key.
type transportActor struct {
	l        listener
	restarts *atomic.Int64
	log      *zap.Logger
	done     chan struct{}
}

func (a *transportActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		if err := a.l.open(); err != nil {
			panic(fmt.Errorf("%s: bind: %w", a.l, err)) // retried by the supervisor
		}
		done := make(chan struct{})
		a.done = done
		self, root := ctx.Self(), ctx.ActorSystem().Root
		go func() {
			defer close(done)
			if err := a.l.serve(); err != nil {
				root.Send(self, &listenerFailed{Err: err})
			}
		}()
	case *listenerFailed:
		a.restarts.Add(1)
		a.log.Warn("listener failed; re-binding after a backoff", zap.Stringer("listener", a.l), zap.Error(m.Err))
		panic(fmt.Errorf("%s: %w", a.l, m.Err))
	case *actor.Restarting, *actor.Stopping:
		a.l.close()
		if a.done != nil {
			<-a.done
		}
	}
}

// transportsActor is the parent of the transport actors.
type transportsActor struct {
	t        *Transports
	restarts *atomic.Int64
}

// Actor is the parent of the transport actors, one per listener of t, to be spawned with
// Supervisor; restarts counts the listeners re-bound after a failure.
func (t *Transports) Actor(restarts *atomic.Int64) actor.Actor {
	return &transportsActor{t: t, restarts: restarts}
}

func (a *transportsActor) Receive(ctx actor.Context) {
	if _, ok := ctx.Message().(*actor.Started); ok {
		for _, l := range a.t.listeners {
			l := l
			ctx.Spawn(actor.PropsFromProducer(func() actor.Actor { return &transportActor{l: l, restarts: a.restarts, log: a.t.log} }))
		}
	}
}

// The transport actors' backoff: restarts are spaced by multiples of the step, growing while
// failures keep coming within the window.
const (
	BackoffStep   = 100 * time.Millisecond
	BackoffWindow = time.Minute
)

// Supervisor restarts a failed transport actor with an exponential backoff: a socket
// that keeps failing is retried, more slowly, for as long as the daemon runs.
func Supervisor() actor.SupervisorStrategy {
	return actor.NewExponentialBackoffStrategy(BackoffWindow, BackoffStep)
}

// tcpListener is one stream listening socket (TCP, TLS, WS or WSS) served by sipgo's transport
// layer, which frames the
// stream, keeps the connection pool and calls back for every message.
type tcpListener struct {
	addr    string
	network string      // "tcp", "tls", "ws", "wss"
	tlsConf *tls.Config // for tls and wss
	layer   *sip.TransportLayer
	limits  *ConnLimits // caps on connections, shared by the engine's stream listeners
	mu      sync.Mutex  // ln is bound and closed by the actor, read by the serve goroutine
	ln      net.Listener
}

func (l *tcpListener) String() string { return l.network + ":" + l.addr }

func (l *tcpListener) open() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln != nil {
		return nil
	}
	network := "tcp"
	if ap, err := netip.ParseAddrPort(l.addr); err == nil && ap.Addr().Is4() {
		network = "tcp4" // 0.0.0.0 is every IPv4 address, not a dual-stack socket
	}
	ln, err := net.Listen(network, l.addr)
	if err != nil {
		return err
	}
	ln = l.limits.listener(ln) // before TLS: a refused connection costs no handshake
	if l.tlsConf != nil {
		ln = tls.NewListener(ln, l.tlsConf)
	}
	// After TLS: the deadlines follow the SIP stream (and count the handshake in the first one).
	ln = l.limits.timed(ln, l.network == "tcp" || l.network == "tls")
	l.ln = ln
	return nil
}

func (l *tcpListener) serve() error {
	l.mu.Lock()
	ln := l.ln
	l.mu.Unlock()
	if ln == nil {
		return nil
	}
	// Serve returns only when Accept fails; a closed listener is our own stop.
	var err error
	switch l.network {
	case "tls":
		err = l.layer.ServeTLS(ln)
	case "ws":
		err = l.layer.ServeWS(ln)
	case "wss":
		err = l.layer.ServeWSS(ln)
	default:
		err = l.layer.ServeTCP(ln)
	}
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

func (l *tcpListener) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln != nil {
		_ = l.ln.Close()
		l.ln = nil
	}
}
