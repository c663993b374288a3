package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/persistence"
)

// backup writes a consistent snapshot of an engine's data to a file: of a data folder (opened here:
// interrupted payments are resolved first) or of a running server (GET /admin/backup).
func (m Main) backup(ctx context.Context, args []string) error {
	fs := m.newFlags("backup")
	data := fs.String("data", "kaquan-data", "data folder (not with --server)")
	server := fs.String("server", "", "back up this running server (http://host:port) instead of a data folder")
	token := fs.String("token", "", "with --server: an admin token (better from KAQUAN_TOKEN)")
	out := fs.String("out", "", "the backup file to write (must not exist)")
	verbose := fs.Bool("v", false, "log engine activity")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *out == "" {
		fmt.Fprintln(m.Stderr, "kaquan backup: --out is required")
		return errUsage
	}
	var written int64
	err := createAtomically(*out, func(w io.Writer) error {
		var err error
		if *server != "" {
			written, err = fetchBackup(ctx, strings.TrimRight(*server, "/")+"/admin/backup", *token, w)
			return err
		}
		if _, err := os.Stat(*data); err != nil {
			return fmt.Errorf("data folder: %w", err)
		}
		opts := kaquan.DefaultOptions()
		opts.Logger = m.logger(*verbose)
		e, err := kaquan.Open(*data, opts)
		if err != nil {
			return err
		}
		info, err := e.Backup(ctx, w)
		written = info.Records
		return errors.Join(err, e.Close())
	})
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if *server != "" {
		fmt.Fprintf(m.Stdout, "backup of %s written to %s (%d bytes)\n", *server, *out, written)
	} else {
		fmt.Fprintf(m.Stdout, "backup of %s written to %s (%d records)\n", *data, *out, written)
	}
	return nil
}

// fetchBackup streams a server's backup into w and returns its size.
func fetchBackup(ctx context.Context, url, token string, w io.Writer) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 1<<10))
		return 0, fmt.Errorf("GET %s: %s: %s", url, res.Status, strings.TrimSpace(string(msg)))
	}
	// A backup cut short (the server stopping, say) lacks its trailer: restore refuses it.
	return io.Copy(w, res.Body)
}

// createAtomically writes a new file at path through write: into a temporary file beside it,
// synced and renamed into place only if write succeeded, so a failed or interrupted backup never
// leaves a file that looks like one.
func createAtomically(path string, write func(io.Writer) error) error {
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("%s exists: a backup never overwrites a file", path)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".partial-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename, there is nothing by that name
	err = write(tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return persistence.SyncDir(filepath.Dir(path))
}

// restore builds a data folder from a backup file, then opens it (interrupted payments in the
// snapshot are completed or undone, as after a crash) and audits it.
func (m Main) restore(ctx context.Context, args []string) error {
	fs := m.newFlags("restore")
	data := fs.String("data", "kaquan-data", "data folder to build (must not exist, or be empty)")
	from := fs.String("from", "", "the backup file")
	verbose := fs.Bool("v", false, "log engine activity")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *from == "" {
		fmt.Fprintln(m.Stderr, "kaquan restore: --from is required")
		return errUsage
	}
	f, err := os.Open(*from)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer f.Close()
	opts := kaquan.DefaultOptions()
	opts.Logger = m.logger(*verbose)
	info, err := kaquan.Restore(ctx, *data, f, opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "restored %d records (%d bytes) into %s\n", info.Records, info.Bytes, *data)
	e, r, err := openAudited(ctx, *data, opts)
	if err != nil {
		return err
	}
	defer e.Close()
	fmt.Fprintln(m.Stdout, r)
	for _, p := range r.Problems {
		fmt.Fprintln(m.Stdout, "problem:", p)
	}
	if !r.OK() {
		return fmt.Errorf("%w: %d problems in the restored data", errAuditFailed, r.ProblemCount)
	}
	return nil
}
