package persistence

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// syncFailChildEnv makes the test binary the child of TestWriter_FailedSyncNotReplayed: it writes
// into the folder named until a record's fdatasync fails, then waits to be killed.
const syncFailChildEnv = "KAQUAN_PERSISTENCE_SYNCFAIL_DIR"

const syncFailAcked = 10 // records acknowledged before the one whose fdatasync fails

func syncFailKey(i int) []byte { return fmt.Appendf(nil, "syncfail/%02d", i) }

// writeUntilSyncFails acknowledges syncFailAcked records, then has the next record's fdatasync
// fail and checks that its write fails.
func writeUntilSyncFails(t *testing.T, dir string, w *Writer) {
	t.Helper()
	for i := range syncFailAcked {
		if err := submitWait(t, w, Entry{Key: syncFailKey(i), Value: syncFailKey(i)}); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	logDir := filepath.Join(dir, logDirName)
	failSyncUnder.Store(&logDir)
	err := submitWait(t, w, Entry{Key: syncFailKey(syncFailAcked), Value: syncFailKey(syncFailAcked)})
	if !errors.Is(err, ErrWriterStopped) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("the record whose fdatasync failed: got %v, want ErrWriterStopped with EIO", err)
	}
}

// wantSyncFailReplay opens dir and checks that the acknowledged records are there and the one
// whose fdatasync failed is not, then that the store takes writes and replays them after a crash.
func wantSyncFailReplay(t *testing.T, dir string) {
	t.Helper()
	s := openTestStore(t, dir, DurabilitySync)
	for i := range syncFailAcked {
		if v, err := s.Get(syncFailKey(i)); err != nil || !bytes.Equal(v, syncFailKey(i)) {
			t.Errorf("acknowledged record %d after the reopen: %q, %v", i, v, err)
		}
	}
	if v, err := s.Get(syncFailKey(syncFailAcked)); !errors.Is(err, ErrNotFound) {
		t.Errorf("the record whose fdatasync failed was replayed: %q, %v", v, err)
	}
	w := mustNewWriter(t, s)
	if err := submitWait(t, w, Entry{Key: []byte("syncfail/after"), Value: []byte("after")}); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(w.Close(), s.crashClose()); err != nil {
		t.Fatal(err)
	}
	s = openTestStore(t, dir, DurabilitySync)
	if v, err := s.Get([]byte("syncfail/after")); err != nil || string(v) != "after" {
		t.Errorf("a record written after the reopen, after a second crash: %q, %v", v, err)
	}
}

// TestWriter_FailedSyncNotReplayed: a record whose fdatasync failed was never acknowledged, and its
// bytes may stay in the page cache (Linux can mark them clean while the disk lacks them); a replay
// must not apply it as if durable, in this process or in a new one.
func TestWriter_FailedSyncNotReplayed(t *testing.T) {
	if dir := os.Getenv(syncFailChildEnv); dir != "" {
		syncFailChild(t, dir)
		return
	}
	t.Run("reopened in the same process", func(t *testing.T) {
		dir := t.TempDir()
		s := openTestStore(t, dir, DurabilitySync)
		w := mustNewWriter(t, s)
		writeUntilSyncFails(t, dir, w)
		if err := errors.Join(w.Close(), s.crashClose()); err != nil {
			t.Fatal(err)
		}
		wantSyncFailReplay(t, dir)
	})
	t.Run("reopened in a new process", func(t *testing.T) {
		if testing.Short() {
			t.Skip("starts a child process")
		}
		dir := t.TempDir()
		child := exec.Command(os.Args[0], "-test.run=^TestWriter_FailedSyncNotReplayed$", "-test.v")
		child.Env = append(os.Environ(), syncFailChildEnv+"="+dir)
		out, err := child.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		child.Stderr = &stderr
		if err := child.Start(); err != nil {
			t.Fatal(err)
		}
		failed := make(chan bool, 1)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if strings.TrimSpace(sc.Text()) == "sync failed" {
					failed <- true
					return
				}
			}
			failed <- false
		}()
		select {
		case ok := <-failed:
			if !ok {
				t.Fatalf("child ended before its sync failed: %v\n%s", child.Wait(), stderr.String())
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("no progress from the child:\n%s", stderr.String())
		}
		if err := child.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = child.Wait()
		wantSyncFailReplay(t, dir)
	})
}

// mustNewWriter starts a writer on s that the test closes itself.
func mustNewWriter(t *testing.T, s *Store) *Writer {
	t.Helper()
	w, err := NewWriter(s, DefaultWriterConfig())
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// syncFailChild writes until a record's fdatasync fails, then waits for its SIGKILL.
func syncFailChild(t *testing.T, dir string) {
	go func() { time.Sleep(2 * time.Minute); os.Exit(3) }() // never outlive a lost parent
	w := startWriter(t, openTestStore(t, dir, DurabilitySync), DefaultWriterConfig())
	writeUntilSyncFails(t, dir, w)
	fmt.Println("sync failed")
	select {}
}

// TestReadSegment_Sizes: the direct read returns a segment's bytes exactly, whatever its length
// (a record bigger than a segment grows it to any size).
func TestReadSegment_Sizes(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []int{0, 1, 511, 4095, 4096, 4097, 1<<20 + 123, 3<<20 + 4096} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(rand.IntN(256))
		}
		path := filepath.Join(dir, fmt.Sprint(n))
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := readSegment(path)
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("readSegment of %d bytes: %d bytes, %v", n, len(got), err)
		}
	}
}
