package persistence

import "sync"

// pending holds what the commit log has made durable and Badger does not have yet, so that a read
// after an acknowledgement sees it. Point reads look here first; scans wait for the applier instead
// (waitApplied, from Store.view), which is a commit or two away.
type pending struct {
	mu     sync.RWMutex
	values map[string]pendingValue
	logged uint64 // highest seq published

	applyMu   sync.Mutex
	applyCond *sync.Cond
	applied   uint64 // highest seq Badger holds
	applyErr  error  // the applier failed: waiting for it is pointless
}

type pendingValue struct {
	seq     uint64
	value   []byte
	deleted bool
}

func newPending(applied uint64) *pending {
	p := &pending{values: map[string]pendingValue{}, logged: applied, applied: applied}
	p.applyCond = sync.NewCond(&p.applyMu)
	return p
}

// publish makes batch seq's entries visible to reads. Called once the record is durable.
func (p *pending) publish(seq uint64, writes []*Write) {
	p.mu.Lock()
	for _, wr := range writes {
		for _, e := range wr.Entries {
			p.values[string(e.Key)] = pendingValue{seq: seq, value: e.Value, deleted: e.Delete}
		}
	}
	p.logged = seq
	p.mu.Unlock()
}

// drop forgets the entries of writes that Badger now holds (up to seq upTo), unless a later batch
// wrote the same key again. The caller holds mu.
func (p *pending) drop(upTo uint64, writes []*Write) {
	for _, wr := range writes {
		for _, e := range wr.Entries {
			if v, ok := p.values[string(e.Key)]; ok && v.seq <= upTo {
				delete(p.values, string(e.Key))
			}
		}
	}
}

// markApplied records that Badger holds everything up to seq (or that the applier failed) and
// wakes the scans waiting for it.
func (p *pending) markApplied(seq uint64, err error) {
	p.applyMu.Lock()
	if err != nil && p.applyErr == nil {
		p.applyErr = err
	}
	if seq > p.applied {
		p.applied = seq
	}
	p.applyMu.Unlock()
	p.applyCond.Broadcast()
}

// waitApplied waits until Badger holds everything published so far.
func (p *pending) waitApplied() error {
	p.mu.RLock()
	target := p.logged
	p.mu.RUnlock()
	p.applyMu.Lock()
	defer p.applyMu.Unlock()
	for p.applied < target && p.applyErr == nil {
		p.applyCond.Wait()
	}
	if p.applied < target {
		return p.applyErr
	}
	return nil
}
