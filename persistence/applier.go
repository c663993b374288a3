package persistence

import (
	"errors"
	"fmt"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// appliedMarkerKey holds the seq of the last commit log record Badger has: it is written in the
// same Badger transaction as the record's entries, so it never claims more than Badger holds.
var appliedMarkerKey = MarkerKey("commitlog-applied")

// applyQueueBatches and applyLagEntriesMax bound how far Badger may fall behind the log; the
// committer waits beyond them, so the overlay stays small.
const (
	applyQueueBatches  = 64
	applyLagEntriesMax = 1 << 16
)

// applyTxn stages entries into one Badger transaction.
type applyTxn struct {
	txn           *badger.Txn
	entries, size int
}

func (s *Store) newApplyTxn() *applyTxn { return &applyTxn{txn: s.db.NewTransactionAt(0, true)} }

func (a *applyTxn) set(e Entry) error {
	var err error
	if e.Delete {
		err = a.txn.Delete(e.Key)
	} else {
		err = a.txn.Set(e.Key, e.Value)
	}
	if err != nil {
		return fmt.Errorf("stage entry: %w", err)
	}
	a.entries++
	a.size += len(e.Key) + len(e.Value)
	return nil
}

// stage sets every entry of es. The writer's bounds are below Badger's limits, so a transaction
// that grows too big is a broken limit (writes tells how many Writes it holds), never split.
func (a *applyTxn) stage(es []Entry, writes int) error {
	for _, e := range es {
		err := a.set(e)
		if errors.Is(err, badger.ErrTxnTooBig) {
			panic(fmt.Sprintf("persistence: batch of %d writes exceeds Badger's transaction limits: %v", writes, err))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// commit writes the staged entries and the applied marker (seq) at the next timestamp and makes
// them visible to readers.
func (s *Store) commitApplied(a *applyTxn, seq uint64) (uint64, error) {
	if err := a.txn.Set(appliedMarkerKey, Uint64(seq)); err != nil {
		a.txn.Discard()
		return 0, fmt.Errorf("stage applied marker: %w", err)
	}
	ts, err := s.commitAt(a.txn)
	if err != nil {
		return 0, fmt.Errorf("apply %d entries up to record %d: %w", a.entries, seq, err)
	}
	return ts, nil
}

// commitAt commits txn at the next timestamp and makes it what readers read. The applier drops
// what it applied from the overlay only after this, so a read that misses the overlay reads a
// Badger that has what left it.
func (s *Store) commitAt(txn *badger.Txn) (uint64, error) {
	ts := s.nextTs
	if err := txn.CommitAt(ts, nil); err != nil {
		return 0, err
	}
	s.nextTs++
	s.vis.durable.Store(ts)
	s.db.SetDiscardTs(s.vis.discardTs())
	return ts, nil
}

// flushedTs is the highest timestamp in Badger's tables on disk (see commitLog.removeFlushed).
func (s *Store) flushedTs() uint64 {
	var ts uint64
	for _, t := range s.db.Tables() {
		ts = max(ts, t.MaxVersion)
	}
	return ts
}

// removeCheckEvery spaces the checks for removable segments (listing Badger's tables is not free).
const removeCheckEvery = time.Second

// applyBatches is the applier goroutine: it moves logged batches into Badger, several per Badger
// transaction when it falls behind, then drops them from the overlay and deletes finished log
// segments. A failure stops the writer (nothing more is acknowledged); the log still has every
// acknowledged batch for the next Open.
func (w *Writer) applyBatches() {
	defer close(w.applierDone)
	var group []*batch
	for b := range w.toApply {
		group = append(group[:0], b)
		entries, size := b.entries, b.size
	more:
		for {
			select {
			case nb, ok := <-w.toApply:
				if !ok {
					break more
				}
				if entries+nb.entries > w.cfg.BatchEntriesMax || size+nb.size > w.cfg.BatchBytesMax {
					w.applyGroup(group)
					group, entries, size = append(group[:0], nb), nb.entries, nb.size
					continue
				}
				group = append(group, nb)
				entries, size = entries+nb.entries, size+nb.size
			default:
				break more
			}
		}
		w.applyGroup(group)
		clear(group)
	}
}

func (w *Writer) applyGroup(group []*batch) {
	if beforeApply != nil {
		beforeApply(w)
	}
	s := w.store
	last := group[len(group)-1].seq
	if w.applyFailed == nil {
		a, err := w.stageGroup(group)
		var ts uint64
		if err == nil {
			start := time.Now()
			ts, err = s.commitApplied(a, last)
			w.applyNanos.Add(int64(time.Since(start)))
			w.applies.Add(1)
		} else {
			a.txn.Discard()
		}
		if err == nil {
			w.log.applied(last, ts)
			if now := time.Now(); now.Sub(w.removeChecked) >= removeCheckEvery && w.log.removable() {
				w.removeChecked = now
				err = w.log.removeFlushed(s.flushedTs(), s.syncValueLogs)
			}
		}
		if err != nil {
			w.applyFailed = err
			w.fail(fmt.Errorf("apply to badger: %w", err))
		}
	}
	w.applyLag.Add(-int64(len(group)))
	n := 0
	for _, b := range group {
		n += b.entries
	}
	w.lagMu.Lock()
	w.lagEntries -= n
	w.lagMu.Unlock()
	w.lagCond.Broadcast()
	if w.applyFailed != nil {
		w.overlay.markApplied(0, w.applyFailed)
		return
	}
	w.overlay.drop(last, group)
	w.overlay.markApplied(last, nil)
}

// stageGroup stages the entries of every Write of group, in order, into one transaction.
func (w *Writer) stageGroup(group []*batch) (*applyTxn, error) {
	a, writes := w.store.newApplyTxn(), 0
	for _, b := range group {
		writes += len(b.writes)
	}
	for _, b := range group {
		for _, wr := range b.writes {
			if err := a.stage(wr.Entries, writes); err != nil {
				return a, err
			}
		}
	}
	return a, nil
}
