package persistence

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func testLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// openTestStore opens a store and closes it when the test ends (Badger ignores a second Close).
func openTestStore(t *testing.T, dir string, d Durability) *Store {
	t.Helper()
	s, err := Open(dir, d, testLogger())
	if err != nil {
		t.Fatalf("Open(%q, %s): %v", dir, d, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// startWriter starts a writer on s and closes it when the test ends, before the store.
func startWriter(t *testing.T, s *Store, cfg WriterConfig) *Writer {
	t.Helper()
	w, err := NewWriter(s, cfg)
	if err != nil {
		t.Fatalf("NewWriter: %v", err)
	}
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { _ = w.Close() }) })
	return w
}

// submitWait submits one Write and waits for its Done.
func submitWait(t *testing.T, w *Writer, entries ...Entry) error {
	t.Helper()
	done := make(chan error, 1)
	if err := w.Submit(&Write{Entries: entries, Done: func(err error) { done <- err }}); err != nil {
		return fmt.Errorf("submit: %w", err)
	}
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("Write not completed after 10s")
		return nil
	}
}

// holdWriter parks the writer goroutine inside a barrier's Done until the returned release is called,
// so that Writes submitted meanwhile pile up in the queue and are drained deterministically.
func holdWriter(t *testing.T, w *Writer) (release func()) {
	t.Helper()
	entered, gate := make(chan struct{}), make(chan struct{})
	if err := w.Submit(&Write{Done: func(error) { close(entered); <-gate }}); err != nil {
		t.Fatalf("submit hold barrier: %v", err)
	}
	<-entered
	release = sync.OnceFunc(func() { close(gate) })
	t.Cleanup(release)
	return release
}

func mustGet(t *testing.T, s *Store, key []byte) []byte {
	t.Helper()
	v, err := s.Get(key)
	if err != nil {
		t.Fatalf("Get(%x): %v", key, err)
	}
	return v
}

func mustMissing(t *testing.T, s *Store, key []byte) {
	t.Helper()
	if v, err := s.Get(key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(%x) = %q, %v; want ErrNotFound", key, v, err)
	}
}

// concurrentLoad runs goroutines x perG Writes, each goroutine waiting for one Done before its next
// Submit. Write i of goroutine g sets key LedgerKey(g, i) (and, for every third one, a second key),
// values of varying length. It returns every key's value and the totals of entries and bytes.
func concurrentLoad(t *testing.T, w *Writer, goroutines, perG int) (want map[string][]byte, entries, size int64) {
	t.Helper()
	var mu sync.Mutex
	want = make(map[string][]byte, goroutines*perG)
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			done := make(chan error, 1)
			for i := range perG {
				es := []Entry{{Key: LedgerKey(uint64(g), uint64(i)), Value: bytes.Repeat([]byte{byte(g)}, 1+(g*perG+i)%97)}}
				if i%3 == 0 {
					es = append(es, Entry{Key: CardKey(uint64(g)<<32 | uint64(i)), Value: []byte(fmt.Sprintf("card %d/%d", g, i))})
				}
				if err := w.Submit(&Write{Entries: es, Done: func(err error) { done <- err }}); err != nil {
					errs <- fmt.Errorf("goroutine %d write %d: submit: %w", g, i, err)
					return
				}
				if err := <-done; err != nil {
					errs <- fmt.Errorf("goroutine %d write %d: done: %w", g, i, err)
					return
				}
				mu.Lock()
				for _, e := range es {
					want[string(e.Key)] = e.Value
					entries++
					size += int64(len(e.Key) + len(e.Value))
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return want, entries, size
}

func TestWriter_DurableAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, DurabilitySync, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWriter(s, DefaultWriterConfig())
	if err != nil {
		t.Fatal(err)
	}
	want, _, _ := concurrentLoad(t, w, 64, 200)
	if err := w.Close(); err != nil {
		t.Fatalf("writer Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("store Close: %v", err)
	}

	s = openTestStore(t, dir, DurabilitySync)
	for k, v := range want {
		if got := mustGet(t, s, []byte(k)); !bytes.Equal(got, v) {
			t.Fatalf("after reopen Get(%x) = %q, want %q", k, got, v)
		}
	}
	// Nothing else was written: count the keys under the two prefixes used.
	n := 0
	for _, p := range []byte{PrefixLedger, PrefixCard} {
		if err := s.Scan([]byte{p}, false, func(_, _ []byte) (bool, error) { n++; return true, nil }); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := n, len(want); got != want {
		t.Fatalf("keys after reopen = %d, want %d", got, want)
	}
}

func TestWriter_GroupCommit(t *testing.T) {
	s := openTestStore(t, t.TempDir(), DurabilitySync)
	w := startWriter(t, s, DefaultWriterConfig())
	const goroutines, perG = 64, 200
	_, entries, size := concurrentLoad(t, w, goroutines, perG)

	st := w.Stats()
	if got, want := st.Writes, int64(goroutines*perG); got != want {
		t.Errorf("Stats().Writes = %d, want %d", got, want)
	}
	if got, want := st.Entries, entries; got != want {
		t.Errorf("Stats().Entries = %d, want %d", got, want)
	}
	if got, want := st.Bytes, size; got != want {
		t.Errorf("Stats().Bytes = %d, want %d", got, want)
	}
	if st.Batches < 1 || st.Writes < 2*st.Batches {
		t.Errorf("Stats() = %d writes in %d batches, want at least 2 writes per batch (group commit)", st.Writes, st.Batches)
	}
	if st.CommitNanos <= 0 {
		t.Errorf("Stats().CommitNanos = %d, want > 0", st.CommitNanos)
	}
	t.Logf("%d writes in %d batches (%.1f per batch)", st.Writes, st.Batches, float64(st.Writes)/float64(st.Batches))
}

func TestWriter_DoneInSubmissionOrder(t *testing.T) {
	s := openTestStore(t, "", DurabilityMemory)
	cfg := DefaultWriterConfig()
	cfg.BatchWritesMax = 7 // many batches
	w := startWriter(t, s, cfg)
	release := holdWriter(t, w)

	const n = 1000
	var order []int // appended only by Done, i.e. on the writer goroutine
	var earlierAtBarrier []int
	finished := make(chan struct{})
	for i := range n {
		wr := &Write{Entries: []Entry{{Key: AccountKey(uint64(i)), Value: Uint64(uint64(i))}}, Done: func(err error) {
			if err != nil {
				t.Errorf("write %d: Done(%v)", i, err)
			}
			order = append(order, i)
		}}
		if i%250 == 249 {
			// A barrier in the middle: every earlier Write is done when it completes.
			wr = &Write{Done: func(err error) {
				if err != nil {
					t.Errorf("barrier %d: Done(%v)", i, err)
				}
				earlierAtBarrier = append(earlierAtBarrier, len(order))
				order = append(order, i)
			}}
		}
		if err := w.Submit(wr); err != nil {
			t.Fatalf("Submit %d: %v", i, err)
		}
	}
	if err := w.Submit(&Write{Done: func(error) { close(finished) }}); err != nil {
		t.Fatal(err)
	}
	release()
	<-finished

	if got, want := len(order), n; got != want {
		t.Fatalf("Done calls = %d, want %d", got, want)
	}
	for i, got := range order {
		if got != i {
			t.Fatalf("Done #%d was for write %d, want %d", i, got, i)
		}
	}
	if got, want := fmt.Sprint(earlierAtBarrier), "[249 499 749 999]"; got != want {
		t.Fatalf("writes done when each barrier completed = %s, want %s", got, want)
	}
	if st := w.Stats(); st.Batches < n/7 {
		t.Fatalf("Stats().Batches = %d, want at least %d (BatchWritesMax 7)", st.Batches, n/7)
	}
}

// A barrier submitted after Writes from many goroutines were submitted completes only after all of them.
func TestWriter_BarrierAfterConcurrentWrites(t *testing.T) {
	s := openTestStore(t, "", DurabilityMemory)
	cfg := DefaultWriterConfig()
	cfg.BatchWritesMax = 16
	w := startWriter(t, s, cfg)

	for round := range 20 {
		var done atomic.Int64
		var wg sync.WaitGroup
		const goroutines, perG = 8, 25
		for g := range goroutines {
			wg.Go(func() {
				for i := range perG {
					k := LedgerKey(uint64(round), uint64(g*perG+i))
					if err := w.Submit(&Write{Entries: []Entry{{Key: k, Value: k}}, Done: func(err error) {
						if err == nil {
							done.Add(1)
						}
					}}); err != nil {
						t.Errorf("Submit: %v", err)
					}
				}
			})
		}
		wg.Wait() // every Submit returned: the barrier is submitted after all of them
		barrier := make(chan int64, 1)
		if err := w.Submit(&Write{Done: func(error) { barrier <- done.Load() }}); err != nil {
			t.Fatal(err)
		}
		if got, want := <-barrier, int64(goroutines*perG); got != want {
			t.Fatalf("round %d: writes done when the barrier completed = %d, want %d", round, got, want)
		}
		for i := range goroutines * perG {
			k := LedgerKey(uint64(round), uint64(i))
			if got := mustGet(t, s, k); !bytes.Equal(got, k) {
				t.Fatalf("Get(%x) = %x, want %x", k, got, k)
			}
		}
	}
}

func TestWriter_LastWriteWins(t *testing.T) {
	s := openTestStore(t, "", DurabilityMemory)
	cfg := DefaultWriterConfig()
	cfg.BatchWritesMax = 3 // the overwrites span many batches
	w := startWriter(t, s, cfg)
	hot, cold := MarkerKey("hot"), MarkerKey("cold")

	release := holdWriter(t, w)
	const n = 100
	for i := range n {
		es := []Entry{{Key: hot, Value: Uint64(uint64(i))}}
		if i%2 == 0 {
			es = append(es, Entry{Key: cold, Value: Uint64(uint64(i))})
		}
		if err := w.Submit(&Write{Entries: es}); err != nil {
			t.Fatal(err)
		}
	}
	// The same key twice inside one Write, and in one batch: the later entry wins.
	if err := w.Submit(&Write{Entries: []Entry{{Key: MarkerKey("twice"), Value: []byte("first")}, {Key: MarkerKey("twice"), Value: []byte("second")}}}); err != nil {
		t.Fatal(err)
	}
	release()
	if err := submitWait(t, w); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		key  []byte
		want []byte
	}{
		{hot, Uint64(n - 1)},
		{cold, Uint64(n - 2)},
		{MarkerKey("twice"), []byte("second")},
	} {
		if got := mustGet(t, s, c.key); !bytes.Equal(got, c.want) {
			t.Errorf("Get(%q) = %x, want %x", c.key, got, c.want)
		}
	}
	// Submitted one at a time, each its own batch.
	for i := range 5 {
		if err := submitWait(t, w, Entry{Key: hot, Value: []byte{byte(i)}}); err != nil {
			t.Fatal(err)
		}
		if got, want := mustGet(t, s, hot), []byte{byte(i)}; !bytes.Equal(got, want) {
			t.Fatalf("Get(hot) = %x, want %x", got, want)
		}
	}
}

func TestWriter_Delete(t *testing.T) {
	s := openTestStore(t, t.TempDir(), DurabilityNone)
	w := startWriter(t, s, DefaultWriterConfig())
	a, b, c := PartyKey(1), PartyKey(2), PartyKey(3)
	if err := submitWait(t, w, Entry{Key: a, Value: []byte("a")}, Entry{Key: b, Value: []byte("b")}, Entry{Key: c, Value: []byte("c")}); err != nil {
		t.Fatal(err)
	}
	// Delete in a later batch.
	if err := submitWait(t, w, Entry{Key: a, Delete: true}); err != nil {
		t.Fatal(err)
	}
	mustMissing(t, s, a)
	if got, want := mustGet(t, s, b), []byte("b"); !bytes.Equal(got, want) {
		t.Fatalf("Get(b) = %q, want %q", got, want)
	}
	// Set then delete in one Write, delete then set in another of the same batch.
	release := holdWriter(t, w)
	if err := w.Submit(&Write{Entries: []Entry{{Key: b, Value: []byte("b2")}, {Key: b, Delete: true}}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Submit(&Write{Entries: []Entry{{Key: c, Delete: true}}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Submit(&Write{Entries: []Entry{{Key: c, Value: []byte("c2")}}}); err != nil {
		t.Fatal(err)
	}
	// Deleting an absent key is fine.
	if err := w.Submit(&Write{Entries: []Entry{{Key: PartyKey(99), Delete: true}}}); err != nil {
		t.Fatal(err)
	}
	release()
	if err := submitWait(t, w); err != nil {
		t.Fatal(err)
	}
	mustMissing(t, s, b)
	mustMissing(t, s, PartyKey(99))
	if got, want := mustGet(t, s, c), []byte("c2"); !bytes.Equal(got, want) {
		t.Fatalf("Get(c) = %q, want %q", got, want)
	}
	n := 0
	if err := s.Scan([]byte{PrefixParty}, false, func(_, _ []byte) (bool, error) { n++; return true, nil }); err != nil {
		t.Fatal(err)
	}
	if got, want := n, 1; got != want {
		t.Fatalf("party keys = %d, want %d", got, want)
	}
}

// doneRecorder makes Writes whose Done records the result; it fails the test on a second Done.
type doneRecorder struct {
	t     *testing.T
	mu    sync.Mutex
	calls int
	errs  map[int]error // by write index; absent: Done not called
}

func (r *doneRecorder) write(i int, es ...Entry) *Write {
	return &Write{Entries: es, Done: func(err error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if _, dup := r.errs[i]; dup {
			r.t.Errorf("write %d: Done called twice", i)
		}
		r.calls++
		r.errs[i] = err
	}}
}

func TestWriter_FailStop(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir, DurabilitySync)
	cfg := DefaultWriterConfig()
	cfg.BatchWritesMax = 4      // the Writes queued behind the failure span several batches
	w, err := NewWriter(s, cfg) // closed by the test itself (Close is not idempotent)
	if err != nil {
		t.Fatal(err)
	}

	before := MarkerKey("before")
	if err := submitWait(t, w, Entry{Key: before, Value: []byte("ok")}); err != nil {
		t.Fatalf("write before the failure: %v", err)
	}
	if err := w.Err(); err != nil {
		t.Fatalf("Err() before the failure = %v, want nil", err)
	}

	// Park the writer, queue Writes behind it, make the next commit fail, then let it go on.
	release := holdWriter(t, w)
	rec := &doneRecorder{t: t, errs: map[int]error{}}
	const queued = 10
	all := make(chan struct{})
	for i := range queued {
		if err := w.Submit(rec.write(i, Entry{Key: LedgerKey(7, uint64(i)), Value: []byte("lost")})); err != nil {
			t.Fatalf("Submit %d before the failure: %v", i, err)
		}
	}
	// A barrier at the end of the queue: it must fail too.
	barrierErr := make(chan error, 1)
	if err := w.Submit(&Write{Done: func(err error) { barrierErr <- err; close(all) }}); err != nil {
		t.Fatal(err)
	}
	statsBefore := w.Stats()
	injected := errors.New("injected commit failure")
	w.failNextCommit(injected)
	release()
	select {
	case <-all:
	case <-time.After(10 * time.Second):
		t.Fatal("queued Writes not completed 10s after the failure")
	}

	// The failure really happened, and it was Badger's commit that failed.
	failure := w.Err()
	if failure == nil {
		t.Fatal("Err() = nil after a failed commit, want non-nil")
	}
	if !errors.Is(failure, ErrWriterStopped) || !errors.Is(failure, injected) || !strings.Contains(failure.Error(), "commit failed") {
		t.Fatalf("Err() = %v, want ErrWriterStopped wrapping the commit failure", failure)
	}
	rec.mu.Lock()
	if got, want := rec.calls, queued; got != want {
		t.Fatalf("Done calls for queued Writes = %d, want %d", got, want)
	}
	for i := range queued {
		if err := rec.errs[i]; !errors.Is(err, ErrWriterStopped) {
			t.Errorf("queued write %d: Done(%v), want ErrWriterStopped", i, err)
		}
	}
	if !errors.Is(rec.errs[0], failure) && rec.errs[0].Error() != failure.Error() {
		t.Errorf("failing write: Done(%v), want the failure %v", rec.errs[0], failure)
	}
	rec.mu.Unlock()
	if err := <-barrierErr; !errors.Is(err, ErrWriterStopped) {
		t.Errorf("barrier after the failure: Done(%v), want ErrWriterStopped", err)
	}
	if got, want := w.Stats(), statsBefore; got.Batches != want.Batches || got.Writes != want.Writes || got.Entries != want.Entries {
		t.Errorf("Stats() after the failure = %+v, want unchanged %+v", got, want)
	}

	// Every later Submit is refused without Done, from any goroutine.
	var later atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				wr := &Write{Done: func(error) { later.Add(1) }}
				if i%2 == 0 {
					wr.Entries = []Entry{{Key: LedgerKey(8, uint64(g*50+i)), Value: []byte("x")}}
				}
				if err := w.Submit(wr); !errors.Is(err, ErrWriterStopped) {
					t.Errorf("Submit after the failure = %v, want ErrWriterStopped", err)
				}
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Logf("writer Close after the failure: %v", err)
	}
	if got := later.Load(); got != 0 {
		t.Fatalf("Done called %d times for Writes refused by Submit, want 0", got)
	}
	if err := w.Err(); !errors.Is(err, ErrWriterStopped) {
		t.Fatalf("Err() after Close = %v, want ErrWriterStopped", err)
	}

	// On disk: what was acknowledged, nothing that was failed.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openTestStore(t, dir, DurabilitySync)
	if got, want := mustGet(t, s2, before), []byte("ok"); !bytes.Equal(got, want) {
		t.Fatalf("acknowledged write after reopen = %q, want %q", got, want)
	}
	for _, p := range [][]byte{LedgerPrefix(7), LedgerPrefix(8)} {
		if err := s2.Scan(p, false, func(k, _ []byte) (bool, error) {
			t.Errorf("failed write's key %x is on disk", k)
			return true, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// A commit fails while many goroutines keep writing: Done results, in the order the writer makes
// them, are all nil and then all errors; once a goroutine saw its Write fail, Submit refuses; what was
// acknowledged is stored and what failed is not.
func TestWriter_FailStopUnderLoad(t *testing.T) {
	for _, d := range []Durability{DurabilityMemory, DurabilitySync} {
		t.Run(string(d), func(t *testing.T) { testFailStopUnderLoad(t, d) })
	}
}

func testFailStopUnderLoad(t *testing.T, d Durability) {
	dir := ""
	if d != DurabilityMemory {
		dir = t.TempDir()
	}
	s := openTestStore(t, dir, d)
	w := startWriter(t, s, DefaultWriterConfig())
	injected := errors.New("injected commit failure")
	var once sync.Once

	var mu sync.Mutex
	var results []error // Done results in call order (Done runs on the writer goroutine)
	acked := map[string]bool{}
	failed := map[string]bool{}
	var acks atomic.Int64
	var refused atomic.Int64

	var wg sync.WaitGroup
	const goroutines = 16
	for g := range goroutines {
		wg.Go(func() {
			done := make(chan error, 1)
			sawFailure := false
			for i := 0; ; i++ {
				if i == 100_000 {
					t.Errorf("goroutine %d: writer never stopped", g)
					return
				}
				k := LedgerKey(uint64(g), uint64(i))
				wr := &Write{Entries: []Entry{{Key: k, Value: k}}, Done: func(err error) {
					mu.Lock()
					results = append(results, err)
					if err == nil {
						acked[string(k)] = true
					} else {
						failed[string(k)] = true
					}
					mu.Unlock()
					done <- err
				}}
				if g == 0 && acks.Load() >= 2000 {
					once.Do(func() { w.failNextCommit(injected) })
				}
				if err := w.Submit(wr); err != nil {
					if !errors.Is(err, ErrWriterStopped) {
						t.Errorf("goroutine %d: Submit = %v, want ErrWriterStopped", g, err)
					}
					refused.Add(1)
					return
				}
				if sawFailure {
					t.Errorf("goroutine %d: Submit accepted a Write after an earlier one failed", g)
				}
				if err := <-done; err != nil {
					if !errors.Is(err, ErrWriterStopped) {
						t.Errorf("goroutine %d: Done(%v), want ErrWriterStopped", g, err)
					}
					sawFailure = true
				} else {
					acks.Add(1)
				}
			}
		})
	}
	wg.Wait()

	if err := w.Err(); !errors.Is(err, injected) {
		t.Fatalf("Err() = %v, want the commit failure", err)
	}
	if got, want := refused.Load(), int64(goroutines); got != want {
		t.Fatalf("goroutines stopped by a refused Submit = %d, want %d", got, want)
	}
	mu.Lock()
	defer mu.Unlock()
	firstErr := -1
	for i, err := range results {
		if err != nil && firstErr < 0 {
			firstErr = i
		}
		if err == nil && firstErr >= 0 {
			t.Fatalf("Done #%d acknowledged nil after Done #%d failed", i, firstErr)
		}
	}
	if firstErr >= 0 && !errors.Is(results[firstErr], injected) {
		t.Fatalf("first failure %v, want the injected one", results[firstErr])
	}
	if firstErr < 2000 {
		t.Fatalf("first failure at Done #%d, want it after at least 2000 acknowledgements", firstErr)
	}
	if len(acked) < 2000 || len(failed) < 1 {
		t.Fatalf("%d acknowledged and %d failed Writes, want >= 2000 and >= 1", len(acked), len(failed))
	}
	for k := range acked {
		mustGet(t, s, []byte(k))
	}
	for k := range failed {
		mustMissing(t, s, []byte(k))
	}
	t.Logf("%d acknowledged, %d failed", len(acked), len(failed))
}

func TestWriter_WriteTooBig(t *testing.T) {
	s := openTestStore(t, "", DurabilityMemory)
	cfg := DefaultWriterConfig()
	cfg.BatchEntriesMax = 10
	cfg.BatchBytesMax = 1 << 10
	w := startWriter(t, s, cfg)

	tooMany := make([]Entry, 11)
	for i := range tooMany {
		tooMany[i] = Entry{Key: CardKey(uint64(i)), Value: []byte("v")}
	}
	big := []Entry{{Key: CardKey(100), Value: make([]byte, 1<<10-len(CardKey(100))-2+1)}} // one byte over (2: Badger's meta)
	huge := []Entry{{Key: CardKey(101), Value: make([]byte, ValueBytesMax+1)}}
	for name, es := range map[string][]Entry{"entries": tooMany, "bytes": big, "value": huge} {
		called := false
		err := w.Submit(&Write{Entries: es, Done: func(error) { called = true }})
		if !errors.Is(err, ErrWriteTooBig) {
			t.Errorf("%s: Submit = %v, want ErrWriteTooBig", name, err)
		}
		if called {
			t.Errorf("%s: Done called for a refused Write", name)
		}
	}
	// The writer goes on; nothing of the refused Writes was written.
	if err := w.Err(); err != nil {
		t.Fatalf("Err() = %v, want nil", err)
	}
	if err := submitWait(t, w); err != nil {
		t.Fatal(err)
	}
	for _, e := range append(append(tooMany, big...), huge...) {
		mustMissing(t, s, e.Key)
	}
	if st := w.Stats(); st.Entries != 0 || st.Bytes != 0 || st.Writes != 1 {
		t.Fatalf("Stats() = %+v, want only the barrier", st)
	}
	// Exactly at the bounds is fine.
	atBound := []Entry{{Key: CardKey(200), Value: make([]byte, 1<<10-len(CardKey(200))-2)}}
	if err := submitWait(t, w, atBound...); err != nil {
		t.Fatalf("Write of exactly BatchBytesMax bytes: %v", err)
	}

	if err := submitWait(t, w, tooMany[:10]...); err != nil {
		t.Fatalf("Write of exactly BatchEntriesMax entries: %v", err)
	}
	mustGet(t, s, CardKey(200))
	mustGet(t, s, CardKey(9))
}

// TestWriter_SubmitAfterClose: a Write submitted once Close began is refused with ErrWriterStopped
// (an entity settling a reward while the engine closes did so), never sent on the closed queue.
func TestWriter_SubmitAfterClose(t *testing.T) {
	s := openTestStore(t, "", DurabilityMemory)
	w := startWriter(t, s, DefaultWriterConfig())
	if err := submitWait(t, w, Entry{Key: CardKey(1), Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	called := false
	err := w.Submit(&Write{Entries: []Entry{{Key: CardKey(2), Value: []byte("v")}}, Done: func(error) { called = true }})
	if !errors.Is(err, ErrWriterStopped) || called {
		t.Fatalf("Submit after Close = %v (Done called: %v), want ErrWriterStopped", err, called)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("a second Close: %v", err)
	}
}

// Writes that do not fit in the current batch start the next one; every batch stays in bounds.
func TestWriter_BatchBoundsSplit(t *testing.T) {
	s := openTestStore(t, "", DurabilityMemory)
	cfg := DefaultWriterConfig()
	cfg.BatchEntriesMax = 10
	cfg.BatchBytesMax = 1 << 10
	w := startWriter(t, s, cfg)
	// queueBarrier submits a barrier behind the queued Writes and returns a channel closed by its Done.
	queueBarrier := func() chan struct{} {
		done := make(chan struct{})
		if err := w.Submit(&Write{Done: func(error) { close(done) }}); err != nil {
			t.Fatal(err)
		}
		return done
	}

	release := holdWriter(t, w)
	for i := range 30 { // 30 Writes of 3 entries: 3 Writes per batch by entries
		es := []Entry{{Key: LedgerKey(1, uint64(3*i))}, {Key: LedgerKey(1, uint64(3*i+1))}, {Key: LedgerKey(1, uint64(3*i+2))}}
		if err := w.Submit(&Write{Entries: es}); err != nil {
			t.Fatal(err)
		}
	}
	done := queueBarrier() // fits in the last batch: no entries
	release()
	<-done
	st := w.Stats()
	if got, want := st.Batches, int64(1+10); got != want { // hold barrier + 10 batches
		t.Errorf("Stats().Batches = %d, want %d", got, want)
	}
	if got, want := st.Writes, int64(1+30+1); got != want {
		t.Errorf("Stats().Writes = %d, want %d", got, want)
	}
	if got, want := st.Entries, int64(90); got != want {
		t.Errorf("Stats().Entries = %d, want %d", got, want)
	}

	release = holdWriter(t, w)
	for i := range 10 { // 10 Writes of 300 bytes: 3 Writes per batch by bytes
		k := PaymentKey(fmt.Sprint(i))
		if err := w.Submit(&Write{Entries: []Entry{{Key: k, Value: make([]byte, 300-len(k))}}}); err != nil {
			t.Fatal(err)
		}
	}
	done = queueBarrier()
	release()
	<-done
	if got, want := w.Stats().Batches, st.Batches+1+4; got != want { // hold barrier + 3,3,3,1 Writes
		t.Errorf("Stats().Batches = %d, want %d", got, want)
	}
	if got, want := w.Stats().Bytes, st.Bytes+3000; got != want {
		t.Errorf("Stats().Bytes = %d, want %d", got, want)
	}
	for i := range 90 {
		if got := mustGet(t, s, LedgerKey(1, uint64(i))); len(got) != 0 {
			t.Fatalf("Get(ledger %d) = %q, want empty", i, got)
		}
	}
}

func TestWriterConfig_Validate(t *testing.T) {
	if err := DefaultWriterConfig().Validate(); err != nil {
		t.Fatalf("DefaultWriterConfig().Validate() = %v, want nil", err)
	}
	for _, c := range []struct {
		name string
		edit func(*WriterConfig)
		ok   bool
	}{
		{"writes 0", func(c *WriterConfig) { c.BatchWritesMax = 0 }, false},
		{"writes -1", func(c *WriterConfig) { c.BatchWritesMax = -1 }, false},
		{"writes 1", func(c *WriterConfig) { c.BatchWritesMax = 1 }, true},
		{"writes max", func(c *WriterConfig) { c.BatchWritesMax = 1 << 20 }, true},
		{"writes over", func(c *WriterConfig) { c.BatchWritesMax = 1<<20 + 1 }, false},
		{"entries 0", func(c *WriterConfig) { c.BatchEntriesMax = 0 }, false},
		{"entries 1", func(c *WriterConfig) { c.BatchEntriesMax = 1 }, true},
		{"entries over", func(c *WriterConfig) { c.BatchEntriesMax = 1 << 30 }, false},
		{"bytes 0", func(c *WriterConfig) { c.BatchBytesMax = 0 }, false},
		{"bytes under 1KiB", func(c *WriterConfig) { c.BatchBytesMax = 1<<10 - 1 }, false},
		{"bytes 1KiB", func(c *WriterConfig) { c.BatchBytesMax = 1 << 10 }, true},
		{"bytes over", func(c *WriterConfig) { c.BatchBytesMax = MemTableBytes }, false},
		{"wait -1", func(c *WriterConfig) { c.BatchWaitMax = -1 }, false},
		{"wait 0", func(c *WriterConfig) { c.BatchWaitMax = 0 }, true},
		{"wait 100ms", func(c *WriterConfig) { c.BatchWaitMax = 100 * time.Millisecond }, true},
		{"wait over", func(c *WriterConfig) { c.BatchWaitMax = 100*time.Millisecond + 1 }, false},
		{"queue 0", func(c *WriterConfig) { c.QueueWritesMax = 0 }, false},
		{"queue 1", func(c *WriterConfig) { c.QueueWritesMax = 1 }, true},
		{"queue max", func(c *WriterConfig) { c.QueueWritesMax = 1 << 22 }, true},
		{"queue over", func(c *WriterConfig) { c.QueueWritesMax = 1<<22 + 1 }, false},
	} {
		cfg := DefaultWriterConfig()
		c.edit(&cfg)
		err := cfg.Validate()
		if got, want := err == nil, c.ok; got != want {
			t.Errorf("%s: Validate() = %v, want ok=%v", c.name, err, want)
		}
		if !c.ok {
			if _, err := NewWriter(nil, cfg); err == nil {
				t.Errorf("%s: NewWriter accepted an invalid config", c.name)
			}
		}
	}
}

// largestValid finds the largest value of a bound that Validate accepts.
func largestValid(set func(*WriterConfig, int)) int {
	lo, hi := 1, 1<<30 // lo valid, hi invalid
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		cfg := DefaultWriterConfig()
		set(&cfg, mid)
		if cfg.Validate() == nil {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

// Every config Validate accepts must fit Badger's transaction limits: a Write at the largest allowed
// entries and bytes commits (the writer panics on ErrTxnTooBig).
func TestWriterConfig_LargestBatchFitsBadger(t *testing.T) {
	maxEntries := largestValid(func(c *WriterConfig, v int) { c.BatchEntriesMax = v })
	maxBytes := largestValid(func(c *WriterConfig, v int) { c.BatchBytesMax = v })
	cfg := DefaultWriterConfig()
	cfg.BatchEntriesMax, cfg.BatchBytesMax = maxEntries, maxBytes
	if err := cfg.Validate(); err != nil {
		t.Fatalf("largest bounds together: %v", err)
	}
	t.Logf("largest valid BatchEntriesMax %d, BatchBytesMax %d", maxEntries, maxBytes)

	s := openTestStore(t, t.TempDir(), DurabilityNone)
	w := startWriter(t, s, cfg)
	// Most entries, with small values filling the byte bound.
	es := make([]Entry, maxEntries)
	keyLen := len(LedgerKey(0, 0))
	per := maxBytes/maxEntries - keyLen - 2
	for i := range es {
		es[i] = Entry{Key: LedgerKey(1, uint64(i)), Value: make([]byte, per)}
	}
	if got := writeBytes(&Write{Entries: es}, s.valueThreshold); got > maxBytes || got < maxBytes-maxEntries {
		t.Fatalf("test write has %d bytes, want just under %d", got, maxBytes)
	}
	if err := submitWait(t, w, es...); err != nil {
		t.Fatalf("Write of %d entries, %d bytes: %v", maxEntries, maxBytes, err)
	}
	// Large values (above the value threshold) go to the value log: far more real bytes than the
	// bound, in one write.
	big := make([]Entry, 7)
	for i := range big {
		big[i] = Entry{Key: CardKey(uint64(i)), Value: make([]byte, ValueBytesMax)}
	}
	if got := writeBytes(&Write{Entries: big}, s.valueThreshold); got > maxBytes {
		t.Fatalf("test write counts %d bytes, want at most %d", got, maxBytes)
	}
	if err := submitWait(t, w, big...); err != nil {
		t.Fatalf("Write of %d large values: %v", len(big), err)
	}
	if got, want := w.Stats().Entries, int64(maxEntries+len(big)); got != want {
		t.Fatalf("Stats().Entries = %d, want %d", got, want)
	}
}

func TestWriter_BatchWait(t *testing.T) {
	s := openTestStore(t, "", DurabilityMemory)
	cfg := DefaultWriterConfig()
	cfg.BatchWaitMax = 20 * time.Millisecond
	w := startWriter(t, s, cfg)

	// A lone Write waits for company, but not for long.
	start := time.Now()
	if err := submitWait(t, w, Entry{Key: MarkerKey("lone"), Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if got := time.Since(start); got < cfg.BatchWaitMax || got > cfg.BatchWaitMax+3*time.Second {
		t.Errorf("lone Write completed after %s, want about BatchWaitMax %s", got, cfg.BatchWaitMax)
	}
	mustGet(t, s, MarkerKey("lone"))

	// Concurrent Writes all complete, grouped.
	before := w.Stats()
	want, _, _ := concurrentLoad(t, w, 32, 20)
	for k, v := range want {
		if got := mustGet(t, s, []byte(k)); !bytes.Equal(got, v) {
			t.Fatalf("Get(%x) = %q, want %q", k, got, v)
		}
	}
	st := w.Stats()
	writes, batches := st.Writes-before.Writes, st.Batches-before.Batches
	if writes != 32*20 || batches < 1 || writes < 2*batches {
		t.Errorf("%d writes in %d batches, want 640 in at most 320", writes, batches)
	}

	// A full batch does not wait: BatchWritesMax queued Writes commit as soon as they are drained.
	cfg.BatchWaitMax = 100 * time.Millisecond
	cfg.BatchWritesMax = 4
	w2 := startWriter(t, openTestStore(t, "", DurabilityMemory), cfg)
	release := holdWriter(t, w2)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		if err := w2.Submit(&Write{Entries: []Entry{{Key: CardKey(uint64(i))}}, Done: func(error) { wg.Done() }}); err != nil {
			t.Fatal(err)
		}
	}
	release()
	wg.Wait()
	if got, want := w2.Stats().Batches, int64(3); got != want { // hold barrier + 2 full batches
		t.Errorf("Stats().Batches = %d, want %d", got, want)
	}
}

func TestWriter_CloseCommitsQueued(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, DurabilitySync, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWriter(s, DefaultWriterConfig())
	if err != nil {
		t.Fatal(err)
	}
	var done atomic.Int64
	for i := range 500 {
		if err := w.Submit(&Write{Entries: []Entry{{Key: AccountKey(uint64(i)), Value: Uint64(uint64(i))}}, Done: func(err error) {
			if err == nil {
				done.Add(1)
			}
		}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got, want := done.Load(), int64(500); got != want {
		t.Fatalf("Writes acknowledged by Close = %d, want %d", got, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTestStore(t, dir, DurabilitySync)
	for i := range 500 {
		got, ok := ParseUint64(mustGet(t, s, AccountKey(uint64(i))))
		if !ok || got != uint64(i) {
			t.Fatalf("account %d = %d (ok %v), want %d", i, got, ok, i)
		}
	}
}
