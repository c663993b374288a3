package kaquan

import "sync"

// facts remembers, per id, a fact that never changes once true (a party's kind, a template being
// sold out), so calls that need it read the store at most once. It holds at most max ids and
// starts over when full: forgetting costs a store read, never a wrong answer.
type facts[V any] struct {
	mu  sync.RWMutex
	m   map[uint64]V
	max int
}

func (f *facts[V]) get(id uint64) (V, bool) {
	f.mu.RLock()
	v, ok := f.m[id]
	f.mu.RUnlock()
	return v, ok
}

func (f *facts[V]) put(id uint64, v V) {
	f.mu.Lock()
	if f.m == nil || len(f.m) >= f.max {
		f.m = make(map[uint64]V)
	}
	f.m[id] = v
	f.mu.Unlock()
}
