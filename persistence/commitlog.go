package persistence

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// The commit log makes a batch durable with one append and one fdatasync. A Badger commit on the
// acknowledgement path costs a skiplist insert per entry and an msync of the whole memtable log, and
// under load it took most of each group commit's time; the log takes that work off the path: Badger
// gets the same entries a little later from the applier (applier.go), and Open replays the log past
// what Badger holds (replayLog). A segment is deleted once Badger has everything in it in flushed,
// synced tables (removeFlushed).
//
// A record is: payload length (uint32), CRC-32C of seq and payload (uint32), seq (uint64), payload;
// little-endian. The payload is the batch's entries, each: flags (1: delete), key length (uvarint),
// key, and for a set, value length (uvarint) and value.

const (
	logDirName         = "commitlog"
	segmentSuffix      = ".log"
	recordHeaderBytes  = 16
	segmentBytesTarget = 64 << 20 // a segment is closed once it is this big
	recordPayloadMax   = 1 << 30  // bigger is corruption, not a record
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// ErrLogCorrupt: a commit log segment is damaged somewhere other than its unacknowledged tail.
var ErrLogCorrupt = errors.New("persistence: commit log corrupt")

// newRecord starts a record: room for the header, filled in by sealRecord.
func newRecord(capacity int) []byte {
	return make([]byte, recordHeaderBytes, recordHeaderBytes+capacity)
}

// appendEntry appends one entry to a record's payload.
func appendEntry(rec []byte, e Entry) []byte {
	if e.Delete {
		rec = append(rec, 1)
		rec = binary.AppendUvarint(rec, uint64(len(e.Key)))
		return append(rec, e.Key...)
	}
	rec = append(rec, 0)
	rec = binary.AppendUvarint(rec, uint64(len(e.Key)))
	rec = append(rec, e.Key...)
	rec = binary.AppendUvarint(rec, uint64(len(e.Value)))
	return append(rec, e.Value...)
}

// sealRecord writes the header of rec for sequence number seq.
func sealRecord(rec []byte, seq uint64) {
	binary.LittleEndian.PutUint32(rec[0:], uint32(len(rec)-recordHeaderBytes))
	binary.LittleEndian.PutUint64(rec[8:], seq)
	binary.LittleEndian.PutUint32(rec[4:], crc32.Checksum(rec[8:], crcTable))
}

// decodeEntries parses a record's payload. Keys and values alias p.
func decodeEntries(p []byte) ([]Entry, error) {
	var out []Entry
	for len(p) > 0 {
		flags := p[0]
		p = p[1:]
		if flags > 1 {
			return nil, fmt.Errorf("entry flags %d", flags)
		}
		var e Entry
		var ok bool
		if e.Key, p, ok = lengthPrefixed(p); !ok {
			return nil, errors.New("truncated key")
		}
		if flags == 1 {
			e.Delete = true
		} else if e.Value, p, ok = lengthPrefixed(p); !ok {
			return nil, errors.New("truncated value")
		}
		out = append(out, e)
	}
	return out, nil
}

func lengthPrefixed(p []byte) (field, rest []byte, ok bool) {
	n, w := binary.Uvarint(p)
	if w <= 0 || n > uint64(len(p)-w) {
		return nil, nil, false
	}
	return p[w : w+int(n) : w+int(n)], p[w+int(n):], true
}

// readRecords calls fn for each whole, intact record of a segment's bytes, in order. It returns
// the length of the intact prefix; a shorter length than len(data) means a torn or damaged record
// starts there.
func readRecords(data []byte, fn func(seq uint64, payload []byte) error) (int, error) {
	off := 0
	for len(data)-off >= recordHeaderBytes {
		n := binary.LittleEndian.Uint32(data[off:])
		if n > recordPayloadMax || uint64(n) > uint64(len(data)-off-recordHeaderBytes) {
			break
		}
		end := off + recordHeaderBytes + int(n)
		if crc32.Checksum(data[off+8:end], crcTable) != binary.LittleEndian.Uint32(data[off+4:]) {
			break
		}
		if err := fn(binary.LittleEndian.Uint64(data[off+8:]), data[off+recordHeaderBytes:end]); err != nil {
			return off, err
		}
		off = end
	}
	return off, nil
}

// commitLog appends records to the current segment; the applier deletes segments it has applied.
type commitLog struct {
	dir  string
	sync bool // fdatasync after each append (DurabilitySync)

	f    *os.File // current segment (committer only)
	size int64

	mu     sync.Mutex
	closed []segmentFile // closed segments, oldest first
	cur    segmentFile   // current segment; last is its highest seq so far
}

type segmentFile struct {
	path      string
	last      uint64 // highest seq in the segment
	appliedTs uint64 // Badger timestamp that holds last, once applied (0: not yet)
}

func segmentPath(dir string, first uint64) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", first, segmentSuffix))
}

// listSegments returns the segment files in dir, in seq order.
func listSegments(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, segmentSuffix) {
			continue
		}
		if _, err := strconv.ParseUint(strings.TrimSuffix(name, segmentSuffix), 10, 64); err != nil {
			continue
		}
		out = append(out, filepath.Join(dir, name))
	}
	sort.Strings(out) // zero-padded: name order is seq order
	return out, nil
}

// openCommitLog starts a new segment whose first record will be next, after the replayed ones.
func openCommitLog(dir string, sync bool, next uint64, replayed []segmentFile) (*commitLog, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("commit log: %w", err)
	}
	l := &commitLog{dir: dir, sync: sync, closed: replayed}
	if err := l.startSegment(next); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *commitLog) startSegment(first uint64) error {
	path := segmentPath(l.dir, first)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("commit log: %w", err)
	}
	if l.sync { // the new file's name must survive a crash before any record in it is acknowledged
		if err := syncDir(l.dir); err != nil {
			f.Close()
			return fmt.Errorf("commit log: sync %s: %w", l.dir, err)
		}
	}
	l.f, l.size = f, 0
	l.mu.Lock()
	l.cur = segmentFile{path: path, last: first - 1}
	l.mu.Unlock()
	return nil
}

// append writes sealed record rec (sequence seq) and, in sync mode, waits until it is on disk.
func (l *commitLog) append(rec []byte, seq uint64) error {
	if _, err := l.f.Write(rec); err != nil {
		return fmt.Errorf("commit log append: %w", err)
	}
	if l.sync {
		if err := fdatasync(l.f); err != nil {
			return fmt.Errorf("commit log sync: %w", err)
		}
	}
	l.size += int64(len(rec))
	l.mu.Lock()
	l.cur.last = seq
	l.mu.Unlock()
	if l.size >= segmentBytesTarget {
		if err := l.f.Close(); err != nil {
			return fmt.Errorf("commit log close segment: %w", err)
		}
		l.mu.Lock()
		l.closed = append(l.closed, l.cur)
		l.mu.Unlock()
		return l.startSegment(seq + 1)
	}
	return nil
}

// applied records that Badger holds every record up to upTo, at timestamp ts.
func (l *commitLog) applied(upTo, ts uint64) {
	l.mu.Lock()
	for i := range l.closed {
		if l.closed[i].last <= upTo && l.closed[i].appliedTs == 0 {
			l.closed[i].appliedTs = ts
		}
	}
	l.mu.Unlock()
}

// removable reports whether some closed segment is applied and waits only for Badger's flush.
func (l *commitLog) removable() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.closed) > 0 && l.closed[0].appliedTs != 0
}

// removeFlushed deletes the closed segments whose records Badger has in synced tables: Badger
// writes its own log without fsync (the commit log is the durable one), so only a flushed table
// makes a record safe to forget. Tables are flushed in order, so the highest version in any table
// (flushed) covers every earlier timestamp.
func (l *commitLog) removeFlushed(flushed uint64) error {
	l.mu.Lock()
	var done []segmentFile
	for len(l.closed) > 0 && l.closed[0].appliedTs != 0 && l.closed[0].appliedTs <= flushed {
		done = append(done, l.closed[0])
		l.closed = l.closed[1:]
	}
	l.mu.Unlock()
	for _, s := range done {
		if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("commit log: remove applied segment: %w", err)
		}
	}
	return nil
}

// close closes the current segment.
func (l *commitLog) close() error { return l.f.Close() }

// removeAll deletes every segment: Badger, closed cleanly, has flushed everything to its tables.
func (l *commitLog) removeAll() error {
	l.mu.Lock()
	all := append(l.closed, l.cur)
	l.closed = nil
	l.mu.Unlock()
	for _, s := range all {
		if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
