package actors

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// activationShards splits the table of live entities so that lookups on two cores rarely meet on
// one lock.
const activationShards = 64

// activations is the table of live entities: a plain map per shard under a read-write lock. A
// lookup is one or two cache misses, where sync.Map's trie took several (its lookups were 5% of a
// payment's CPU).
type activations struct {
	seed   maphash.Seed
	shards [activationShards]activationShard
}

type activationShard struct {
	mu sync.RWMutex
	m  map[ID]*activation
	// Messages the shard's entities received: counted on the shard's own line, which every send
	// to them writes anyway (the read lock), so two cores rarely count on one line.
	delivered atomic.Int64
	_         [24]byte // one shard per cache line (a lock, a map pointer and a counter are 40 bytes)
}

func newActivations() *activations {
	t := &activations{seed: maphash.MakeSeed()}
	for i := range t.shards {
		t.shards[i].m = make(map[ID]*activation)
	}
	return t
}

func (t *activations) shard(id ID) *activationShard {
	return &t.shards[maphash.Comparable(t.seed, id)%activationShards]
}

// load returns id's activation, if live.
func (t *activations) load(id ID) (*activation, bool) {
	s := t.shard(id)
	s.mu.RLock()
	a, ok := s.m[id]
	s.mu.RUnlock()
	return a, ok
}

// loadOrStore returns id's activation, storing a (and reporting stored) if there was none.
func (t *activations) loadOrStore(id ID, a *activation) (*activation, bool) {
	s := t.shard(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if got, ok := s.m[id]; ok {
		return got, false
	}
	s.m[id] = a
	a.delivered = &s.delivered
	return a, true
}

// delivered sums the shards' delivery counts.
func (t *activations) delivered() int64 {
	var n int64
	for i := range t.shards {
		n += t.shards[i].delivered.Load()
	}
	return n
}

// compareAndDelete removes id's entry if it is still a.
func (t *activations) compareAndDelete(id ID, a *activation) {
	s := t.shard(id)
	s.mu.Lock()
	if s.m[id] == a {
		delete(s.m, id)
	}
	s.mu.Unlock()
}
