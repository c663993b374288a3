package persistence

import "sync"

// overlay holds what the commit log has made durable and Badger does not have yet, so that a read
// after an acknowledgement sees it. The Writer owns it: its committer publishes each logged batch,
// its applier drops what Badger then holds. Point reads look here first (Store.read); scans wait
// for the applier instead (waitApplied, from Store.view), which is a commit or two away. Each
// method takes the overlay's own locks.
type overlay struct {
	mu     sync.RWMutex
	values map[string]overlayValue
	logged uint64 // highest seq published

	applyMu   sync.Mutex
	applyCond *sync.Cond
	applied   uint64 // highest seq Badger holds
	applyErr  error  // the applier failed: waiting for it is pointless, and the log holds records Badger lacks
}

type overlayValue struct {
	seq     uint64
	value   []byte
	deleted bool
}

// newOverlay starts an empty overlay over a Badger that holds every record up to seq applied.
func newOverlay(applied uint64) *overlay {
	o := &overlay{values: map[string]overlayValue{}, logged: applied, applied: applied}
	o.applyCond = sync.NewCond(&o.applyMu)
	return o
}

// get returns the acknowledged value of key that Badger may not have yet. found is false when the
// overlay holds nothing for key: Badger's value is the current one. The value must not be changed.
func (o *overlay) get(key []byte) (value []byte, deleted, found bool) {
	o.mu.RLock()
	v, found := o.values[string(key)]
	o.mu.RUnlock()
	return v.value, v.deleted, found
}

// publish makes batch seq's entries visible to reads. Called once the record is durable.
func (o *overlay) publish(seq uint64, writes []*Write) {
	o.mu.Lock()
	for _, wr := range writes {
		for _, e := range wr.Entries {
			o.values[string(e.Key)] = overlayValue{seq: seq, value: e.Value, deleted: e.Delete}
		}
	}
	o.logged = seq
	o.mu.Unlock()
}

// drop forgets the entries of group, which Badger now holds (up to seq upTo), unless a later batch
// wrote the same key again. Badger's read timestamp has moved past them before (Store.commitAt),
// so a read that misses the overlay finds them there.
func (o *overlay) drop(upTo uint64, group []*batch) {
	o.mu.Lock()
	for _, b := range group {
		for _, wr := range b.writes {
			for _, e := range wr.Entries {
				if v, ok := o.values[string(e.Key)]; ok && v.seq <= upTo {
					delete(o.values, string(e.Key))
				}
			}
		}
	}
	o.mu.Unlock()
}

// markApplied records that Badger holds everything up to seq (or that the applier failed) and
// wakes the scans waiting for it.
func (o *overlay) markApplied(seq uint64, err error) {
	o.applyMu.Lock()
	if err != nil && o.applyErr == nil {
		o.applyErr = err
	}
	if seq > o.applied {
		o.applied = seq
	}
	o.applyMu.Unlock()
	o.applyCond.Broadcast()
}

// waitApplied waits until Badger holds everything published so far.
func (o *overlay) waitApplied() error {
	o.mu.RLock()
	target := o.logged
	o.mu.RUnlock()
	o.applyMu.Lock()
	defer o.applyMu.Unlock()
	for o.applied < target && o.applyErr == nil {
		o.applyCond.Wait()
	}
	if o.applied < target {
		return o.applyErr
	}
	return nil
}

// applyFailed reports why the applier stopped, or nil: then the commit log holds acknowledged
// records Badger lacks, and must stay for the next Open to replay.
func (o *overlay) applyFailed() error {
	o.applyMu.Lock()
	defer o.applyMu.Unlock()
	return o.applyErr
}
