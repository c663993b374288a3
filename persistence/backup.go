package persistence

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"os"
	"path/filepath"
)

// A backup is one consistent snapshot of the store: a header, every record in key order, and a
// trailer with the record count and the SHA-256 of everything before it. Badger's own backup
// format has no end marker, so a file cut at a list boundary would restore in part; this one is
// refused whole unless it is complete and intact.
//
//	header:  backupMagic
//	record:  uvarint(len(key)) key uvarint(len(value)) value   (keys are never empty)
//	trailer: uvarint(0) uint64(records, big-endian) sha256
var backupMagic = []byte("kaquan backup v1\n")

// restoreWriteEntriesMax and restoreInflightMax bound one restore's Writes and those not yet durable.
const (
	restoreWriteEntriesMax = 1024
	restoreWriteBytesMax   = 256 << 10
	restoreInflightMax     = 64
	backupCheckEvery       = 1024 // records between looks at the context
)

// Errors of backup and restore.
var (
	// ErrBackupDamaged: the file is not a complete kaquan backup (cut short, altered, or another format).
	ErrBackupDamaged = errors.New("persistence: backup damaged")
	// ErrRestoreTarget: the folder to restore into already exists and is not empty.
	ErrRestoreTarget = errors.New("persistence: restore target not empty")
)

// BackupInfo describes a backup written or restored.
type BackupInfo struct {
	Records int64
	Bytes   int64 // key and value bytes
}

// Backup writes a consistent snapshot of the store to w: everything applied to Badger at one commit
// boundary, which, since writes commit in submission order, is a prefix of the acknowledged history
// (as a crash at that moment would leave it). Writes go on meanwhile. The store's own bookkeeping
// (the commit log's applied marker) is left out: a restored store starts a log of its own.
func (s *Store) Backup(ctx context.Context, w io.Writer) (BackupInfo, error) {
	var info BackupInfo
	bw := bufio.NewWriterSize(w, 1<<20)
	sum := sha256.New()
	out := io.MultiWriter(bw, sum)
	if _, err := out.Write(backupMagic); err != nil {
		return info, fmt.Errorf("backup: %w", err)
	}
	var lens []byte
	err := s.View(func(snap *Snapshot) error {
		return snap.ScanFrom(nil, nil, func(key, value []byte) (bool, error) {
			if bytes.Equal(key, appliedMarkerKey) {
				return true, nil
			}
			if info.Records%backupCheckEvery == 0 {
				if err := ctx.Err(); err != nil {
					return false, err
				}
			}
			lens = binary.AppendUvarint(lens[:0], uint64(len(key)))
			if _, err := out.Write(lens); err != nil {
				return false, err
			}
			if _, err := out.Write(key); err != nil {
				return false, err
			}
			lens = binary.AppendUvarint(lens[:0], uint64(len(value)))
			if _, err := out.Write(lens); err != nil {
				return false, err
			}
			if _, err := out.Write(value); err != nil {
				return false, err
			}
			info.Records++
			info.Bytes += int64(len(key) + len(value))
			return true, nil
		})
	})
	if err != nil {
		return info, fmt.Errorf("backup: %w", err)
	}
	trailer := binary.BigEndian.AppendUint64(binary.AppendUvarint(nil, 0), uint64(info.Records))
	if _, err := out.Write(trailer); err != nil {
		return info, fmt.Errorf("backup: %w", err)
	}
	if _, err := bw.Write(sum.Sum(nil)); err != nil {
		return info, fmt.Errorf("backup: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return info, fmt.Errorf("backup: %w", err)
	}
	return info, nil
}

// Restore builds a store in dir (which must not exist, or be empty) from a backup read from r. It
// builds in a folder beside dir and renames it into place only once the whole backup has been read,
// its checksum matched and every record is durable, so a damaged or cut backup leaves nothing.
func Restore(ctx context.Context, dir string, r io.Reader, logger *slog.Logger) (BackupInfo, error) {
	if err := checkRestoreTarget(dir); err != nil {
		return BackupInfo{}, err
	}
	building := filepath.Clean(dir) + ".restoring"
	if err := os.RemoveAll(building); err != nil { // what an interrupted restore left
		return BackupInfo{}, fmt.Errorf("restore: %w", err)
	}
	info, err := restoreInto(ctx, building, r, logger)
	if err != nil {
		os.RemoveAll(building)
		return info, err
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) { // empty (checked)
		os.RemoveAll(building)
		return info, fmt.Errorf("restore: %w", err)
	}
	if err := os.Rename(building, dir); err != nil {
		os.RemoveAll(building)
		return info, fmt.Errorf("restore: %w", err)
	}
	if err := syncDir(filepath.Dir(filepath.Clean(dir))); err != nil {
		return info, fmt.Errorf("restore: %w", err)
	}
	return info, nil
}

func checkRestoreTarget(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("restore: %w", err)
	case len(entries) > 0:
		return fmt.Errorf("%w: %s holds %d entries", ErrRestoreTarget, dir, len(entries))
	}
	return nil
}

// restoreInto writes the backup's records into a new store in dir through the group-commit writer
// and closes it cleanly (Badger flushed, commit log removed).
func restoreInto(ctx context.Context, dir string, r io.Reader, logger *slog.Logger) (info BackupInfo, err error) {
	st, err := Open(dir, DurabilitySync, logger)
	if err != nil {
		return info, fmt.Errorf("restore: %w", err)
	}
	w, err := NewWriter(st, DefaultWriterConfig())
	if err != nil {
		st.Close()
		return info, fmt.Errorf("restore: %w", err)
	}
	defer func() {
		werr := w.Close()
		if cerr := st.Close(); werr == nil {
			werr = cerr
		}
		if err == nil && werr != nil {
			err = fmt.Errorf("restore: %w", werr)
		}
	}()
	rd := &backupReader{r: bufio.NewReaderSize(r, 1<<20), sum: sha256.New()}
	bulk := NewBulk(w, restoreInflightMax)
	info, err = rd.records(ctx, bulk.Put)
	if ferr := bulk.Finish(); err == nil && ferr != nil {
		err = fmt.Errorf("restore: %w", ferr)
	}
	return info, err
}

// backupReader reads a backup's records, hashing as it goes.
type backupReader struct {
	r   *bufio.Reader
	sum hash.Hash
}

func (b *backupReader) read(p []byte) error {
	if _, err := io.ReadFull(b.r, p); err != nil {
		return fmt.Errorf("%w: %v", ErrBackupDamaged, err)
	}
	b.sum.Write(p)
	return nil
}

func (b *backupReader) uvarint(max uint64, what string) (uint64, error) {
	v, err := binary.ReadUvarint(b.r)
	if err != nil {
		return 0, fmt.Errorf("%w: %s: %v", ErrBackupDamaged, what, err)
	}
	if v > max {
		return 0, fmt.Errorf("%w: %s of %d bytes (at most %d)", ErrBackupDamaged, what, v, max)
	}
	b.sum.Write(binary.AppendUvarint(nil, v))
	return v, nil
}

// records reads the whole backup, handing its records to submit in Writes of bounded size, and
// checks the trailer. Records are handed on before the checksum is known: the caller builds aside.
func (b *backupReader) records(ctx context.Context, submit func([]Entry) error) (BackupInfo, error) {
	var info BackupInfo
	magic := make([]byte, len(backupMagic))
	if err := b.read(magic); err != nil || !bytes.Equal(magic, backupMagic) {
		return info, fmt.Errorf("%w: not a kaquan backup", ErrBackupDamaged)
	}
	var batch []Entry
	batchBytes := 0
	for {
		keyLen, err := b.uvarint(KeyBytesMax, "key")
		if err != nil {
			return info, err
		}
		if keyLen == 0 {
			break
		}
		if info.Records%backupCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return info, fmt.Errorf("restore: %w", err)
			}
		}
		key := make([]byte, keyLen)
		if err := b.read(key); err != nil {
			return info, err
		}
		valueLen, err := b.uvarint(ValueBytesMax, "value")
		if err != nil {
			return info, err
		}
		value := make([]byte, valueLen)
		if err := b.read(value); err != nil {
			return info, err
		}
		if len(batch) == restoreWriteEntriesMax || (len(batch) > 0 && batchBytes+len(key)+len(value) > restoreWriteBytesMax) {
			if err := submit(batch); err != nil {
				return info, fmt.Errorf("restore: %w", err)
			}
			batch, batchBytes = nil, 0
		}
		batch = append(batch, Entry{Key: key, Value: value})
		batchBytes += len(key) + len(value)
		info.Records++
		info.Bytes += int64(len(key) + len(value))
	}
	count := make([]byte, 8)
	if err := b.read(count); err != nil {
		return info, err
	}
	want := b.sum.Sum(nil)
	got := make([]byte, sha256.Size)
	if _, err := io.ReadFull(b.r, got); err != nil {
		return info, fmt.Errorf("%w: checksum: %v", ErrBackupDamaged, err)
	}
	switch {
	case !bytes.Equal(got, want):
		return info, fmt.Errorf("%w: checksum does not match", ErrBackupDamaged)
	case binary.BigEndian.Uint64(count) != uint64(info.Records):
		return info, fmt.Errorf("%w: %d records read, the trailer says %d", ErrBackupDamaged, info.Records, binary.BigEndian.Uint64(count))
	}
	if _, err := b.r.ReadByte(); err != io.EOF {
		return info, fmt.Errorf("%w: data after the trailer", ErrBackupDamaged)
	}
	if len(batch) > 0 {
		if err := submit(batch); err != nil {
			return info, fmt.Errorf("restore: %w", err)
		}
	}
	return info, nil
}
