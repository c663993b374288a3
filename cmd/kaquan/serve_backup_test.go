package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/persistence"
)

// TestServe_ShutdownCutsAStalledBackup: a backup whose client stopped reading does not hold
// `kaquan serve` past --shutdown-timeout (it held it until --backup-timeout).
func TestServe_ShutdownCutsAStalledBackup(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	e, err := kaquan.Open(data, kaquan.DefaultOptions()) // a data folder, then 20 MiB more than socket buffers hold
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	fill(t, data, 40, bytes.Repeat([]byte("v"), persistence.ValueBytesMax))
	addr, stop := startServe(t, data, "--shutdown-timeout", "1s", "--backup-timeout", "5m")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.(*net.TCPConn).SetReadBuffer(4096); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET /admin/backup HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", testAdminToken)
	if _, err := bufio.NewReader(conn).ReadString('\n'); err != nil { // the status line; then nothing more is read
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	if code := stop(); code != ExitFailure { // the shutdown ran out of time: reported
		t.Errorf("serve exit %d, want %d", code, ExitFailure)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("serve took %s to stop with --shutdown-timeout 1s", d.Round(time.Second))
	}
}

// fill writes n values straight into the store of the closed data folder dir.
func fill(t *testing.T, dir string, n int, value []byte) {
	t.Helper()
	store, err := persistence.Open(dir, persistence.DurabilitySync, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	w, err := persistence.NewWriter(store, persistence.DefaultWriterConfig())
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		done := make(chan error, 1)
		entry := persistence.Entry{Key: persistence.ImageChunkKey(fmt.Sprintf("filler%04d", i), 0), Value: value}
		if err := w.Submit(&persistence.Write{Entries: []persistence.Entry{entry}, Done: func(err error) { done <- err }}); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if err := errors.Join(w.Close(), store.Close()); err != nil {
		t.Fatal(err)
	}
}
