package persistence

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func setEntry(k, v string) []Entry { return []Entry{{Key: MarkerKey(k), Value: []byte(v)}} }

// crashCopy copies a live store folder to dst: what a SIGKILL at this instant would leave on disk.
func crashCopy(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(target)
		if err != nil {
			return err
		}
		defer out.Close()
		_, err = io.Copy(out, in)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// replaceHook sets *hook to fn until the test ends.
func replaceHook[F any](t *testing.T, hook *F, fn F) {
	old := *hook
	*hook = fn
	t.Cleanup(func() { *hook = old })
}

// A power loss tears the last record (accepted on Open); new records go to a later segment. Open
// must cut the torn bytes off for good: a second crash (even a SIGKILL) before the torn segment
// is deleted must not find damage followed by records and refuse the log.
func TestCommitLog_TornTailCutOnReplay(t *testing.T) {
	dir := t.TempDir()
	logDir := filepath.Join(dir, logDirName)
	data := writeSegment(t, logDir, 1, setEntry("a", "1"), setEntry("b", "2"), setEntry("c", "3"))
	intact, _ := readRecords(data[:len(data)-3], func(uint64, []byte) error { return nil })
	// power loss while record 3 (never acknowledged) was written: its last bytes never reached disk
	if err := os.WriteFile(segmentPath(logDir, 1), append(data[:len(data)-3], make([]byte, 4096)...), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir, DurabilitySync, testLogger())
	if err != nil {
		t.Fatalf("first Open after the torn write: %v", err)
	}
	if got, err := os.ReadFile(segmentPath(logDir, 1)); err != nil || !bytes.Equal(got, data[:intact]) {
		t.Fatalf("torn segment after Open: %d bytes, %v; want its %d intact bytes alone", len(got), err, intact)
	}
	w, err := NewWriter(s, DefaultWriterConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := submitWait(t, w, Entry{Key: MarkerKey("d"), Value: []byte("4")}); err != nil {
		t.Fatal(err)
	}
	crashed := t.TempDir()
	crashCopy(t, dir, crashed) // the process dies now
	w.Close()
	s.Close()

	s2, err := Open(crashed, DurabilitySync, testLogger())
	if err != nil {
		t.Fatalf("Open after the second crash: %v", err)
	}
	defer s2.Close()
	if got := mustGet(t, s2, MarkerKey("d")); string(got) != "4" {
		t.Fatalf("acknowledged d = %q", got)
	}
	mustMissing(t, s2, MarkerKey("c"))
}

// Record 3 reached the page cache but was never fdatasynced (a SIGKILL before its fdatasync). The
// restart replays it, and d, acknowledged after it, may depend on it; so replay must sync the
// segment, or a power loss could keep d and lose record 3. The test keeps, of segment 1, what was
// last synced; a failing sync fails Open.
func TestCommitLog_ReplaySyncsKeptSegments(t *testing.T) {
	dir := t.TempDir()
	logDir := filepath.Join(dir, logDirName)
	onDisk := writeSegment(t, logDir, 1, setEntry("a", "1"), setEntry("b", "2"))
	writeSegment(t, logDir, 1, setEntry("a", "1"), setEntry("b", "2"), setEntry("c", "3"))
	synced := map[string]bool{}
	replaceHook(t, &segmentSync, func(f *os.File) error {
		synced[f.Name()] = true
		return fdatasync(f)
	})
	s, err := Open(dir, DurabilitySync, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s, MarkerKey("c")); string(got) != "3" {
		t.Fatalf("c = %q", got)
	}
	w, err := NewWriter(s, DefaultWriterConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := submitWait(t, w, Entry{Key: MarkerKey("d"), Value: []byte("after c")}); err != nil {
		t.Fatal(err)
	}
	crashed := t.TempDir()
	crashCopy(t, dir, crashed)
	w.Close()
	s.Close()
	// power loss: an unsynced segment keeps only what was on disk; Badger's unsynced memtable log goes
	if !synced[segmentPath(logDir, 1)] {
		if err := os.WriteFile(segmentPath(filepath.Join(crashed, logDirName), 1), append(onDisk, make([]byte, 64)...), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mems, _ := filepath.Glob(filepath.Join(crashed, "*.mem"))
	for _, m := range mems {
		os.Remove(m)
	}
	s2, err := Open(crashed, DurabilitySync, testLogger())
	if err != nil {
		t.Fatalf("Open after the power loss (segment 1 synced on replay: %v): %v", synced[segmentPath(logDir, 1)], err)
	}
	for k, want := range map[string]string{"c": "3", "d": "after c"} {
		if got := mustGet(t, s2, MarkerKey(k)); string(got) != want {
			t.Fatalf("%s = %q, want %q", k, got, want)
		}
	}
	s2.Close()

	failed := errors.New("injected sync failure")
	replaceHook(t, &segmentSync, func(*os.File) error { return failed })
	dir = t.TempDir()
	writeSegment(t, filepath.Join(dir, logDirName), 1, setEntry("a", "1"))
	if s3, err := Open(dir, DurabilitySync, testLogger()); !errors.Is(err, failed) {
		if err == nil {
			s3.Close()
		}
		t.Fatalf("Open with a failing segment sync = %v, want the failure", err)
	}
}

// Damage inside the last segment followed by intact records is not a torn write (record N+1 is
// written only once N is on disk): Open refuses and leaves the segment as it was. A genuinely
// torn last record, partial bytes and then zeros, is still accepted.
func TestCommitLog_DamageBeforeIntactRecordsRefused(t *testing.T) {
	recs := [][]Entry{setEntry("a", "1"), setEntry("b", "2"), setEntry("c", "3"), setEntry("d", "4")}
	whole := writeSegment(t, t.TempDir(), 1, recs...)
	var ends []int // each record's end
	for _, _, end, ok := recordAt(whole, 0); ok; _, _, end, ok = recordAt(whole, end) {
		ends = append(ends, end)
	}
	damages := map[string]func(b []byte){
		"a bit of record 2's payload": func(b []byte) { b[ends[0]+recordHeaderBytes+3] ^= 0x40 },
		"record 2's length":           func(b []byte) { b[ends[0]+1] ^= 0x10 },
		"records 2 and 3 zeroed":      func(b []byte) { clear(b[ends[0]:ends[2]]) },
	}
	for name, damage := range damages {
		dir := t.TempDir()
		logDir := filepath.Join(dir, logDirName)
		data := append(writeSegment(t, logDir, 1, recs...), make([]byte, 4096)...) // and the zero-filled rest
		damage(data)
		if err := os.WriteFile(segmentPath(logDir, 1), data, 0o644); err != nil {
			t.Fatal(err)
		}
		if s, err := Open(dir, DurabilitySync, testLogger()); !errors.Is(err, ErrLogCorrupt) {
			if err == nil {
				s.Close()
			}
			t.Fatalf("%s: Open = %v, want ErrLogCorrupt", name, err)
		}
		if got, err := os.ReadFile(segmentPath(logDir, 1)); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s: the refused segment was changed (%v)", name, err)
		}
	}

	dir := t.TempDir()
	logDir := filepath.Join(dir, logDirName)
	data := writeSegment(t, logDir, 1, recs...)
	torn := append(bytes.Clone(data[:ends[2]+(ends[3]-ends[2])/2]), make([]byte, 4096)...)
	if err := os.WriteFile(segmentPath(logDir, 1), torn, 0o644); err != nil {
		t.Fatal(err)
	}
	s := openTestStore(t, dir, DurabilitySync)
	if got := mustGet(t, s, MarkerKey("c")); string(got) != "3" {
		t.Fatalf("c = %q", got)
	}
	mustMissing(t, s, MarkerKey("d"))
	if got := mustNextSeq(t, s); got != 4 {
		t.Fatalf("next seq = %d, want 4", got)
	}
}

// DurabilityNone: records 1..3 (x=old; x=new; y=1, written after reading x=new) are in a flushed
// Badger table, which Badger syncs whatever SyncWrites says; the log was never synced and only
// record 1 reached the disk before the power loss. Losing 2..3 would be allowed; applying record 1
// again over Badger's state, y=1 with x=old, matches no prefix of the log.
func TestCommitLog_NoneReplayBelowMarkerKeepsBadger(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir, DurabilityNone)
	a := s.newApplyTxn()
	for _, e := range append(setEntry("x", "new"), setEntry("y", "1")...) {
		if err := a.set(e); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.commitApplied(a, 3); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil { // flushes Badger's memtable to a synced table
		t.Fatal(err)
	}
	writeSegment(t, filepath.Join(dir, logDirName), 1, setEntry("x", "old"))
	s2 := openTestStore(t, dir, DurabilityNone)
	for k, want := range map[string]string{"x": "new", "y": "1"} {
		if got := mustGet(t, s2, MarkerKey(k)); string(got) != want {
			t.Fatalf("after replay %s = %q, want Badger's %q", k, got, want)
		}
	}
	if got := mustNextSeq(t, s2); got != 4 {
		t.Fatalf("next seq = %d, want 4", got)
	}
}

// The spare segment cannot be prepared (no space, say): rotation fails and the writer stops, but
// closing the log must not wait for a spare nobody prepares.
func TestCommitLog_CloseAfterFailedPrepare(t *testing.T) {
	l, err := openCommitLog(t.TempDir(), true, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	sp := <-l.spare // stand-in for prepare failing: its result is an error
	sp.f.Close()
	os.Remove(sp.path)
	l.spare <- spareSegment{err: errors.New("no space left on device")}
	rec := func(seq uint64) []byte {
		r := appendEntry(newRecord(0), Entry{Key: []byte("k"), Value: make([]byte, segmentBytesFirst/2)})
		sealRecord(r, seq)
		return r
	}
	if err := l.append(rec(1), 1); err != nil {
		t.Fatal(err)
	}
	if err := l.append(rec(2), 2); err == nil {
		t.Fatal("rotation without a spare succeeded")
	}
	done := make(chan error, 1)
	go func() { done <- l.close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("close after the failed rotation: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("commitLog.close blocks after a failed prepare")
	}
}

// Deleting segments syncs the folder: a deleted segment that came back after a machine crash,
// while a later one did not, would leave a gap that makes Open refuse the log.
func TestCommitLog_RemovalsSyncTheFolder(t *testing.T) {
	dir := t.TempDir()
	l, err := openCommitLog(dir, true, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := func(seq uint64) []byte { // two fill the first segment
		r := appendEntry(newRecord(0), Entry{Key: []byte("k"), Value: make([]byte, segmentBytesFirst/2-64)})
		sealRecord(r, seq)
		return r
	}
	for seq := uint64(1); seq <= 3; seq++ { // segments {1,2}, {3}
		if err := l.append(rec(seq), seq); err != nil {
			t.Fatal(err)
		}
	}
	names := func() []string { // the log's segments, not the spare prepared meanwhile
		segs, err := listSegments(dir)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, p := range segs {
			if segmentNumber(p) <= l.num {
				out = append(out, filepath.Base(p))
			}
		}
		return out
	}
	var durable []string // the names as of the last folder sync
	replaceHook(t, &logDirSync, func(d string) error {
		if d == dir {
			durable = names()
		}
		return syncDir(d)
	})
	l.applied(2, 100)
	if err := l.removeFlushed(1000, func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	if now := names(); len(now) != 1 || !reflect.DeepEqual(durable, now) {
		t.Fatalf("after removeFlushed: segments %v, as of the last folder sync %v; want one, synced", now, durable)
	}
	if err := l.close(); err != nil {
		t.Fatal(err)
	}
	if err := removeSegments(dir); err != nil {
		t.Fatal(err)
	}
	if now := names(); len(now) != 0 || len(durable) != 0 {
		t.Fatalf("after removeSegments: segments %v, as of the last folder sync %v; want none, synced", now, durable)
	}
}

// A Writer opened after another closed on the same store continues its commit log: after a power
// loss (Badger's unsynced memtable log gone) with the second one's write only in the log, Open
// finds the records of both, one after the other.
func TestWriter_NextWriterContinuesTheLog(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir, DurabilitySync)
	w1, err := NewWriter(s, DefaultWriterConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := submitWait(t, w1, setEntry("a", "1")...); err != nil {
		t.Fatal(err)
	}
	if err := w1.Close(); err != nil {
		t.Fatal(err)
	}
	if got := mustNextSeq(t, s); got != 2 {
		t.Fatalf("next seq after the first writer = %d, want 2", got)
	}
	w2 := startWriter(t, s, DefaultWriterConfig())
	gate := make(chan struct{})
	w2.holdApplier(gate)
	if err := submitWait(t, w2, setEntry("b", "2")...); err != nil {
		t.Fatal(err)
	}
	crashed := t.TempDir()
	crashCopy(t, dir, crashed)
	w2.holdApplier(nil)
	close(gate)
	mems, _ := filepath.Glob(filepath.Join(crashed, "*.mem"))
	for _, m := range mems {
		os.Remove(m)
	}
	s2 := openTestStore(t, crashed, DurabilitySync)
	for k, want := range map[string]string{"a": "1", "b": "2"} {
		if got := mustGet(t, s2, MarkerKey(k)); string(got) != want {
			t.Fatalf("%s after the power loss = %q, want %q", k, got, want)
		}
	}
	if got := mustNextSeq(t, s2); got != 3 {
		t.Fatalf("next seq after replay = %d, want 3", got)
	}
}
