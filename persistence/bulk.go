package persistence

import "sync/atomic"

// Bulk submits many large Writes to a Writer with at most a bounded number not yet durable: enough
// to fill the writer's batches, while the writer's own queue (sized for many small writes) would
// hold hundreds of megabytes of large ones. Used by imports and restores, from one goroutine.
type Bulk struct {
	w        *Writer
	inflight chan struct{}
	failed   atomic.Pointer[error]
}

// NewBulk starts a bulk load through w with at most inflightMax Writes in flight.
func NewBulk(w *Writer, inflightMax int) *Bulk {
	return &Bulk{w: w, inflight: make(chan struct{}, inflightMax)}
}

// Put submits entries as one Write, waiting while inflightMax are in flight. It returns the first
// failure of an earlier Write, if any has failed.
func (b *Bulk) Put(entries []Entry) error {
	if err := b.Err(); err != nil {
		return err
	}
	b.inflight <- struct{}{}
	err := b.w.Submit(&Write{Entries: entries, Done: func(err error) {
		if err != nil {
			b.failed.CompareAndSwap(nil, &err)
		}
		<-b.inflight
	}})
	if err != nil {
		<-b.inflight // Submit refused it: its Done never runs
	}
	return err
}

// Err is the first failure of a Write put so far (nil while none failed).
func (b *Bulk) Err() error {
	if f := b.failed.Load(); f != nil {
		return *f
	}
	return nil
}

// Finish waits until every Write put is durable (a barrier: writes commit in order) and returns the
// first failure.
func (b *Bulk) Finish() error {
	done := make(chan error, 1)
	if err := b.w.Submit(&Write{Done: func(err error) { done <- err }}); err != nil {
		return err
	}
	if err := <-done; err != nil {
		return err
	}
	return b.Err()
}
