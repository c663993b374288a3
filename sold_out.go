package kaquan

import "sync"

// soldOutMax bounds the sold-out templates the engine remembers; the set starts over when full.
const soldOutMax = 1 << 16

// soldOutTemplates remembers templates that answered a claim with ErrStockExhausted. A template's
// stock is fixed when it is created and its issued count only grows, so sold out is for good: a
// later claim is refused at once, with no user lookup and no message to the template. In a flash
// sale that is every claim after the last card, also after a restart, when no user's kind is in
// memory yet.
type soldOutTemplates struct {
	mu sync.RWMutex
	m  map[uint64]struct{}
}

func (s *soldOutTemplates) has(template uint64) bool {
	s.mu.RLock()
	_, ok := s.m[template]
	s.mu.RUnlock()
	return ok
}

func (s *soldOutTemplates) add(template uint64) {
	s.mu.Lock()
	if s.m == nil || len(s.m) >= soldOutMax {
		s.m = make(map[uint64]struct{})
	}
	s.m[template] = struct{}{}
	s.mu.Unlock()
}
