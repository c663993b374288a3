package persistence

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

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
// largest skiplist node (26214 for 16 MiB memtables), so 26211 with the applied marker.
const batchEntriesLimit = MemTableBytes*15/100/skl.MaxNodeSize - 3

// logRecordTarget closes a batch once its log record is this big (values in the value log count
// only a pointer against Badger's limits, but whole in the record).
const logRecordTarget = 8 << 20

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

// KeyBytesMax bounds a key (Badger's limit is 65,000 bytes with its timestamp).
const KeyBytesMax = 1 << 10

// badgerReserved prefixes Badger's internal keys, which it refuses from users.
var badgerReserved = []byte("!badger!")

// Errors of the writer.
var (
	// ErrWriterStopped: a commit failed earlier (fail-stop) or the writer was closed.
	ErrWriterStopped = errors.New("persistence: writer stopped")
	// ErrWriteTooBig: one Write exceeds a whole batch's bounds; a bug in the caller's limits.
	ErrWriteTooBig = errors.New("persistence: write exceeds batch bounds")
	// ErrBadEntry: an empty, oversized or reserved key; a bug in the caller.
	ErrBadEntry = errors.New("persistence: bad entry")
)

// WriterStats are cumulative counters, safe to read at any time.
type WriterStats struct {
	Batches, Writes, Entries, Bytes int64
	CommitNanos                     int64 // total time committing (commit log write + fdatasync; next to nothing in memory)

	// The applier: Badger transactions, time in them, and the batches and
	// entries acknowledged but not yet in Badger (gauges; point reads find them in memory
	// meanwhile). The committer waits while more than 65,536 entries lag.
	Applies, ApplyNanos, ApplyLag, ApplyLagEntries int64
}

// Writer is the single group-commit writer in front of a Store, and the owner of its write path:
// the commit log its committer appends to, the overlay that keeps each logged batch readable, and
// the applier that moves batches into Badger behind (applier.go).
type Writer struct {
	store *Store
	cfg   WriterConfig
	queue chan *Write
	// closeMu orders Close against Submit: an entity may still submit while the engine closes (a
	// reward being settled after its call answered), and must be refused, not send on a closed
	// queue. Submit holds it shared, as cheap as the channel send beside it.
	closeMu sync.RWMutex
	closed  bool
	staged  chan *batch // stager -> committer; unbuffered, so a batch grows until the committer is free
	stopped chan struct{}
	failure atomic.Pointer[error]

	// The write path: the committer's log and the next record's seq, the overlay it publishes to,
	// the channel to the applier, and the applier's own state.
	log           *commitLog
	logNext       uint64
	logErr        error // closing the log failed (Close reports it)
	overlay       *overlay
	toApply       chan *batch
	applierDone   chan struct{}
	applyFailed   error
	removeChecked time.Time
	lagMu         sync.Mutex
	lagCond       *sync.Cond
	lagEntries    int // entries committed to the log and not yet in Badger

	batches, writes, entries, bytes, commitNanos atomic.Int64
	applies, applyNanos, applyLag                atomic.Int64
}

// Test seams, nil in production: export_test.go sets them once, to inject a failed commit into one
// Writer or to hold its applier.
var (
	beforeCommit func(*Writer) error // a non-nil error fails the commit with it
	beforeApply  func(*Writer)       // runs before each apply, and may block
)

// NewWriter starts the writer's goroutines. Its commit log continues after the last record Badger
// holds; the segments already on disk (replayed by Open, or left by an earlier Writer on store)
// stay until Badger has flushed them.
func NewWriter(store *Store, cfg WriterConfig) (*Writer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	w := &Writer{store: store, cfg: cfg, queue: make(chan *Write, cfg.QueueWritesMax), staged: make(chan *batch), stopped: make(chan struct{}),
		toApply: make(chan *batch, applyQueueBatches), applierDone: make(chan struct{})}
	w.lagCond = sync.NewCond(&w.lagMu)
	if err := w.openLog(); err != nil {
		return nil, fmt.Errorf("writer: %w", err)
	}
	go w.applyBatches()
	go w.stage()
	go w.commitBatches()
	return w, nil
}

// openLog opens the commit log after the last record Badger holds and installs the overlay
// for the store's reads.
func (w *Writer) openLog() error {
	s := w.store
	if o := s.overlay.Load(); o != nil && o.applyFailed() != nil {
		return fmt.Errorf("%w: an earlier writer's applier failed; reopen the store", ErrWriterStopped)
	}
	next, err := s.nextSeq()
	if err != nil {
		return err
	}
	kept, err := appliedSegments(s.logDir, next-1, s.nextTs-1)
	if err != nil {
		return err
	}
	if w.log, err = openCommitLog(s.logDir, s.durability == DurabilitySync, next, kept); err != nil {
		return err
	}
	w.logNext, w.overlay = next, newOverlay(next-1)
	s.overlay.Store(w.overlay)
	return nil
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
		// Refused here, not by Badger later: once in the commit log, an entry must apply.
		if len(e.Key) == 0 || len(e.Key) > KeyBytesMax || bytes.HasPrefix(e.Key, badgerReserved) {
			return fmt.Errorf("%w: key %q", ErrBadEntry, e.Key[:min(len(e.Key), 16)])
		}
	}
	w.closeMu.RLock()
	defer w.closeMu.RUnlock()
	if w.closed {
		return fmt.Errorf("%w: closed", ErrWriterStopped)
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

// Close commits everything already submitted, waits until Badger has it, closes the commit log,
// then stops. Nothing may be submitted after Close.
func (w *Writer) Close() error {
	w.closeMu.Lock()
	if !w.closed {
		w.closed = true
		close(w.queue)
	}
	w.closeMu.Unlock()
	<-w.stopped
	if err := w.Err(); err != nil && !errors.Is(err, ErrWriterStopped) {
		return err
	}
	if w.logErr != nil {
		return fmt.Errorf("close commit log: %w", w.logErr)
	}
	return nil
}

// Stats returns the cumulative counters.
func (w *Writer) Stats() WriterStats {
	w.lagMu.Lock()
	lagEntries := w.lagEntries
	w.lagMu.Unlock()
	return WriterStats{
		Batches: w.batches.Load(), Writes: w.writes.Load(), Entries: w.entries.Load(),
		Bytes: w.bytes.Load(), CommitNanos: w.commitNanos.Load(),
		Applies: w.applies.Load(), ApplyNanos: w.applyNanos.Load(), ApplyLag: w.applyLag.Load(),
		ApplyLagEntries: int64(lagEntries),
	}
}

// batch is a group of Writes that becomes one commit log record.
type batch struct {
	rec           []byte // the record being built; nil once logged
	seq           uint64 // the record's seq, once logged
	writes        []*Write
	entries, size int   // against the batch bounds (size as writeBytes counts it)
	bytes         int64 // key+value bytes, for the stats
}

// The writer is two goroutines: the stager collects queued Writes into a log record while
// the committer commits the previous one, so staging (a third of a batch's time under load) no
// longer adds to every commit. The committer takes a batch only when it is free, so a batch grows
// with everything that arrived during the previous commit, as a single loop's did.
func (w *Writer) stage() {
	defer close(w.staged)
	var carry *Write
	for {
		first := carry
		if first == nil {
			var ok bool
			if first, ok = <-w.queue; !ok {
				return
			}
		}
		b := &batch{rec: newRecord(4 << 10)}
		w.add(b, first)
		var closed bool
		if carry, closed = w.fill(b); closed {
			return
		}
	}
}

// fill stages queued Writes into b until the committer takes it, b reaches a bound, or the queue
// closes. A Write that does not fit is returned to start the next batch. With BatchWaitMax, b is
// offered to the committer only once it is full or has waited that long for company.
func (w *Writer) fill(b *batch) (carry *Write, closed bool) {
	offer := w.staged // nil while b waits for company
	var wait <-chan time.Time
	if w.cfg.BatchWaitMax > 0 {
		t := time.NewTimer(w.cfg.BatchWaitMax)
		defer t.Stop()
		wait, offer = t.C, nil
	}
	for {
		if len(b.writes) >= w.cfg.BatchWritesMax || len(b.rec) >= logRecordTarget {
			w.staged <- b
			return nil, false
		}
		var wr *Write
		var ok bool
		// What is queued already goes in first, so the committer gets the fullest batch there is.
		select {
		case wr, ok = <-w.queue:
		default:
			select {
			case wr, ok = <-w.queue:
			case offer <- b:
				return nil, false
			case <-wait:
				wait, offer = nil, w.staged
				continue
			}
		}
		if !ok {
			w.staged <- b
			return nil, true
		}
		if b.entries+len(wr.Entries) > w.cfg.BatchEntriesMax || b.size+writeBytes(wr, w.store.valueThreshold) > w.cfg.BatchBytesMax {
			w.staged <- b
			return wr, false
		}
		w.add(b, wr)
	}
}

// add stages wr's entries into b's record.
func (w *Writer) add(b *batch, wr *Write) {
	b.writes = append(b.writes, wr)
	b.entries += len(wr.Entries)
	b.size += writeBytes(wr, w.store.valueThreshold)
	for _, e := range wr.Entries {
		b.bytes += int64(len(e.Key) + len(e.Value))
		b.rec = appendEntry(b.rec, e)
	}
}

// commitBatches commits staged batches one at a time, in order.
func (w *Writer) commitBatches() {
	defer close(w.stopped)
	for b := range w.staged {
		w.commit(b)
	}
	close(w.toApply)
	<-w.applierDone
	w.logErr = w.log.close()
}

// commit makes b durable (one commit log record) and completes its Writes.
func (w *Writer) commit(b *batch) {
	err := w.Err()
	if err == nil {
		start := time.Now()
		err = w.commitBatch(b)
		w.commitNanos.Add(int64(time.Since(start)))
		if err != nil {
			err = w.fail(fmt.Errorf("commit failed: %w", err))
		}
	}
	if err == nil {
		w.batches.Add(1)
		w.writes.Add(int64(len(b.writes)))
	}
	for _, wr := range b.writes {
		if wr.Done != nil {
			wr.Done(err)
		}
	}
}

// fail stops the writer for good (fail-stop): no later Write may be acknowledged, since it could
// depend on one that failed. It returns the error every later Write gets.
func (w *Writer) fail(err error) error {
	stopped := fmt.Errorf("%w: %w", ErrWriterStopped, err)
	if !w.failure.CompareAndSwap(nil, &stopped) {
		return *w.failure.Load()
	}
	return stopped
}

// commitBatch appends b to the commit log (one fdatasync in sync mode), makes it visible to
// reads, and hands it to the applier, which waits when Badger falls applyQueueBatches behind.
func (w *Writer) commitBatch(b *batch) error {
	if beforeCommit != nil {
		if err := beforeCommit(w); err != nil {
			return err
		}
	}
	if b.entries == 0 { // barriers only: nothing to write, everything before is already durable
		return nil
	}
	// Wait while Badger is far behind: the overlay holds every unapplied entry, and a large one
	// costs more in map upkeep and garbage collection than waiting does (a bulk import showed it).
	w.lagMu.Lock()
	for w.lagEntries > applyLagEntriesMax {
		w.lagCond.Wait()
	}
	w.lagEntries += b.entries
	w.lagMu.Unlock()
	b.seq = w.logNext
	sealRecord(b.rec, b.seq)
	if err := w.log.append(b.rec, b.seq); err != nil {
		return err
	}
	w.logNext++
	b.rec = nil
	w.overlay.publish(b.seq, b.writes)
	w.entries.Add(int64(b.entries))
	w.bytes.Add(b.bytes)
	w.applyLag.Add(1)
	w.toApply <- b
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
