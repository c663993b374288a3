package server

import (
	"testing"
	"time"
)

// TestGuessLimiter_AtMostMaxPerSecond: in any one second, at most max failures pass; the limit
// frees one look-up as each failure turns a second old (a refilling bucket of max let nearly
// twice max through in the first second).
func TestGuessLimiter_AtMostMaxPerSecond(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	now := start
	g := newGuessLimiter(5, func() time.Time { return now })
	at := func(d time.Duration) { now = start.Add(d) }
	// guess makes look-ups that all fail until one is refused; it returns how many were made.
	guess := func(merchant uint64) int {
		n := 0
		for g.allow(merchant) {
			g.failed(merchant)
			n++
			if n > 100 {
				t.Fatal("no limit")
			}
		}
		return n
	}
	if got := guess(1); got != 5 {
		t.Fatalf("at 0 s: %d failures passed, want 5", got)
	}
	at(999 * time.Millisecond)
	if got := guess(1); got != 0 {
		t.Errorf("at 0.999 s: %d more passed, want 0 (at most 5 in any second)", got)
	}
	if !g.allow(2) {
		t.Errorf("merchant 2 limited by merchant 1")
	}
	at(time.Second)
	if got := guess(1); got != 5 {
		t.Errorf("at 1 s: %d passed, want 5 (the first five are a second old)", got)
	}
	// Spread failures: one each 300 ms from 2 s on. Whatever the moment, the last second holds
	// at most five.
	at(2 * time.Second)
	var times []time.Duration
	for i := range 20 {
		d := 2*time.Second + time.Duration(i)*300*time.Millisecond
		at(d)
		if g.allow(3) {
			g.failed(3)
			times = append(times, d)
		}
	}
	if len(times) != 20 {
		t.Errorf("one failure every 300 ms: %d of 20 passed, want all (about 3.3 a second)", len(times))
	}
	// Bursts at 5 s: 5 pass at 5.0; at 5.5 none; at 6.0 five again; never more than 5 in a second.
	for _, c := range []struct {
		at   time.Duration
		want int
	}{{5 * time.Second, 5}, {5500 * time.Millisecond, 0}, {5999 * time.Millisecond, 0}, {6 * time.Second, 5}, {6001 * time.Millisecond, 0}} {
		at(c.at)
		if got := guess(4); got != c.want {
			t.Errorf("merchant 4 at %s: %d passed, want %d", c.at, got, c.want)
		}
	}
}

// TestGuessLimiter_Bounded: the merchants tracked are bounded.
func TestGuessLimiter_Bounded(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	g := newGuessLimiter(1, func() time.Time { return now })
	for m := range uint64(guessLimitersMax + 10) {
		g.failed(m + 1)
	}
	if n := len(g.byParty); n > guessLimitersMax {
		t.Errorf("%d merchants tracked, at most %d", n, guessLimitersMax)
	}
}
