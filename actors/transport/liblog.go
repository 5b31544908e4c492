package transport

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"
)

// LibHandler is the slog handler the libraries (sipgo, protoactor) log through, in front of a
// zap core at warn. One of their messages is a peer's fault rather than ours: sipgo's
// "failed to parse" for a TCP stream (it then closes the connection). That one is counted as
// malformed input and logged once at info, like an unparsable UDP datagram, instead of at error
// with a stack trace and the raw bytes.
type LibHandler struct {
	slog.Handler
	log   *zap.Logger
	onBad func()
	bad   *SampledLog // where malformed input is logged, a few lines a second
}

// NewLibHandler is a LibHandler in front of next: onBad counts a peer's malformed input, which
// goes to bad (a few lines a second) rather than to next.
func NewLibHandler(next slog.Handler, log *zap.Logger, bad *SampledLog, onBad func()) LibHandler {
	return LibHandler{Handler: next, log: log, onBad: onBad, bad: bad}
}

func (h LibHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.Handler.Enabled(ctx, level)
}

func (h LibHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "failed to parse" {
		h.onBad()
		fields := []zap.Field{zap.String("transport", "TCP"), zap.Bool("answered_400", false)}
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "error" {
				fields = append(fields, zap.String("error", a.Value.String()))
			}
			return true
		})
		h.bad.Info("unparsable message; connection closed", fields...)
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h LibHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return LibHandler{Handler: h.Handler.WithAttrs(as), log: h.log, onBad: h.onBad, bad: h.bad}
}

func (h LibHandler) WithGroup(name string) slog.Handler {
	return LibHandler{Handler: h.Handler.WithGroup(name), log: h.log, onBad: h.onBad, bad: h.bad}
}

// sipgo keeps one process-wide default logger, read by its connection goroutines, some of which
// outlive an engine's Stop by a moment. It is set once, to a handler that forwards to the
// LibHandler of the engine started last: swapping an atomic pointer instead of the global keeps
// a second engine in the same process (tests) from racing with the first one's goroutines.
var (
	defaultLibLogger sync.Once
	currentLib       atomic.Pointer[LibHandler]
)

// UseLibHandler makes h the handler behind sipgo's default logger.
func UseLibHandler(h LibHandler) {
	currentLib.Store(&h)
	defaultLibLogger.Do(func() { sip.SetDefaultLogger(slog.New(forwardingHandler{})) })
}

// forwardingHandler applies its attributes and groups to whichever LibHandler is current when
// a record is handled.
type forwardingHandler struct {
	ops []func(slog.Handler) slog.Handler
}

func (f forwardingHandler) current() slog.Handler {
	var h slog.Handler = *currentLib.Load()
	for _, op := range f.ops {
		h = op(h)
	}
	return h
}

func (f forwardingHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return f.current().Enabled(ctx, l)
}

func (f forwardingHandler) Handle(ctx context.Context, r slog.Record) error {
	return f.current().Handle(ctx, r)
}

func (f forwardingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return forwardingHandler{ops: append(slices.Clip(f.ops), func(h slog.Handler) slog.Handler { return h.WithAttrs(as) })}
}

func (f forwardingHandler) WithGroup(name string) slog.Handler {
	return forwardingHandler{ops: append(slices.Clip(f.ops), func(h slog.Handler) slog.Handler { return h.WithGroup(name) })}
}
