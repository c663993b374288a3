package persistence

import (
	"fmt"
	"sync"
	"sync/atomic"

	badger "github.com/dgraph-io/badger/v4"
)

// visibility decides what readers see. Badger runs in managed mode, where kaquan picks the commit
// timestamps: the writer can then stage the next batch while Badger commits the previous one (in
// Badger's own mode a new transaction waits for every earlier commit to finish). Readers read at
// the timestamp of the last durable commit, so they see exactly the acknowledged writes, as before.
//
// Managed mode also leaves it to kaquan to say which old versions compactions may drop (the discard
// timestamp): never one that an open reader may still need, so every reader registers its timestamp.
type visibility struct {
	durable atomic.Uint64 // commit timestamp of the last durable batch

	mu         sync.Mutex
	readers    map[uint64]int // read timestamp -> open readers at it
	pointReads int64          // point reads registered (counted here, under the lock every read takes anyway)
}

func newVisibility(durable uint64) *visibility {
	v := &visibility{readers: map[uint64]int{}}
	v.durable.Store(durable)
	return v
}

// beginRead registers a reader at the last durable timestamp and returns that timestamp.
// Taking it under the lock orders it against discardTs: a reader registered later reads at or
// above any discard timestamp computed earlier.
func (v *visibility) beginRead() uint64 { return v.begin(0) }

// beginPointRead is beginRead for a point read, which it counts.
func (v *visibility) beginPointRead() uint64 { return v.begin(1) }

func (v *visibility) begin(pointReads int64) uint64 {
	v.mu.Lock()
	ts := v.durable.Load()
	v.readers[ts]++
	v.pointReads += pointReads
	v.mu.Unlock()
	return ts
}

func (v *visibility) pointReadCount() int64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.pointReads
}

func (v *visibility) endRead(ts uint64) {
	v.mu.Lock()
	if v.readers[ts]--; v.readers[ts] <= 0 {
		delete(v.readers, ts)
	}
	v.mu.Unlock()
}

// discardTs is the highest timestamp whose older versions no reader needs: the oldest open
// reader's, or the last durable commit's when none is open.
func (v *visibility) discardTs() uint64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	ts := v.durable.Load()
	for r := range v.readers {
		ts = min(ts, r)
	}
	return ts
}

// view runs fn in a read-only transaction that holds every acknowledged write: with the commit
// log it first waits for the applier to move what is logged into Badger.
func (s *Store) view(fn func(*badger.Txn) error) error {
	if o := s.overlay.Load(); o != nil {
		if err := o.waitApplied(); err != nil {
			return fmt.Errorf("read: the commit log cannot be applied: %w", err)
		}
	}
	ts := s.vis.beginRead()
	defer s.vis.endRead(ts)
	txn := s.db.NewTransactionAt(ts, false)
	defer txn.Discard()
	return fn(txn)
}
