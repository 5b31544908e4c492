// Package supervise holds the one supervision decider of partysip's actors: every failure is
// counted, logged once at error with what failed and what is done about it, and answered with
// the directive its parent chose (stop a transaction, restart a service).
package supervise

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"
)

// OneForOne is a one-for-one strategy (at most limit failures in window, 0 for no bound)
// whose decider counts the failure in failures, logs msg with the reason, and says directive.
func OneForOne(limit int, window time.Duration, directive actor.Directive, failures *atomic.Int64, log *zap.Logger, msg string) actor.SupervisorStrategy {
	return actor.NewOneForOneStrategy(limit, window, Decider(directive, failures, log, msg))
}

// Decider is OneForOne's decider.
func Decider(directive actor.Directive, failures *atomic.Int64, log *zap.Logger, msg string) actor.DeciderFunc {
	return func(reason any) actor.Directive {
		failures.Add(1)
		log.Error(msg, zap.String("reason", fmt.Sprint(reason)))
		return directive
	}
}
