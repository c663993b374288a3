package persistence

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func testRecords(t *testing.T) (data []byte, ends []int, batches [][]Entry) {
	t.Helper()
	batches = [][]Entry{
		{{Key: []byte("a"), Value: []byte("1")}, {Key: []byte("b"), Delete: true}},
		{{Key: []byte("empty"), Value: []byte{}}},
		{{Key: bytes.Repeat([]byte("k"), 300), Value: bytes.Repeat([]byte{0xff}, 70_000)}, {Key: []byte("c"), Value: []byte("3")}},
	}
	for i, es := range batches {
		rec := newRecord(64)
		for _, e := range es {
			rec = appendEntry(rec, e)
		}
		sealRecord(rec, uint64(10+i))
		data = append(data, rec...)
		ends = append(ends, len(data))
	}
	return data, ends, batches
}

func TestCommitLog_RecordsRoundTrip(t *testing.T) {
	data, _, batches := testRecords(t)
	var got [][]Entry
	var seqs []uint64
	n, err := readRecords(data, func(seq uint64, p []byte) error {
		es, err := decodeEntries(p)
		seqs, got = append(seqs, seq), append(got, es)
		return err
	})
	if err != nil || n != len(data) {
		t.Fatalf("readRecords = %d, %v; want %d, nil", n, err, len(data))
	}
	if !reflect.DeepEqual(seqs, []uint64{10, 11, 12}) {
		t.Fatalf("seqs = %v", seqs)
	}
	for i := range batches {
		for j := range batches[i] {
			w, g := batches[i][j], got[i][j]
			if !bytes.Equal(w.Key, g.Key) || !bytes.Equal(w.Value, g.Value) || w.Delete != g.Delete {
				t.Fatalf("batch %d entry %d = %+v, want %+v", i, j, g, w)
			}
		}
	}
}

// Every cut of the log, and every flipped byte, stops reading at the last whole, intact record.
func TestCommitLog_TornOrDamagedTail(t *testing.T) {
	data, ends, _ := testRecords(t)
	whole := func(n int) (int, int) { // records and bytes wholly within n bytes
		k, b := 0, 0
		for _, e := range ends {
			if e <= n {
				k, b = k+1, e
			}
		}
		return k, b
	}
	for cut := range len(data) {
		count := 0
		n, err := readRecords(data[:cut], func(uint64, []byte) error { count++; return nil })
		wantCount, wantN := whole(cut)
		if err != nil || n != wantN || count != wantCount {
			t.Fatalf("cut at %d: %d records, %d bytes, %v; want %d, %d", cut, count, n, err, wantCount, wantN)
		}
	}
	for _, at := range []int{0, 3, 5, 9, 17, ends[0] + 20, ends[1] + 100, len(data) - 1} {
		bad := bytes.Clone(data)
		bad[at] ^= 0x40
		count := 0
		n, _ := readRecords(bad, func(uint64, []byte) error { count++; return nil })
		wantCount, wantN := whole(at) // the record holding the flipped byte and all after are dropped
		if n != wantN || count != wantCount {
			t.Fatalf("flipped byte %d: %d records, %d bytes; want %d, %d", at, count, n, wantCount, wantN)
		}
	}
	if _, err := decodeEntries([]byte{0, 5, 'a'}); err == nil {
		t.Fatal("decodeEntries of a truncated key: nil error")
	}
	if _, err := decodeEntries([]byte{7, 1, 'a'}); err == nil {
		t.Fatal("decodeEntries of unknown flags: nil error")
	}
}

// An acknowledged write is readable at once, before Badger has it; a scan waits for the applier.
func TestStore_ReadsSeeLoggedWritesBeforeBadger(t *testing.T) {
	s := openTestStore(t, t.TempDir(), DurabilitySync)
	w := startWriter(t, s, DefaultWriterConfig())
	gate := make(chan struct{})
	w.holdApplier(gate)
	k := LedgerKey(3, 1)
	if err := submitWait(t, w, Entry{Key: k, Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	reads := s.BadgerReads()
	if got := mustGet(t, s, k); string(got) != "v" {
		t.Fatalf("Get before apply = %q, want v", got)
	}
	mustMissing(t, s, LedgerKey(3, 2))
	// The overlay answered the first read; only the absent key's went to Badger.
	if got := s.BadgerReads() - reads; got != 1 {
		t.Fatalf("Badger reads counted: %d, want 1", got)
	}
	if v, err := s.getCommitted(k); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Badger has %q, %v before the applier ran; the test holds nothing back", v, err)
	}
	if ok, err := s.Has(k); err != nil || !ok {
		t.Fatalf("Has before apply = %v, %v", ok, err)
	}
	if st := w.Stats(); st.ApplyLag != 1 || st.ApplyLagEntries != 1 || st.Applies != 0 {
		t.Fatalf("Stats while the applier is held: lag %d batches %d entries, applies %d; want 1, 1, 0", st.ApplyLag, st.ApplyLagEntries, st.Applies)
	}
	scanned := make(chan []byte, 1)
	go func() {
		var got []byte
		_ = s.Scan(LedgerPrefix(3), false, func(_, v []byte) (bool, error) { got = v; return true, nil })
		scanned <- got
	}()
	select {
	case v := <-scanned:
		t.Fatalf("Scan returned %q while the applier was held", v)
	case <-time.After(50 * time.Millisecond):
	}
	w.holdApplier(nil)
	close(gate)
	if v := <-scanned; string(v) != "v" {
		t.Fatalf("Scan after apply = %q, want v", v)
	}
	if v, err := s.getCommitted(k); err != nil || string(v) != "v" {
		t.Fatalf("Badger after apply = %q, %v", v, err)
	}
	if st := w.Stats(); st.ApplyLag != 0 || st.ApplyLagEntries != 0 || st.Applies != 1 || st.ApplyNanos <= 0 {
		t.Fatalf("Stats after apply: lag %d batches %d entries, applies %d, %d ns; want 0, 0, 1, > 0", st.ApplyLag, st.ApplyLagEntries, st.Applies, st.ApplyNanos)
	}
	// Deleted in the log, still present in Badger: reads say not found.
	gate = make(chan struct{})
	w.holdApplier(gate)
	if err := submitWait(t, w, Entry{Key: k, Delete: true}); err != nil {
		t.Fatal(err)
	}
	mustMissing(t, s, k)
	w.holdApplier(nil)
	close(gate)
}

// Badger fails under the applier: the writer stops, and every write it acknowledged before is
// still there after reopening, replayed from the log.
func TestWriter_ApplierFailureKeepsAcknowledgedWrites(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir, DurabilitySync)
	w, err := NewWriter(s, DefaultWriterConfig())
	if err != nil {
		t.Fatal(err)
	}
	gate := make(chan struct{})
	w.holdApplier(gate)
	var acked [][]byte
	for i := range 20 {
		k := LedgerKey(4, uint64(i))
		if err := submitWait(t, w, Entry{Key: k, Value: k}); err != nil {
			t.Fatal(err)
		}
		acked = append(acked, k)
	}
	if err := s.db.Close(); err != nil { // Badger goes away under the held applier
		t.Fatal(err)
	}
	close(gate)
	deadline := time.Now().Add(10 * time.Second)
	for w.Err() == nil && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if err := w.Err(); !errors.Is(err, ErrWriterStopped) {
		t.Fatalf("Err() after Badger failed under the applier = %v, want ErrWriterStopped", err)
	}
	if err := submitWait(t, w, Entry{Key: LedgerKey(5, 1), Value: []byte("x")}); !errors.Is(err, ErrWriterStopped) {
		t.Fatalf("write after the failure = %v, want ErrWriterStopped", err)
	}
	_ = w.Close()
	if w2, err := NewWriter(s, DefaultWriterConfig()); !errors.Is(err, ErrWriterStopped) {
		if err == nil {
			w2.Close()
		}
		t.Fatalf("NewWriter after the applier failed = %v, want ErrWriterStopped (its seqs would repeat records Badger lacks)", err)
	}
	_ = s.Close()
	segs, _ := listSegments(filepath.Join(dir, logDirName))
	if len(segs) == 0 {
		t.Fatal("no commit log segment kept after the applier failed")
	}
	s2 := openTestStore(t, dir, DurabilitySync)
	for _, k := range acked {
		if got := mustGet(t, s2, k); !bytes.Equal(got, k) {
			t.Fatalf("acknowledged %x after reopen = %x", k, got)
		}
	}
	mustMissing(t, s2, LedgerKey(5, 1))
	// Replayed segments stay until Badger's tables hold them; a clean close flushes and removes them.
	if _, err := os.Stat(segs[0]); err != nil { // the spare for the next one is prepared meanwhile
		t.Fatalf("replayed segment gone before Badger flushed it: %v", err)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	if segs, _ := listSegments(filepath.Join(dir, logDirName)); len(segs) != 0 {
		t.Fatalf("segments after a clean close = %v, want none", segs)
	}
	s3 := openTestStore(t, dir, DurabilitySync)
	for _, k := range acked {
		if got := mustGet(t, s3, k); !bytes.Equal(got, k) {
			t.Fatalf("acknowledged %x after the second reopen = %x", k, got)
		}
	}
}

// The log file fails under the committer: nothing after is acknowledged.
func TestWriter_LogAppendFailureStops(t *testing.T) {
	s := openTestStore(t, t.TempDir(), DurabilitySync)
	w := startWriter(t, s, DefaultWriterConfig())
	release := holdWriter(t, w)
	w.log.f.Close()
	done := make(chan error, 1)
	if err := w.Submit(&Write{Entries: []Entry{{Key: LedgerKey(6, 1), Value: []byte("x")}}, Done: func(err error) { done <- err }}); err != nil {
		t.Fatal(err)
	}
	release()
	if err := <-done; !errors.Is(err, ErrWriterStopped) || !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Done = %v, want ErrWriterStopped wrapping the append failure", err)
	}
	mustMissing(t, s, LedgerKey(6, 1))
}

func writeSegment(t *testing.T, dir string, first uint64, recs ...[]Entry) []byte {
	t.Helper()
	var data []byte
	for i, es := range recs {
		rec := newRecord(0)
		for _, e := range es {
			rec = appendEntry(rec, e)
		}
		sealRecord(rec, first+uint64(i))
		data = append(data, rec...)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(segmentPath(dir, first), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return data
}

// Open replays segments left by a crash: a torn last record is dropped; damage before the end of
// the log refuses to open rather than lose acknowledged writes silently.
func TestStore_ReplayTornTailAndCorruption(t *testing.T) {
	set := func(k, v string) []Entry { return []Entry{{Key: MarkerKey(k), Value: []byte(v)}} }

	dir := t.TempDir()
	logDir := filepath.Join(dir, logDirName)
	writeSegment(t, logDir, 1, set("a", "1"), set("b", "2"))
	last := writeSegment(t, logDir, 3, set("a", "3"), set("c", "4"))
	if err := os.WriteFile(segmentPath(logDir, 3), last[:len(last)-3], 0o644); err != nil { // torn
		t.Fatal(err)
	}
	s, err := Open(dir, DurabilitySync, testLogger())
	if err != nil {
		t.Fatalf("Open with a torn tail: %v", err)
	}
	for k, want := range map[string]string{"a": "3", "b": "2"} {
		if got, err := s.Get(MarkerKey(k)); err != nil || string(got) != want {
			t.Fatalf("Get(%s) = %q, %v; want %q", k, got, err, want)
		}
	}
	if _, err := s.Get(MarkerKey("c")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("torn record's key: %v, want ErrNotFound", err)
	}
	if got := mustNextSeq(t, s); got != 4 {
		t.Fatalf("next seq = %d, want 4", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	dir = t.TempDir()
	logDir = filepath.Join(dir, logDirName)
	first := writeSegment(t, logDir, 1, set("a", "1"), set("b", "2"))
	writeSegment(t, logDir, 3, set("c", "3"))
	first[len(first)-1] ^= 1
	if err := os.WriteFile(segmentPath(logDir, 1), first, 0o644); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(dir, DurabilitySync, testLogger()); !errors.Is(err, ErrLogCorrupt) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("Open with a damaged record before the last segment = %v, want ErrLogCorrupt", err)
	}

	dir = t.TempDir()
	logDir = filepath.Join(dir, logDirName)
	writeSegment(t, logDir, 1, set("a", "1"))
	writeSegment(t, logDir, 3, set("c", "3")) // record 2 is missing
	if s, err := Open(dir, DurabilitySync, testLogger()); !errors.Is(err, ErrLogCorrupt) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("Open with a missing record = %v, want ErrLogCorrupt", err)
	}
}

// A closed segment goes once Badger's tables hold its last record, not before; the current one stays.
func TestCommitLog_RemovesOnlyFlushedSegments(t *testing.T) {
	dir := t.TempDir()
	l, err := openCommitLog(dir, true, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	rec := func(seq uint64) []byte { // two fill the first segment
		r := appendEntry(newRecord(0), Entry{Key: []byte("k"), Value: make([]byte, segmentBytesFirst/2-64)})
		sealRecord(r, seq)
		return r
	}
	for seq := uint64(1); seq <= 5; seq++ { // segments {1,2}, {3,4,...}: the second is twice as big
		if err := l.append(rec(seq), seq); err != nil {
			t.Fatal(err)
		}
	}
	for seq := uint64(6); seq <= 7; seq++ { // {3,4,5,6}, {7}
		if err := l.append(rec(seq), seq); err != nil {
			t.Fatal(err)
		}
	}
	synced := 0
	noSync := func() error { synced++; return nil }
	count := func() int { // not the spare, which is prepared meanwhile
		segs, err := listSegments(dir)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, p := range segs {
			if segmentNumber(p) <= l.num {
				n++
			}
		}
		return n
	}
	if n := count(); n != 3 {
		t.Fatalf("%d segments, want 3", n)
	}
	if l.removable() {
		t.Fatal("removable before anything was applied")
	}
	l.applied(3, 100) // the first segment is applied at ts 100, the second only in part
	if !l.removable() {
		t.Fatal("not removable after the first segment was applied")
	}
	if err := l.removeFlushed(99, noSync); err != nil || count() != 3 || synced != 0 {
		t.Fatalf("removeFlushed below the applied ts: %v, %d segments, %d syncs; want all 3 kept, no sync", err, count(), synced)
	}
	failed := errors.New("sync failed")
	if err := l.removeFlushed(1000, func() error { return failed }); !errors.Is(err, failed) || count() != 3 {
		t.Fatalf("removeFlushed with a failing sync: %v, %d segments; want the failure and all 3 kept", err, count())
	}
	if err := l.removeFlushed(1000, noSync); err != nil || count() != 2 || synced != 1 {
		t.Fatalf("removeFlushed above it: %v, %d segments, %d syncs; want 2, 1", err, count(), synced)
	}
	l.applied(7, 101)
	if err := l.removeFlushed(1000, noSync); err != nil || count() != 1 {
		t.Fatalf("removeFlushed after the second: %v, %d segments; want only the current one", err, count())
	}
}

// The committer waits while Badger is more than applyLagEntriesMax entries behind.
func TestWriter_ApplierLagBounded(t *testing.T) {
	s := openTestStore(t, t.TempDir(), DurabilityNone)
	w := startWriter(t, s, DefaultWriterConfig())
	gate := make(chan struct{})
	w.holdApplier(gate)
	per := DefaultWriterConfig().BatchEntriesMax
	writes := applyLagEntriesMax/per + 2 // the last one must wait
	acked := make(chan int, writes)
	for i := range writes {
		es := make([]Entry, per)
		for j := range es {
			es[j] = Entry{Key: LedgerKey(uint64(100+i), uint64(j)), Value: []byte{1}}
		}
		if err := w.Submit(&Write{Entries: es, Done: func(err error) {
			if err != nil {
				t.Error(err)
			}
			acked <- i
		}}); err != nil {
			t.Fatal(err)
		}
	}
	for range writes - 1 {
		select {
		case <-acked:
		case <-time.After(10 * time.Second):
			t.Fatal("writes within the lag bound not acknowledged")
		}
	}
	select {
	case i := <-acked:
		t.Fatalf("write %d acknowledged with Badger %d entries behind", i, w.Stats().Entries)
	case <-time.After(100 * time.Millisecond):
	}
	w.holdApplier(nil)
	close(gate)
	select {
	case <-acked:
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting write not acknowledged once the applier ran")
	}
}

// After a machine crash Badger's unsynced log may keep the applied marker but lose a value it
// covers; replay applies every kept record again, so the log's value wins.
func TestStore_ReplayRecordsTheMarkerCovers(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir, DurabilitySync)
	a := s.newApplyTxn()
	if err := a.set(Entry{Key: MarkerKey("a"), Value: []byte("lost")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.commitApplied(a, 2); err != nil { // Badger says it has records 1 and 2
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	set := func(v string) []Entry { return []Entry{{Key: MarkerKey("a"), Value: []byte(v)}} }
	writeSegment(t, filepath.Join(dir, logDirName), 1, set("1"), set("2"))
	s2 := openTestStore(t, dir, DurabilitySync)
	if got := mustGet(t, s2, MarkerKey("a")); string(got) != "2" {
		t.Fatalf("Get(a) after replay = %q, want the log's last value 2", got)
	}
	if got := mustNextSeq(t, s2); got != 3 {
		t.Fatalf("next seq = %d, want 3", got)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}

	// A log that starts after Badger's marker + 1 has lost records: refuse.
	dir = t.TempDir()
	s3 := openTestStore(t, dir, DurabilitySync)
	if err := s3.Close(); err != nil {
		t.Fatal(err)
	}
	writeSegment(t, filepath.Join(dir, logDirName), 5, set("5"))
	if s4, err := Open(dir, DurabilitySync, testLogger()); !errors.Is(err, ErrLogCorrupt) {
		if err == nil {
			s4.Close()
		}
		t.Fatalf("Open with the log starting at 5 and Badger at 0 = %v, want ErrLogCorrupt", err)
	}
}
