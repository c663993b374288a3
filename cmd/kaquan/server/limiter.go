package server

import (
	"sync"
	"time"
)

// guessLimiter bounds the failed payment-code look-ups of each merchant: at most max in any one
// second (a sliding window, not a refilling bucket: a bucket of max refilled at max per second lets
// nearly twice max through in the first second). A merchant with max failures in the last second
// is refused until the oldest of them is a second old. Look-ups already under way when the limit
// is reached still complete, so concurrent requests can add the failures in flight at that moment.
type guessLimiter struct {
	max     int
	now     func() time.Time
	mu      sync.Mutex
	byParty map[uint64]*guessWindow
}

// guessWindow holds the times of a merchant's newest max failures, oldest first, in a ring.
type guessWindow struct {
	at   []time.Time
	next int // the oldest, overwritten by the next failure once the ring is full
}

const (
	// guessWindowSpan is the window failures are counted in.
	guessWindowSpan = time.Second
	// guessLimitersMax bounds the merchants tracked at once; past it, the map starts afresh.
	guessLimitersMax = 100_000
)

func newGuessLimiter(max int, now func() time.Time) *guessLimiter {
	return &guessLimiter{max: max, now: now, byParty: map[uint64]*guessWindow{}}
}

// allow reports whether merchant may look up a code now: fewer than max failures in the last second.
func (g *guessLimiter) allow(merchant uint64) bool {
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	w := g.byParty[merchant]
	if w == nil || len(w.at) < g.max {
		return true
	}
	return now.Sub(w.at[w.next]) >= guessWindowSpan
}

// failed records one of merchant's failures, now.
func (g *guessLimiter) failed(merchant uint64) {
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	w := g.byParty[merchant]
	if w == nil {
		if len(g.byParty) >= guessLimitersMax {
			clear(g.byParty)
		}
		w = &guessWindow{at: make([]time.Time, 0, g.max)}
		g.byParty[merchant] = w
	}
	if len(w.at) < g.max {
		w.at = append(w.at, now)
		return
	}
	w.at[w.next] = now
	w.next = (w.next + 1) % g.max
}
