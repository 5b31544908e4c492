package auth

import (
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// A client that cannot answer a challenge usually gives up without a word: baresip 1.0 sees
// an algorithm it does not know among those offered and never retries, and the operator sees
// nothing. challengeWatch remembers the challenges sent to our users and, when one was not
// answered (no credentials came back on its Call-ID) within challengeAnswerWait, logs it once at
// info with the client's User-Agent and the algorithms offered. It is checked as each new
// challenge goes out (a phone that gave up tries again later, so the line comes with its next
// attempt), holds at most watchSize challenges, and logs a user at most once per
// watchLogEvery: a scanner cannot turn it into a flood of log.
type challengeWatch struct {
	mu     sync.Mutex
	open   map[string]openChallenge // by Call-ID
	logged map[string]time.Time     // by user: when a line was last written
}

type openChallenge struct {
	user, source, agent string
	at                  time.Time
}

const (
	challengeAnswerWait = 10 * time.Second
	watchSize           = 10_000
	watchLogEvery       = 10 * time.Minute
)

// sent records a challenge sent at now to user (one of ours) on callID, and logs the ones
// sent before that were never answered.
func (w *challengeWatch) sent(log *zap.Logger, algorithms []string, callID, user, source, agent string, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.open == nil {
		w.open, w.logged = map[string]openChallenge{}, map[string]time.Time{}
	}
	for id, c := range w.open {
		if now.Sub(c.at) < challengeAnswerWait {
			continue
		}
		delete(w.open, id)
		if last, ok := w.logged[c.user]; ok && now.Sub(last) < watchLogEvery {
			continue
		}
		w.logged[c.user] = now
		log.Info("digest challenge not answered: a client that does not know an algorithm offered may give up (auth.algorithms)",
			zap.String("user", c.user), zap.String("source", c.source), zap.String("user_agent", c.agent),
			zap.String("algorithms", strings.Join(algorithms, ", ")), zap.Duration("waited", now.Sub(c.at).Round(time.Second)))
	}
	if len(w.logged) > watchSize {
		w.logged = map[string]time.Time{}
	}
	if len(w.open) < watchSize {
		w.open[callID] = openChallenge{user: user, source: source, agent: agent, at: now}
	}
}

// answered forgets the challenge of callID: credentials came back.
func (w *challengeWatch) answered(callID string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.open, callID)
}
