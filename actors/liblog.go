package actors

import (
	"context"
	"log/slog"

	"go.uber.org/zap"
)

// libHandler is the slog handler the libraries (sipgo, protoactor) log through, in front of a
// zap core at warn. One of their messages is a peer's fault rather than ours: sipgo's
// "failed to parse" for a TCP stream (it then closes the connection). That one is counted as
// malformed input and logged once at info, like an unparsable UDP datagram, instead of at error
// with a stack trace and the raw bytes.
type libHandler struct {
	slog.Handler
	log   *zap.Logger
	onBad func()
}

func (h libHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.Handler.Enabled(ctx, level)
}

func (h libHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "failed to parse" {
		h.onBad()
		fields := []zap.Field{zap.String("transport", "TCP"), zap.Bool("answered_400", false)}
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "error" {
				fields = append(fields, zap.String("error", a.Value.String()))
			}
			return true
		})
		h.log.Info("unparsable message; connection closed", fields...)
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h libHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return libHandler{Handler: h.Handler.WithAttrs(as), log: h.log, onBad: h.onBad}
}

func (h libHandler) WithGroup(name string) slog.Handler {
	return libHandler{Handler: h.Handler.WithGroup(name), log: h.log, onBad: h.onBad}
}
