package server

import (
	"sync"

	"golang.org/x/time/rate"
)

// guessLimiter bounds the failed payment-code look-ups of each merchant (per second, with a burst
// of the same size), so codes cannot be guessed by brute force.
type guessLimiter struct {
	perSecond int
	mu        sync.Mutex
	byParty   map[uint64]*rate.Limiter
}

// guessLimitersMax bounds the merchants tracked at once; past it, the map starts afresh.
const guessLimitersMax = 100_000

func newGuessLimiter(perSecond int) *guessLimiter {
	return &guessLimiter{perSecond: perSecond, byParty: map[uint64]*rate.Limiter{}}
}

func (g *guessLimiter) limiter(merchant uint64) *rate.Limiter {
	g.mu.Lock()
	defer g.mu.Unlock()
	l := g.byParty[merchant]
	if l == nil {
		if len(g.byParty) >= guessLimitersMax {
			clear(g.byParty)
		}
		l = rate.NewLimiter(rate.Limit(g.perSecond), g.perSecond)
		g.byParty[merchant] = l
	}
	return l
}

// allow reports whether merchant may look up a code now: some failures are left this second.
func (g *guessLimiter) allow(merchant uint64) bool { return g.limiter(merchant).Tokens() >= 1 }

// failed spends one of merchant's failures.
func (g *guessLimiter) failed(merchant uint64) { g.limiter(merchant).Allow() }
