package kaquan

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/kaquan/kaquan/persistence"
)

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
	e, err := Open(t.TempDir(), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("v"), 4<<10) // values in Badger's value log
	for i := 0; i < 20_000; i += 100 {
		var es []persistence.Entry
		for j := i; j < i+100; j++ {
			es = append(es, persistence.Entry{Key: persistence.ImageChunkKey(fmt.Sprintf("img%06d", j), 0), Value: big})
		}
		if err := e.put(es...); err != nil {
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
	e.stop(errors.New("disk failed"))
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
