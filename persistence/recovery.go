package persistence

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
)

// Recovery: Open replays the commit log a crash left into Badger before anything reads the store.

// replayLog applies the records of the segments a crash left, in order, and returns how many it
// applied. The segments stay until Badger has flushed them (the Writer's log takes them over). A
// damaged record is tolerated only at the end of the log: that is a write the crash interrupted,
// never acknowledged. Afterwards the applied marker names the log's last record: the next one
// the Writer appends follows it (nextSeq).
//
// Every kept record is applied again, also those the marker says Badger has: Badger's own log and
// value log are not synced, so after a machine crash the marker may have survived where a value it
// covers did not. Records are whole puts in order, so applying them again ends in the same state.
// That holds only while the log reaches the marker. One that ends below it would put older values
// back under newer ones, a state no prefix of the log gives. It takes a log that lost its tail
// while Badger's tables, synced by every flush, kept later records: without fsync (DurabilityNone,
// a machine crash), or in any mode a deleted segment that came back while later ones did not (a
// crash amid removals). Badger's own state is then the newest prefix left, and only records above
// the marker (none) are applied. In sync mode a log always reaches the marker otherwise: a record
// is applied only once it is on disk.
func (s *Store) replayLog(dir string) (replayed int, err error) {
	applied, err := s.appliedMarker()
	if err != nil {
		return 0, err
	}
	segs, last, err := scanLog(dir, applied)
	if err != nil {
		return 0, err
	}
	if err := settleLog(dir, segs); err != nil {
		return 0, err
	}
	from := uint64(1)
	if last < applied {
		from = applied + 1
	}
	return s.applyLog(segs, from)
}

// nextSeq is the seq of the next commit log record: the one after the last Badger holds. Every
// record is in Badger once Open has replayed the log, and again once a Writer has closed with its
// applier done.
func (s *Store) nextSeq() (uint64, error) {
	applied, err := s.appliedMarker()
	if err != nil {
		return 0, err
	}
	return applied + 1, nil
}

// appliedMarker reads the seq of the last record Badger has (0: none).
func (s *Store) appliedMarker() (uint64, error) {
	ts := s.vis.beginRead() // Badger's: the marker is never in the overlay, nor a counted point read
	defer s.vis.endRead(ts)
	v, err := s.readAt(appliedMarkerKey, ts, true)
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read applied marker: %w", err)
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: applied marker of %d bytes", ErrLogCorrupt, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// replaySegment is a segment as replay found it.
type replaySegment struct {
	path   string
	last   uint64 // seq of its last intact record; 0: it holds none
	intact int    // length of its intact records
	torn   bool   // damage follows them: the log's torn tail
}

// scanLog checks the segments in dir without changing anything (Open may yet refuse them, and
// then they must stay as the crash left them): their records follow one another from at most
// Badger's marker + 1, and damage is only ever at the end of the log. It returns them in order
// and the log's last seq (0: empty).
func scanLog(dir string, applied uint64) (segs []replaySegment, last uint64, err error) {
	paths, err := listSegments(dir)
	if err != nil {
		return nil, 0, fmt.Errorf("commit log: %w", err)
	}
	torn := "" // a segment whose records end in damage
	for _, path := range paths {
		seg, err := scanSegment(path, last, applied)
		if err != nil {
			return nil, 0, err
		}
		if seg.last != 0 && torn != "" {
			return nil, 0, fmt.Errorf("%w: %s is damaged, and records follow in %s", ErrLogCorrupt, torn, path)
		}
		if seg.torn {
			torn = fmt.Sprintf("%s at byte %d", path, seg.intact) // a write the crash cut: only the log's last
		}
		last = max(last, seg.last)
		segs = append(segs, seg)
	}
	return segs, last, nil
}

// scanSegment checks one segment whose records follow record prev (0: the log's first).
func scanSegment(path string, prev, applied uint64) (replaySegment, error) {
	data, err := readSegment(path)
	if err != nil {
		return replaySegment{}, fmt.Errorf("commit log: %w", err)
	}
	seg := replaySegment{path: path}
	n, err := readRecords(data, func(seq uint64, _ []byte) error {
		if prev != 0 && seq != prev+1 {
			return fmt.Errorf("%w: record %d follows %d in %s", ErrLogCorrupt, seq, prev, path)
		}
		if prev == 0 && seq > applied+1 {
			return fmt.Errorf("%w: the log starts at record %d, Badger has up to %d", ErrLogCorrupt, seq, applied)
		}
		prev, seg.last = seq, seq
		return nil
	})
	if err != nil {
		return seg, err
	}
	seg.intact, seg.torn = n, !allZero(data[n:])
	damaged := prev + 1 // the damaged record's seq; the log's first is at most the marker's next
	if prev == 0 {
		damaged = applied + 1
	}
	if seg.torn && recordAfterDamage(data, n, prev+1, damaged) {
		return seg, fmt.Errorf("%w: %s is damaged at byte %d, and intact records follow in it", ErrLogCorrupt, path, n)
	}
	return seg, nil
}

// settleLog makes the log replay accepted durable before anything depends on it. Replay reads
// what the disk holds (readSegment), but the disk's volatile cache may hold it only: a record
// written but never synced (a SIGKILL before its fdatasync) is written back by the kernel and
// read, and would be applied, and writes acknowledged after it could depend on it, yet a power
// loss could still take it while keeping them. So every kept segment is synced; the torn tail is
// cut off, or the next crash would find it followed by records in the next segment and refuse the
// log; segments with no record go; and the folder is synced for the names.
func settleLog(dir string, segs []replaySegment) error {
	if len(segs) == 0 {
		return nil
	}
	for _, seg := range segs {
		if seg.last == 0 { // nothing in it to keep (an unused spare, say)
			if err := os.Remove(seg.path); err != nil {
				return fmt.Errorf("commit log: %w", err)
			}
			continue
		}
		if err := settleSegment(seg); err != nil {
			return err
		}
	}
	if err := logDirSync(dir); err != nil {
		return fmt.Errorf("commit log: sync %s: %w", dir, err)
	}
	return nil
}

// settleSegment cuts a torn segment after its intact records and syncs it.
func settleSegment(seg replaySegment) error {
	f, err := os.OpenFile(seg.path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("commit log: %w", err)
	}
	if seg.torn {
		err = f.Truncate(int64(seg.intact)) // never appended to again: new records go to a new segment
	}
	if err == nil {
		err = segmentSync(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("commit log: settle %s: %w", seg.path, err)
	}
	return nil
}

// applyLog applies the records of segs from seq from on, in transactions within the writer's
// bounds, and returns how many it applied.
func (s *Store) applyLog(segs []replaySegment, from uint64) (int, error) {
	limits := DefaultWriterConfig()
	var a *applyTxn
	var staged uint64 // seq of the last record wholly in a
	replayed := 0
	flush := func() error {
		if a == nil || a.entries == 0 {
			return nil
		}
		_, err := s.commitApplied(a, staged)
		a = nil
		return err
	}
	for _, seg := range segs {
		if seg.last < from { // none in it to apply, or none at all
			continue
		}
		data, err := readSegment(seg.path)
		if err != nil {
			return 0, fmt.Errorf("commit log: %w", err)
		}
		_, err = readRecords(data[:min(len(data), seg.intact)], func(seq uint64, payload []byte) error {
			if seq < from {
				return nil
			}
			entries, err := decodeEntries(payload)
			if err != nil {
				return fmt.Errorf("%w: record %d in %s: %v", ErrLogCorrupt, seq, seg.path, err)
			}
			for _, e := range entries {
				if a != nil && (a.entries+1 > limits.BatchEntriesMax || a.size+len(e.Key)+len(e.Value) > limits.BatchBytesMax) {
					if err := flush(); err != nil {
						return err
					}
				}
				if a == nil {
					a = s.newApplyTxn()
				}
				if err := a.set(e); err != nil {
					return err
				}
			}
			staged = seq
			replayed++
			return nil
		})
		if err != nil {
			return 0, err
		}
	}
	return replayed, flush()
}
