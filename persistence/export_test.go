package persistence

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
)

// mustNextSeq is the seq the store's next Writer gives its first commit log record.
func mustNextSeq(t *testing.T, s *Store) uint64 {
	t.Helper()
	next, err := s.nextSeq()
	if err != nil {
		t.Fatalf("next seq: %v", err)
	}
	return next
}

// getCommitted reads key from Badger alone, past the overlay (tests compare it with what Get sees).
func (s *Store) getCommitted(key []byte) ([]byte, error) {
	ts := s.vis.beginRead()
	defer s.vis.endRead(ts)
	return s.readAt(key, ts, true)
}

// writerFaults are what a test injects into one Writer through the seams in writer.go.
type writerFaults struct {
	failCommit atomic.Pointer[error]         // the next commit fails with it
	applyGate  atomic.Pointer[chan struct{}] // the applier waits for it before each apply
}

var faults sync.Map // *Writer -> *writerFaults

func faultsOf(w *Writer) *writerFaults {
	f, _ := faults.LoadOrStore(w, &writerFaults{})
	return f.(*writerFaults)
}

// failSyncUnder names a folder: the next record fdatasync of a segment in it fails with EIO, as
// one after a failed write-back does (the record's bytes stay in the page cache).
var failSyncUnder atomic.Pointer[string]

func init() {
	recordSync = func(f *os.File) error {
		if dir := failSyncUnder.Load(); dir != nil && strings.HasPrefix(f.Name(), filepath.Clean(*dir)+string(filepath.Separator)) &&
			failSyncUnder.CompareAndSwap(dir, nil) {
			return syscall.EIO
		}
		return fdatasync(f)
	}
	beforeCommit = func(w *Writer) error {
		if f, ok := faults.Load(w); ok {
			if p := f.(*writerFaults).failCommit.Swap(nil); p != nil {
				return *p
			}
		}
		return nil
	}
	beforeApply = func(w *Writer) {
		if f, ok := faults.Load(w); ok {
			if gate := f.(*writerFaults).applyGate.Load(); gate != nil {
				<-*gate
			}
		}
	}
}

// failNextCommit makes w's next commit fail with err.
func (w *Writer) failNextCommit(err error) { faultsOf(w).failCommit.Store(&err) }

// holdApplier makes w's applier wait for gate to close before each apply; nil lets it run.
func (w *Writer) holdApplier(gate chan struct{}) {
	if gate == nil {
		faultsOf(w).applyGate.Store(nil)
		return
	}
	faultsOf(w).applyGate.Store(&gate)
}

// parseID reads the big-endian id that follows a key's prefix byte at offset off.
// Tests read key layouts with it; code uses the parser of the key's kind.
func parseID(key []byte, off int) uint64 { return binary.BigEndian.Uint64(key[off : off+8]) }

// crashClose closes s as a crash would leave it: Badger closed, the commit log kept as it is
// (Close would delete it once Badger has flushed), so the next Open replays it.
func (s *Store) crashClose() error {
	if s.trimmer != nil {
		s.trimmer.close()
	}
	return s.db.Close()
}
