package kaquan_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kaquan/kaquan/persistence"

	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/messages"
)

// paid pays as tryPay does; nil means the payment was acknowledged as completed.
func paid(ctx context.Context, e *kaquan.Engine, w world, u uint64, key string) error {
	out, err := tryPay(ctx, e, w, u, 3000, key)
	if err != nil {
		return err
	}
	if out.Payment.State != messages.PaymentState_PAYMENT_STATE_COMPLETED {
		return fmt.Errorf("payment %s: %s", key, out.Payment.State)
	}
	return nil
}

// TestBackup_WhilePaying: a backup taken while payments go on restores to a folder that opens,
// passes the audit, holds every payment acknowledged before the backup began, and keeps working.
func TestBackup_WhilePaying(t *testing.T) {
	ctx := ctxTimeout(t)
	e := MustOpenEngine(t)
	w := mustWorld(t, e, 8, 1_000_000, 100_000)

	var mu sync.Mutex
	var acked []string // in acknowledgement order
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, len(w.users))
	for i, u := range w.users {
		wg.Go(func() {
			for n := 0; !stop.Load(); n++ {
				key := fmt.Sprintf("order-%d-%d", i, n)
				if err := paid(ctx, e, w, u, key); err != nil {
					errs <- err
					return
				}
				mu.Lock()
				acked = append(acked, key)
				mu.Unlock()
			}
		})
	}
	for n := 0; n < 200 && len(errs) == 0; { // let the payments get going
		time.Sleep(time.Millisecond)
		mu.Lock()
		n = len(acked)
		mu.Unlock()
	}
	mu.Lock()
	before := append([]string(nil), acked...)
	mu.Unlock()
	var backup bytes.Buffer
	info, err := e.Backup(ctx, &backup)
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if info.Records == 0 || int64(backup.Len()) <= info.Bytes {
		t.Fatalf("backup of %d records, %d bytes of records in a file of %d", info.Records, info.Bytes, backup.Len())
	}

	dir := filepath.Join(t.TempDir(), "restored")
	got, err := kaquan.Restore(ctx, dir, bytes.NewReader(backup.Bytes()), kaquan.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if got != info {
		t.Errorf("restored %+v, backed up %+v", got, info)
	}
	r := mustOpenAt(t, dir)
	report, err := r.Audit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !report.OK() || report.InFlightCount != 0 {
		t.Fatalf("audit of the restored folder: %s %v", report, report.Problems)
	}
	for _, key := range before {
		p, err := r.Payment(ctx, w.merchant, key)
		if err != nil {
			t.Fatalf("payment %s, acknowledged before the backup: %v", key, err)
		}
		if p.State != messages.PaymentState_PAYMENT_STATE_COMPLETED {
			t.Fatalf("payment %s, acknowledged before the backup: %s", key, p.State)
		}
	}
	// The restored engine goes on: a new payment, and a retry of an old one charges nothing.
	if err := paid(ctx, r, w, w.users[0], "after-restore"); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d payments acknowledged before the backup, %d in all; backup of %d records", len(before), len(acked), info.Records)
}

// TestRestore_RefusesDamagedBackups: a backup cut anywhere, or altered in one byte, is refused
// whole and leaves no folder; a folder that holds something is not restored into.
func TestRestore_RefusesDamagedBackups(t *testing.T) {
	ctx := ctxTimeout(t)
	e := MustOpenEngine(t)
	w := mustWorld(t, e, 3, 100_000, 100)
	for i, u := range w.users {
		if err := paid(ctx, e, w, u, fmt.Sprint("order-", i)); err != nil {
			t.Fatal(err)
		}
	}
	var backup bytes.Buffer
	if _, err := e.Backup(ctx, &backup); err != nil {
		t.Fatal(err)
	}
	whole := backup.Bytes()
	flipped := bytes.Clone(whole)
	flipped[len(flipped)/2] ^= 0x01
	cases := map[string][]byte{
		"empty":             {},
		"header only":       whole[:17],
		"cut in half":       whole[:len(whole)/2],
		"cut before sum":    whole[:len(whole)-32],
		"last byte missing": whole[:len(whole)-1],
		"one bit flipped":   flipped,
		"byte appended":     append(bytes.Clone(whole), 0),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "restored")
			_, err := kaquan.Restore(ctx, dir, bytes.NewReader(data), kaquan.DefaultOptions())
			if !errors.Is(err, kaquan.ErrBackupDamaged) {
				t.Fatalf("restore: %v, want ErrBackupDamaged", err)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the refused restore left %s (%v)", dir, err)
			}
			if _, err := os.Stat(dir + ".restoring"); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the refused restore left its build folder (%v)", err)
			}
		})
	}
	t.Run("target not empty", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "something"), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := kaquan.Restore(ctx, dir, bytes.NewReader(whole), kaquan.DefaultOptions()); !errors.Is(err, kaquan.ErrRestoreTarget) {
			t.Fatalf("restore: %v, want ErrRestoreTarget", err)
		}
	})
	t.Run("whole, into an empty folder", func(t *testing.T) {
		dir := t.TempDir()
		if _, err := kaquan.Restore(ctx, dir, bytes.NewReader(whole), kaquan.DefaultOptions()); err != nil {
			t.Fatal(err)
		}
		r := mustOpenAt(t, dir)
		for i := range w.users {
			if _, err := r.Payment(ctx, w.merchant, fmt.Sprint("order-", i)); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestBackup_AfterClose: a closed engine refuses a backup with ErrEngineStopped.
func TestBackup_AfterClose(t *testing.T) {
	e, err := kaquan.Open(t.TempDir(), kaquan.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Backup(context.Background(), &bytes.Buffer{}); !errors.Is(err, kaquan.ErrEngineStopped) {
		t.Fatalf("backup after close: %v, want ErrEngineStopped", err)
	}
}

// gateWriter holds its first write until gate closes.
type gateWriter struct {
	n             int
	started, gate chan struct{}
}

func (g *gateWriter) Write(p []byte) (int, error) {
	if g.n == 0 {
		close(g.started)
		<-g.gate
	}
	g.n += len(p)
	return len(p), nil
}

// TestBackup_CloseAfterFailureWaitsForIt: after the engine stopped on a failure, Close still waits
// for a backup reading the store (it closed Badger under it, and the backup hung on the closed
// value log), and the backup ends, refused, instead of running on.
func TestBackup_CloseAfterFailureWaitsForIt(t *testing.T) {
	e, err := kaquan.Open(t.TempDir(), kaquan.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("v"), 4<<10) // values in Badger's value log
	for i := 0; i < 20_000; i += 100 {
		var es []persistence.Entry
		for j := i; j < i+100; j++ {
			es = append(es, persistence.Entry{Key: persistence.ImageChunkKey(fmt.Sprintf("img%06d", j), 0), Value: big})
		}
		if err := kaquan.Put(e, es...); err != nil {
			t.Fatal(err)
		}
	}
	g := &gateWriter{started: make(chan struct{}), gate: make(chan struct{})}
	backup := make(chan error, 1)
	go func() {
		_, err := e.Backup(context.Background(), g)
		backup <- err
	}()
	<-g.started
	kaquan.Fail(e, errors.New("disk failed"))
	closed := make(chan error, 1)
	go func() { closed <- e.Close() }()
	select {
	case <-closed:
		t.Fatal("Close returned while a backup was reading the store")
	case <-time.After(200 * time.Millisecond):
	}
	close(g.gate) // the backup's reader takes its bytes again
	select {
	case err := <-backup:
		if err == nil {
			t.Error("a backup cut off by the engine's failure reported success")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the backup did not end")
	}
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return after the backup ended")
	}
}
