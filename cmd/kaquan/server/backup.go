package server

import (
	"context"
	"io"
	"net/http"
)

// backupsMax bounds the backups under way: each reads the whole store. (kaquan serve moves the
// connection's write deadline for this one long answer: see its withBackupDeadline.)
const backupsMax = 1

// serveBackup streams a consistent snapshot of the engine (kaquan.Engine.Backup) to an admin:
// GET /admin/backup. A backup that fails once its first bytes are out is cut off without the
// response's proper end, so the client sees an error, and the file lacks the trailer restore
// checks.
func (s *Server) serveBackup(w http.ResponseWriter, r *http.Request) {
	p, err := s.authenticate(r.Context(), r.Header)
	switch {
	case err != nil:
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	case !p.admin():
		http.Error(w, "a backup is for admins", http.StatusForbidden)
		return
	}
	select {
	case s.backups <- struct{}{}:
		defer func() { <-s.backups }()
	default:
		http.Error(w, "a backup is under way", http.StatusTooManyRequests)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.BackupTimeout)
	defer cancel()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="kaquan.backup"`)
	cw := &countingWriter{w: w}
	info, err := s.e.Backup(ctx, cw)
	if err == nil {
		s.opts.Logger.Info("backup served", "records", info.Records, "bytes", cw.n)
		return
	}
	s.opts.Logger.Error("backup failed", "err", err, "bytes_sent", cw.n)
	if cw.n == 0 {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	panic(http.ErrAbortHandler) // net/http closes the connection without ending the response
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
