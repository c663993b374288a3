package kaquan

import (
	"context"
	"fmt"
	"io"

	"github.com/kaquan/kaquan/persistence"
)

// Errors of backups; test them with errors.Is.
var (
	// ErrBackupDamaged: a file given to Restore is not a complete, intact kaquan backup.
	ErrBackupDamaged = persistence.ErrBackupDamaged
	// ErrRestoreTarget: Restore's folder already exists and is not empty.
	ErrRestoreTarget = persistence.ErrRestoreTarget
)

// BackupInfo counts the records (and their key and value bytes) of a backup.
type BackupInfo = persistence.BackupInfo

// Backup writes a consistent snapshot of the engine's data to w while the engine keeps working:
// every change acknowledged before the call began, and some after it, cut at one commit boundary
// (the state a crash at that moment would leave). Restoring it and opening the engine completes or
// undoes the payments that were under way, as after a crash. Cancelling ctx, Close, or the engine
// stopping on a failure ends a backup (within 1,024 records, once w takes its writes), and Close
// waits for that.
func (e *Engine) Backup(ctx context.Context, w io.Writer) (BackupInfo, error) {
	end, err := e.begin(ctx)
	if err != nil {
		return BackupInfo{}, err
	}
	defer end()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-e.closing:
		case <-e.fatal:
		case <-ctx.Done():
		}
		cancel()
	}()
	return e.store.Backup(ctx, w)
}

// Restore builds the data folder dir (which must not exist, or be empty) from a backup read from
// r, then it can be opened with Open. A damaged or cut backup is refused whole (ErrBackupDamaged)
// and leaves nothing behind.
func Restore(ctx context.Context, dir string, r io.Reader, opts Options) (BackupInfo, error) {
	if err := opts.Validate(); err != nil {
		return BackupInfo{}, err
	}
	info, err := persistence.Restore(ctx, dir, r, opts.Logger)
	if err != nil {
		return info, fmt.Errorf("restore %q: %w", dir, err)
	}
	return info, nil
}
