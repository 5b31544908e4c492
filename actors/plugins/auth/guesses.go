package auth

import (
	"sync"
	"time"
)

// maxGuessesPerNonce is how many wrong responses one nonce may carry. A nonce is ours to give
// and costs nothing to make, so a client that answered it wrongly this often gets a new one
// before its next try is even verified: one nonce cannot carry thousands of guesses (it carried
// ~4,500 a second), and each further batch of guesses costs the guesser a round trip, besides
// the per-source and per-user limits that ban it.
const maxGuessesPerNonce = 3

// guessTableSize bounds the table: past it, nonces older than their TTL are forgotten (they are
// refused as stale anyway), and if that frees nothing it starts afresh.
const guessTableSize = 100_000

// nonceGuesses counts the wrong responses given to each nonce, until it expires.
type nonceGuesses struct {
	mu sync.Mutex
	n  map[string]nonceGuess
}

type nonceGuess struct {
	count int
	first time.Time
}

// spent reports whether nonce has carried maxGuessesPerNonce wrong responses.
func (g *nonceGuesses) spent(nonce string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.n[nonce].count >= maxGuessesPerNonce
}

// failed counts a wrong response given to nonce at now; ttl is how long a nonce is accepted.
func (g *nonceGuesses) failed(nonce string, now time.Time, ttl time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.n == nil {
		g.n = map[string]nonceGuess{}
	}
	if len(g.n) >= guessTableSize {
		for k, v := range g.n {
			if now.Sub(v.first) > ttl {
				delete(g.n, k)
			}
		}
		if len(g.n) >= guessTableSize {
			g.n = map[string]nonceGuess{}
		}
	}
	e, ok := g.n[nonce]
	if !ok {
		e.first = now
	}
	e.count++
	g.n[nonce] = e
}
