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
// what Badger holds (replayLog, recovery.go). A segment is deleted once Badger has everything in it
// in flushed, synced tables (removeFlushed).
//
// A record is: payload length (uint32), CRC-32C of seq and payload (uint32), seq (uint64), payload;
// little-endian. The payload is the batch's entries, each: flags (1: delete), key length (uvarint),
// key, and for a set, value length (uvarint) and value.

const (
	logDirName         = "commitlog"
	segmentSuffix      = ".log"
	recordHeaderBytes  = 16
	segmentBytesTarget = 32 << 20 // a segment's size, once the log is busy
	segmentBytesFirst  = 1 << 20  // the first segment's; each next one doubles up to the target, so
	// that an engine opened for a few writes (tests, tools) does not zero-fill 32 MiB
	recordPayloadMax = 1 << 30 // bigger is corruption, not a record
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// segmentSync and logDirSync make a segment's bytes and the log folder's names durable where
// replay and segment removal need it; tests replace them to see what a power loss would keep.
var (
	segmentSync = fdatasync
	logDirSync  = syncDir
	recordSync  = fdatasync // the fdatasync that makes an appended record durable
)

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
// the length of the intact prefix; after it comes either the segment's unused, zero-filled rest, or
// a torn or damaged record (see allZero and recordAfterDamage).
func readRecords(data []byte, fn func(seq uint64, payload []byte) error) (int, error) {
	off := 0
	for {
		seq, payload, end, ok := recordAt(data, off)
		if !ok {
			return off, nil
		}
		if err := fn(seq, payload); err != nil {
			return off, err
		}
		off = end
	}
}

// recordAt parses the record at data[off:]; ok only if it is whole and intact.
func recordAt(data []byte, off int) (seq uint64, payload []byte, end int, ok bool) {
	if len(data)-off < recordHeaderBytes {
		return 0, nil, 0, false
	}
	n := binary.LittleEndian.Uint32(data[off:])
	if n > recordPayloadMax || uint64(n) > uint64(len(data)-off-recordHeaderBytes) {
		return 0, nil, 0, false
	}
	end = off + recordHeaderBytes + int(n)
	if crc32.Checksum(data[off+8:end], crcTable) != binary.LittleEndian.Uint32(data[off+4:]) {
		return 0, nil, 0, false
	}
	return binary.LittleEndian.Uint64(data[off+8:]), data[off+recordHeaderBytes : end], end, true
}

// recordAfterDamage reports whether an intact record starts anywhere after the damaged one at byte
// from, with a seq that could follow it: at least lo, and at most hi (the highest the damaged one
// could have) plus one per recordHeaderBytes between them, the smallest a record takes.
//
// In sync mode a torn write is only ever the log's last record: record N+1 is written once N's
// fdatasync returned, so an intact record after the damage means an acknowledged one was damaged
// later (a flipped bit, a lost or misdirected write), and dropping the records after it would lose
// acknowledged writes silently. (Without fsync, a power loss may write pages back out of order and
// leave the same; Open refuses that too, as it does damage followed by a later segment.)
// Every offset is tried, not only where the damaged record's length says the next starts: the
// length may be what is damaged, and a lost page can take several small records with it. The seq
// is compared before the CRC is computed, so a scan costs about one load per byte, and a false
// match needs both a seq in the window and a CRC.
func recordAfterDamage(data []byte, from int, lo, hi uint64) bool {
	for off := from + 1; len(data)-off >= recordHeaderBytes; off++ {
		seq := binary.LittleEndian.Uint64(data[off+8:])
		if seq < lo || seq > hi+uint64((off-from)/recordHeaderBytes) {
			continue
		}
		if _, _, _, ok := recordAt(data, off); ok {
			return true
		}
	}
	return false
}

// commitLog writes records into the current segment; the applier deletes segments it has applied.
// In memory (DurabilityMemory) it is a log without files: records are numbered, nothing is written,
// and the batches take the same path through the overlay and the applier into Badger.
//
// Segments are created full size and zero-filled ahead of use, by a goroutine, so that writing a
// record never changes a file's size: fdatasync then flushes the record alone, without a journal
// commit for the file's metadata (about half the time of an appending write on ext4, idle).
type commitLog struct {
	dir  string // "": a log without files
	sync bool   // fdatasync after each write (DurabilitySync)

	f     *os.File // current segment (committer only)
	off   int64    // where the next record goes
	size  int64    // the current segment's length
	num   uint64   // the current segment's number
	spare chan spareSegment

	mu     sync.Mutex
	closed []segmentFile // closed segments, oldest first
	cur    segmentFile   // current segment; last is its highest seq so far
}

type segmentFile struct {
	path      string
	last      uint64 // highest seq in the segment
	appliedTs uint64 // Badger timestamp that holds last, once applied (0: not yet)
}

type spareSegment struct {
	f    *os.File
	path string
	num  uint64
	size int64
	err  error
}

// segmentPath names segment number n; numbers only grow, so name order is log order.
func segmentPath(dir string, n uint64) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", n, segmentSuffix))
}

func segmentNumber(path string) uint64 {
	n, _ := strconv.ParseUint(strings.TrimSuffix(filepath.Base(path), segmentSuffix), 10, 64)
	return n
}

// listSegments returns the segment files in dir, in log order.
func listSegments(dir string) ([]string, error) {
	if dir == "" { // a log without files
		return nil, nil
	}
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
	sort.Strings(out) // zero-padded numbers
	return out, nil
}

// openCommitLog starts a new segment, numbered after every existing one, whose first record will
// be seq next; replayed are the segments already on disk. In dir "" it opens a log without files.
func openCommitLog(dir string, sync bool, next uint64, replayed []segmentFile) (*commitLog, error) {
	if dir == "" {
		return &commitLog{cur: segmentFile{last: next - 1}}, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("commit log: %w", err)
	}
	l := &commitLog{dir: dir, sync: sync, closed: replayed, spare: make(chan spareSegment, 1)}
	paths, err := listSegments(dir)
	if err != nil {
		return nil, fmt.Errorf("commit log: %w", err)
	}
	num := uint64(1)
	if len(paths) > 0 {
		num = segmentNumber(paths[len(paths)-1]) + 1
	}
	go l.prepare(num, segmentBytesFirst)
	if err := l.startSegment(next); err != nil {
		return nil, err
	}
	return l, nil
}

// prepare creates segment num at full size, zero-filled and on disk, for the next rotation.
func (l *commitLog) prepare(num uint64, size int64) {
	path := segmentPath(l.dir, num)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err == nil {
		zeros := make([]byte, 1<<20)
		for off := int64(0); off < size && err == nil; off += int64(len(zeros)) {
			_, err = f.WriteAt(zeros[:min(int64(len(zeros)), size-off)], off)
		}
		if err == nil && l.sync {
			err = fdatasync(f)
		}
		if err == nil && l.sync { // the name must survive a crash before a record in it is acknowledged
			err = syncDir(l.dir)
		}
		if err != nil {
			f.Close()
			os.Remove(path)
		}
	}
	if err != nil {
		err = fmt.Errorf("commit log: prepare segment %d: %w", num, err)
	}
	l.spare <- spareSegment{f: f, path: path, num: num, size: size, err: err}
}

// startSegment makes the prepared spare current (first record: seq first) and prepares the next.
func (l *commitLog) startSegment(first uint64) error {
	sp := <-l.spare
	if sp.err != nil {
		l.spare <- sp // for close, which waits for a spare: none will be prepared any more
		return sp.err
	}
	go l.prepare(sp.num+1, min(2*sp.size, segmentBytesTarget))
	l.f, l.off, l.size, l.num = sp.f, 0, sp.size, sp.num
	l.mu.Lock()
	l.cur = segmentFile{path: sp.path, last: first - 1}
	l.mu.Unlock()
	return nil
}

// append writes sealed record rec (sequence seq) and, in sync mode, waits until it is on disk.
func (l *commitLog) append(rec []byte, seq uint64) error {
	if l.dir == "" {
		l.mu.Lock()
		l.cur.last = seq
		l.mu.Unlock()
		return nil
	}
	if l.off > 0 && l.off+int64(len(rec)) > l.size {
		err := l.f.Close()
		l.f = nil // close must not close it again if no spare replaces it
		if err != nil {
			return fmt.Errorf("commit log close segment: %w", err)
		}
		l.mu.Lock()
		l.closed = append(l.closed, l.cur)
		l.mu.Unlock()
		if err := l.startSegment(seq); err != nil {
			return err
		}
	}
	// A record bigger than a whole segment grows the file; fdatasync then writes the size too.
	if _, err := l.f.WriteAt(rec, l.off); err != nil {
		return l.unwrite(len(rec), fmt.Errorf("commit log write: %w", err))
	}
	if l.sync {
		if err := recordSync(l.f); err != nil {
			return l.unwrite(len(rec), fmt.Errorf("commit log sync: %w", err))
		}
	}
	l.off += int64(len(rec))
	l.size = max(l.size, l.off)
	l.mu.Lock()
	l.cur.last = seq
	l.mu.Unlock()
	return nil
}

// unwrite undoes the record of n bytes at l.off that failed to become durable (cause), on the
// writer's fail-stop path: it writes zeros over it, the segment's unused rest, and syncs them.
// The record was never acknowledged, but its bytes may stay in the page cache, marked clean after
// a failed write-back while the disk lacks them; a replay that trusted them (the next Open in this
// process or another, before a clean Close removes the log) would apply a record that is not
// durable and acknowledge writes that depend on it. Replay reads the disk (readSegment); the
// zeros make the record gone whatever that holds once they are written back, as the kernel does
// before a direct read: a disk that takes no writes fails that read, and Open with it. Nothing is
// appended to the log after a failure.
func (l *commitLog) unwrite(n int, cause error) error {
	_, err := l.f.WriteAt(make([]byte, n), l.off)
	if err == nil && l.sync {
		err = recordSync(l.f)
	}
	if err != nil {
		return fmt.Errorf("%w (clearing the record: %v)", cause, err)
	}
	return cause
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
// beforeRemove runs first when some segment is to go (the store syncs Badger's value log there).
func (l *commitLog) removeFlushed(flushed uint64, beforeRemove func() error) error {
	l.mu.Lock()
	n := 0
	for n < len(l.closed) && l.closed[n].appliedTs != 0 && l.closed[n].appliedTs <= flushed {
		n++
	}
	l.mu.Unlock()
	if n == 0 {
		return nil
	}
	if err := beforeRemove(); err != nil {
		return err
	}
	l.mu.Lock()
	done := append([]segmentFile(nil), l.closed[:n]...)
	l.closed = l.closed[n:]
	l.mu.Unlock()
	for _, s := range done {
		if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("commit log: remove applied segment: %w", err)
		}
	}
	return syncRemovals(l.dir)
}

// syncRemovals makes the segments deleted from dir stay deleted: one that came back after a
// machine crash, while a later one did not, would leave a gap that makes Open refuse the log.
func syncRemovals(dir string) error {
	if err := logDirSync(dir); err != nil {
		return fmt.Errorf("commit log: sync removals: %w", err)
	}
	return nil
}

// close closes the current segment and deletes the unused spare.
func (l *commitLog) close() error {
	if l.dir == "" {
		return nil
	}
	var err error
	if l.f != nil { // nil after a rotation that found no spare
		err = l.f.Close()
	}
	if sp := <-l.spare; sp.err == nil {
		sp.f.Close()
		os.Remove(sp.path)
	}
	l.spare <- spareSegment{err: errors.New("commit log closed")}
	return err
}

// appliedSegments lists the segments in dir as a log that Badger holds whole takes them over:
// every record in them is applied (up to seq applied, at timestamp ts or below), and each stays
// until Badger's tables hold ts.
func appliedSegments(dir string, applied, ts uint64) ([]segmentFile, error) {
	paths, err := listSegments(dir)
	if err != nil {
		return nil, fmt.Errorf("commit log: %w", err)
	}
	segs := make([]segmentFile, len(paths))
	for i, p := range paths {
		segs[i] = segmentFile{path: p, last: applied, appliedTs: ts} // last: at most applied
	}
	return segs, nil
}

// removeSegments deletes every segment in dir: Badger, closed cleanly, has flushed everything in
// them to its tables.
func removeSegments(dir string) error {
	paths, err := listSegments(dir)
	if err != nil || len(paths) == 0 {
		return err
	}
	for _, p := range paths {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return syncRemovals(dir)
}

// allZero reports whether b is the zero-filled rest of a segment.
func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
