// Package persistence is kaquan's durable store: Badger behind one group-commit writer and a
// commit log.
//
// Every change an actor makes is handed to the Writer as one Write; the Writer appends many Writes
// as one commit log record with one fdatasync, in the order they were submitted, and completes each
// Write only once it is on disk; an applier moves them into Badger behind (commitlog.go,
// applier.go), and until then reads find them in the Writer's overlay (overlay.go). Open replays
// what a crash left in the log (recovery.go). In memory (tests) the path is the same, with a log
// that writes no files. A failed commit stops the Writer for good (fail-stop).
package persistence

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"google.golang.org/protobuf/proto"
)

// Durability says when a commit counts as done.
type Durability string

const (
	// DurabilitySync fsyncs every group commit before acknowledging it. The default.
	DurabilitySync Durability = "sync"
	// DurabilityNone acknowledges after the OS write, without fsync. For benchmarks only: a machine
	// crash can lose acknowledged changes.
	DurabilityNone Durability = "none"
	// DurabilityMemory keeps everything in memory. For tests only: nothing survives Close.
	DurabilityMemory Durability = "memory"
)

// ParseDurability turns a flag value into a Durability.
func ParseDurability(s string) (Durability, error) {
	switch d := Durability(s); d {
	case DurabilitySync, DurabilityNone, DurabilityMemory:
		return d, nil
	}
	return "", fmt.Errorf("durability %q: want sync, none or memory", s)
}

// Store is the Badger database and the reads of it. The Writer in front of it owns the write path
// (the commit log, the overlay of acknowledged writes Badger does not have yet, the applier); the
// Store's reads consult that overlay, which NewWriter installs.
type Store struct {
	dir            string
	logDir         string // the commit log's folder; "" in memory, where the log has no files
	db             *badger.DB
	durability     Durability
	valueThreshold int
	trimmer        *trimmer // nil in memory
	vis            *visibility
	nextTs         uint64 // the next commit timestamp; owned by whoever commits to Badger (recovery in Open, then the Writer's applier)

	overlay atomic.Pointer[overlay] // the Writer's acknowledged writes Badger lacks; nil before NewWriter
}

// ErrNotFound is returned by Get for an absent key.
var ErrNotFound = errors.New("persistence: key not found")

// MemTableBytes is Badger's memtable size; Badger caps one transaction at 15% of it.
const MemTableBytes = 16 << 20

// ValueThreshold: smaller values stay in the LSM tree; larger ones (gift image chunks) go to the
// value log, and a transaction counts only a pointer for them. In memory there is no value log:
// every value stays in the tree and counts whole. (Image chunks in the tree cost a third of the
// gifts' throughput in memtable flushes and compactions.)
const (
	ValueThreshold       = 1 << 10
	valueThresholdMemory = 1 << 20 // Badger's largest
)

// ValueBytesMax bounds one value; larger data (gift images) is stored in chunks.
const ValueBytesMax = 512 << 10

// Open opens (creating if needed) the store in dir and replays the commit log a crash left into
// Badger. dir is ignored for DurabilityMemory.
func Open(dir string, durability Durability, logger *slog.Logger) (*Store, error) {
	opts := badgerOptions(dir, durability == DurabilityMemory, logger)
	db, err := badger.OpenManaged(opts) // see visibility.go for why kaquan picks the timestamps
	if err != nil {
		return nil, fmt.Errorf("open badger in %q: %w", dir, err)
	}
	// Folders written before managed mode hold Badger's own timestamps; new ones continue above them.
	last := db.MaxVersion()
	s := &Store{dir: dir, db: db, durability: durability, valueThreshold: int(opts.ValueThreshold), vis: newVisibility(last), nextTs: last + 1}
	if opts.InMemory { // nothing on disk: no log to replay, no mapped tables to trim
		return s, nil
	}
	s.logDir = filepath.Join(dir, logDirName)
	replayed, err := s.replayLog(s.logDir)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open %q: %w", dir, err)
	}
	if replayed > 0 {
		logger.Info("replayed the commit log into badger", "records", replayed)
	}
	s.trimmer = startTrimmer(dir, logger)
	return s, nil
}

// badgerOptions sets every option that matters, so a Badger upgrade cannot change behaviour
// silently.
func badgerOptions(dir string, inMemory bool, logger *slog.Logger) badger.Options {
	if inMemory {
		dir = ""
	}
	opts := badger.DefaultOptions(dir)
	opts.InMemory = inMemory
	// The commit log is what makes a write durable (commitlog.go); Badger's own log needs no fsync.
	opts.SyncWrites = false
	opts.DetectConflicts = false // one writer: there is nothing to conflict with
	opts.NumVersionsToKeep = 1
	opts.MemTableSize = MemTableBytes
	opts.NumMemtables = 5
	opts.BaseTableSize = 2 << 20
	opts.BaseLevelSize = 10 << 20
	opts.LevelSizeMultiplier = 10
	opts.TableSizeMultiplier = 1 // 2 MiB tables at every level: a compaction builds each table in memory, several at once
	opts.MaxLevels = 7
	opts.NumLevelZeroTables = 5
	opts.NumLevelZeroTablesStall = 15
	opts.NumCompactors = 2
	opts.NumGoroutines = 2
	// Badger does not sync its value log either: before a commit log segment is deleted, every
	// value log file is fsynced (syncValueLogs), so no table points into a value not on disk.
	opts.ValueThreshold = ValueThreshold
	if inMemory {
		opts.ValueThreshold = valueThresholdMemory
	}
	opts.ValueLogFileSize = 16 << 20 // values stay in the LSM tree; a small log keeps each sync cheap
	opts.ValueLogMaxEntries = 1_000_000
	opts.BlockSize = 4 << 10
	opts.BlockCacheSize = 0 // uncompressed tables are read straight from the mapped files
	opts.IndexCacheSize = 0 // unencrypted tables' indexes and bloom filters are read in place from the mapped files too (the cache serves only encrypted ones)
	opts.BloomFalsePositive = 0.01
	opts.Compression = options.None // records are small; decoding blocks on every read cost more than the disk it saves
	opts.CompactL0OnClose = false
	opts.VerifyValueChecksum = false
	opts.MetricsEnabled = false
	opts.DetectConflicts = false
	opts.Logger = badgerLogger{logger}
	return opts
}

// Durability reports how the store was opened.
func (s *Store) Durability() Durability { return s.durability }

// Close closes the database. Callers close the Writer first. Badger's Close flushes its memtables
// to synced tables; then, unless the applier failed, the commit log is no longer needed and goes.
func (s *Store) Close() error {
	if s.trimmer != nil {
		s.trimmer.close()
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close badger: %w", err)
	}
	if s.logDir == "" {
		return nil
	}
	if o := s.overlay.Load(); o != nil && o.applyFailed() != nil {
		return nil // the log holds acknowledged records Badger lacks: the next Open replays them
	}
	err := s.syncValueLogs() // every table may point into it
	if err == nil {
		err = removeSegments(s.logDir)
	}
	if err != nil {
		return fmt.Errorf("close commit log: %w", err)
	}
	return nil
}

// Get reads the value of key: an acknowledged write the applier has not moved to Badger yet, or
// Badger's. The value is a copy.
func (s *Store) Get(key []byte) ([]byte, error) { return s.read(key, true) }

// Has reports whether key exists, reading it as Get does without copying its value.
func (s *Store) Has(key []byte) (bool, error) {
	_, err := s.read(key, false)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

func (s *Store) read(key []byte, value bool) ([]byte, error) {
	if o := s.overlay.Load(); o != nil {
		if v, deleted, found := o.get(key); found {
			if deleted {
				return nil, ErrNotFound
			}
			if !value {
				return nil, nil
			}
			return bytes.Clone(v), nil
		}
	}
	// Taken after the overlay missed: the applier moves the read timestamp past what it applied
	// before it drops that from the overlay, so whatever left it is in Badger at or below ts.
	ts := s.vis.beginPointRead()
	defer s.vis.endRead(ts)
	return s.readAt(key, ts, value)
}

// BadgerReads reports the point reads that went to Badger since Open: those of keys not in the
// overlay of committed, not yet applied writes (absent keys included, the dearest to read).
func (s *Store) BadgerReads() int64 { return s.vis.pointReadCount() }

func (s *Store) readAt(key []byte, ts uint64, value bool) ([]byte, error) {
	txn := s.db.NewTransactionAt(ts, false)
	defer txn.Discard()
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, ErrNotFound
	}
	if err != nil || !value {
		return nil, err
	}
	return item.ValueCopy(nil)
}

// GetProto reads key into m. It returns ErrNotFound for an absent key.
func (s *Store) GetProto(key []byte, m proto.Message) error {
	b, err := s.Get(key)
	if err != nil {
		return err
	}
	if err := proto.Unmarshal(b, m); err != nil {
		return fmt.Errorf("decode %q: %w", key[:1], err)
	}
	return nil
}

// Scan calls fn for every key with prefix, in key order, until fn returns false or an error.
// reverse walks from the last key backwards. Keys and values are copies, safe to keep.
func (s *Store) Scan(prefix []byte, reverse bool, fn func(key, value []byte) (bool, error)) error {
	return s.view(func(txn *badger.Txn) error {
		opt := badger.DefaultIteratorOptions
		opt.Prefix = prefix
		opt.Reverse = reverse
		opt.PrefetchValues = false
		it := txn.NewIterator(opt)
		defer it.Close()
		start := prefix
		if reverse {
			start = append(append([]byte{}, prefix...), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
		}
		for it.Seek(start); it.ValidForPrefix(prefix); it.Next() {
			item := it.Item()
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			more, err := fn(item.KeyCopy(nil), v)
			if err != nil || !more {
				return err
			}
		}
		return nil
	})
}

// Size reports the on-disk size of the LSM tree and the value log, in bytes.
func (s *Store) Size() (lsm, vlog int64) { return s.db.Size() }

type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any) {
	b.l.Error(fmt.Sprintf(f, a...), "component", "badger")
}
func (b badgerLogger) Warningf(f string, a ...any) {
	b.l.Warn(fmt.Sprintf(f, a...), "component", "badger")
}
func (b badgerLogger) Infof(f string, a ...any) {
	b.l.Debug(fmt.Sprintf(f, a...), "component", "badger")
}
func (b badgerLogger) Debugf(f string, a ...any) {
	b.l.Debug(fmt.Sprintf(f, a...), "component", "badger")
}

// syncValueLogs fsyncs every value log file. Badger writes them through a shared mapping without
// syncing (SyncWrites is off); fsync on any descriptor of the file writes its dirty pages.
func (s *Store) syncValueLogs() error {
	paths, err := filepath.Glob(filepath.Join(s.dir, "*.vlog"))
	if err != nil {
		return err
	}
	for _, p := range paths {
		f, err := os.Open(p)
		if errors.Is(err, os.ErrNotExist) { // deleted meanwhile: nothing in it is needed
			continue
		}
		if err != nil {
			return fmt.Errorf("sync value log: %w", err)
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return fmt.Errorf("sync value log %s: %w", filepath.Base(p), err)
		}
	}
	// Badger syncs its files but not the folder after an L0 flush or a new value log: their names
	// must be durable too before the commit log that covers them goes.
	if err := syncDir(s.dir); err != nil {
		return fmt.Errorf("sync data folder: %w", err)
	}
	return nil
}

// SyncDir makes the names in dir durable (a file created or renamed there), as the store does for
// its own; for the files the commands write beside it (a backup).
func SyncDir(dir string) error { return syncDir(dir) }
