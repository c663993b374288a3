package persistence

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/skl"
)

// Entry is one key set (or deleted) by a Write. Value must not change after Submit.
type Entry struct {
	Key    []byte
	Value  []byte
	Delete bool
}

// Write is the durable part of one actor step: its entries become durable together, in submission
// order relative to every other Write. Done is called once, from the writer goroutine, after the
// entries are on disk (nil) or could not be written (the error); it must not block.
// A Write with no entries is a barrier: Done runs once every Write submitted before it is durable.
type Write struct {
	Entries []Entry
	Done    func(error)
}

// WriterConfig bounds the group commit.
type WriterConfig struct {
	BatchWritesMax  int           // Writes per commit
	BatchEntriesMax int           // entries per commit (Badger caps a transaction's count)
	BatchBytesMax   int           // key+value bytes per commit (Badger caps a transaction's size)
	BatchWaitMax    time.Duration // how long a small batch waits for company; 0: never waits
	QueueWritesMax  int           // Writes waiting for a commit before Submit blocks
}

// DefaultWriterConfig is tuned for a 2-core machine with an SSD.
func DefaultWriterConfig() WriterConfig {
	return WriterConfig{
		BatchWritesMax:  4096,
		BatchEntriesMax: 16384,
		BatchBytesMax:   1 << 20,
		BatchWaitMax:    0,
		QueueWritesMax:  65536,
	}
}

// batchEntriesLimit is the most entries Badger takes in one transaction: it counts the commit marker
// as one more and refuses the entry that brings the count to 15% of the memtable divided by the
// largest skiplist node (26214 for 16 MiB memtables), so 26212.
const batchEntriesLimit = MemTableBytes*15/100/skl.MaxNodeSize - 2

// Validate checks every bound, including Badger's own transaction limits.
func (c WriterConfig) Validate() error {
	switch {
	case c.BatchWritesMax < 1 || c.BatchWritesMax > 1<<20:
		return fmt.Errorf("writer: BatchWritesMax %d outside 1..%d", c.BatchWritesMax, 1<<20)
	case c.BatchEntriesMax < 1 || c.BatchEntriesMax > batchEntriesLimit:
		return fmt.Errorf("writer: BatchEntriesMax %d outside 1..%d (Badger's transaction count limit)", c.BatchEntriesMax, batchEntriesLimit)
	case c.BatchBytesMax < 1<<10 || c.BatchBytesMax > MemTableBytes*15/100/2:
		return fmt.Errorf("writer: BatchBytesMax %d outside 1KiB..%d (half of Badger's transaction size limit)", c.BatchBytesMax, MemTableBytes*15/100/2)
	case c.BatchWaitMax < 0 || c.BatchWaitMax > 100*time.Millisecond:
		return fmt.Errorf("writer: BatchWaitMax %s outside 0..100ms", c.BatchWaitMax)
	case c.QueueWritesMax < 1 || c.QueueWritesMax > 1<<22:
		return fmt.Errorf("writer: QueueWritesMax %d outside 1..%d", c.QueueWritesMax, 1<<22)
	}
	return nil
}

// Errors of the writer.
var (
	// ErrWriterStopped: a commit failed earlier (fail-stop) or the writer was closed.
	ErrWriterStopped = errors.New("persistence: writer stopped")
	// ErrWriteTooBig: one Write exceeds a whole batch's bounds; a bug in the caller's limits.
	ErrWriteTooBig = errors.New("persistence: write exceeds batch bounds")
)

// WriterStats are cumulative counters, safe to read at any time.
type WriterStats struct {
	Batches, Writes, Entries, Bytes int64
	CommitNanos                     int64 // total time inside Badger commits (write + fsync)
}

// Writer is the single group-commit writer in front of a Store.
type Writer struct {
	store   *Store
	cfg     WriterConfig
	queue   chan *Write
	stopped chan struct{}
	failure atomic.Pointer[error]

	batches, writes, entries, bytes, commitNanos atomic.Int64
}

// NewWriter starts the writer goroutine.
func NewWriter(store *Store, cfg WriterConfig) (*Writer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	w := &Writer{store: store, cfg: cfg, queue: make(chan *Write, cfg.QueueWritesMax), stopped: make(chan struct{})}
	go w.run()
	return w, nil
}

// Submit queues wr. It blocks while the queue is full (backpressure). It never calls wr.Done itself
// when it returns an error.
func (w *Writer) Submit(wr *Write) error {
	if err := w.Err(); err != nil {
		return err
	}
	n, size := len(wr.Entries), writeBytes(wr, w.store.valueThreshold)
	if n > w.cfg.BatchEntriesMax || size > w.cfg.BatchBytesMax {
		return fmt.Errorf("%w: %d entries, %d bytes", ErrWriteTooBig, n, size)
	}
	for _, e := range wr.Entries {
		if len(e.Value) > ValueBytesMax {
			return fmt.Errorf("%w: a value of %d bytes", ErrWriteTooBig, len(e.Value))
		}
	}
	w.queue <- wr
	return nil
}

// Err reports why the writer stopped, or nil while it runs.
func (w *Writer) Err() error {
	if p := w.failure.Load(); p != nil {
		return *p
	}
	return nil
}

// Close commits everything already submitted, then stops. Nothing may be submitted after Close.
func (w *Writer) Close() error {
	close(w.queue)
	<-w.stopped
	if err := w.Err(); err != nil && !errors.Is(err, ErrWriterStopped) {
		return err
	}
	return nil
}

// Stats returns the cumulative counters.
func (w *Writer) Stats() WriterStats {
	return WriterStats{
		Batches: w.batches.Load(), Writes: w.writes.Load(), Entries: w.entries.Load(),
		Bytes: w.bytes.Load(), CommitNanos: w.commitNanos.Load(),
	}
}

func (w *Writer) run() {
	defer close(w.stopped)
	batch := make([]*Write, 0, w.cfg.BatchWritesMax)
	var carry *Write
	for {
		first := carry
		carry = nil
		if first == nil {
			var ok bool
			if first, ok = <-w.queue; !ok {
				return
			}
		}
		batch = append(batch[:0], first)
		carry = w.fill(&batch)
		w.commit(batch)
		clear(batch)
	}
}

// fill adds queued Writes to batch until a bound is reached or the queue is empty (after waiting at
// most BatchWaitMax). It returns a Write that did not fit, to start the next batch.
func (w *Writer) fill(batch *[]*Write) *Write {
	n, size := len((*batch)[0].Entries), writeBytes((*batch)[0], w.store.valueThreshold)
	var deadline <-chan time.Time
	for len(*batch) < w.cfg.BatchWritesMax {
		var wr *Write
		var ok bool
		select {
		case wr, ok = <-w.queue:
		default:
			if w.cfg.BatchWaitMax == 0 {
				return nil
			}
			if deadline == nil {
				deadline = time.After(w.cfg.BatchWaitMax)
			}
			select {
			case wr, ok = <-w.queue:
			case <-deadline:
				return nil
			}
		}
		if !ok {
			return nil
		}
		wn, ws := len(wr.Entries), writeBytes(wr, w.store.valueThreshold)
		if n+wn > w.cfg.BatchEntriesMax || size+ws > w.cfg.BatchBytesMax {
			return wr
		}
		n, size = n+wn, size+ws
		*batch = append(*batch, wr)
	}
	return nil
}

// commit writes batch as one Badger transaction (one fsync in sync mode) and completes its Writes.
func (w *Writer) commit(batch []*Write) {
	err := w.Err()
	if err == nil {
		start := time.Now()
		err = w.commitTxn(batch)
		w.commitNanos.Add(int64(time.Since(start)))
		if err != nil {
			// Fail-stop: no later Write may be acknowledged, since it could depend on this one.
			stopped := fmt.Errorf("%w: commit failed: %w", ErrWriterStopped, err)
			w.failure.CompareAndSwap(nil, &stopped)
			err = stopped
		}
	}
	if err == nil {
		w.batches.Add(1)
		w.writes.Add(int64(len(batch)))
	}
	for _, wr := range batch {
		if wr.Done != nil {
			wr.Done(err)
		}
	}
}

func (w *Writer) commitTxn(batch []*Write) error {
	txn := w.store.db.NewTransaction(true)
	defer txn.Discard()
	var n, size int64
	for _, wr := range batch {
		for _, e := range wr.Entries {
			var err error
			if e.Delete {
				err = txn.Delete(e.Key)
			} else {
				err = txn.Set(e.Key, e.Value)
			}
			if errors.Is(err, badger.ErrTxnTooBig) {
				// The configured bounds are below Badger's limits, so this is a broken limit, never split.
				panic(fmt.Sprintf("persistence: batch of %d writes exceeds Badger's transaction limits: %v", len(batch), err))
			}
			if err != nil {
				return fmt.Errorf("stage entry: %w", err)
			}
			n++
			size += int64(len(e.Key) + len(e.Value))
		}
	}
	if err := txn.Commit(); err != nil {
		return fmt.Errorf("commit %d entries: %w", n, err)
	}
	w.entries.Add(n)
	w.bytes.Add(size)
	return nil
}

// writeBytes is what a Write costs against Badger's transaction size limit, counted as Badger
// does: a value at or above the store's value threshold lives in the value log and counts as a
// pointer.
func writeBytes(wr *Write, valueThreshold int) int {
	size := 0
	for _, e := range wr.Entries {
		size += len(e.Key) + 2 // Badger's meta and user-meta bytes
		if len(e.Value) >= valueThreshold {
			size += 12 // a value pointer
		} else {
			size += len(e.Value)
		}
	}
	return size
}
