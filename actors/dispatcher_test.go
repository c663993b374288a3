package actors

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestWorkers_RunEveryScheduledFunction(t *testing.T) {
	w := NewWorkers(4, 10)
	defer w.Stop()
	var n atomic.Int64
	var wg sync.WaitGroup
	for range 10_000 {
		wg.Add(1)
		w.Schedule(func() { n.Add(1); wg.Done() })
	}
	wg.Wait()
	if n.Load() != 10_000 {
		t.Fatalf("ran %d of 10000", n.Load())
	}
	if w.Throughput() != 10 {
		t.Fatalf("throughput %d, want 10", w.Throughput())
	}
}

// A blocked worker (an entity waiting on a store read) must not hold up other mailboxes.
func TestWorkers_BusyWorkersDoNotBlockOthers(t *testing.T) {
	w := NewWorkers(2, 10)
	defer w.Stop()
	release := make(chan struct{})
	var started sync.WaitGroup
	started.Add(2)
	for range 2 {
		w.Schedule(func() { started.Done(); <-release })
	}
	started.Wait()
	ran := make(chan struct{})
	w.Schedule(func() { close(ran) })
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("a function waited for busy workers")
	}
	close(release)
}

func TestWorkers_ScheduleAfterStopStillRuns(t *testing.T) {
	w := NewWorkers(2, 10)
	w.Stop()
	w.Stop() // idempotent
	ran := make(chan struct{})
	w.Schedule(func() { close(ran) })
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("not run after Stop")
	}
}
