package actors

import "sync"

// Workers is the dispatcher of every entity's mailbox: a fixed set of long-lived goroutines. The
// default dispatcher starts a goroutine per mailbox run, with a small stack that then grows by
// copying on every deep receive (a store read on activation): about 7% of a payment's CPU.
type Workers struct {
	fns        chan func() // a nil function tells one worker to stop
	n          int
	stop       sync.Once
	throughput int
}

// NewWorkers starts n workers; throughput is how many messages a mailbox handles per run.
func NewWorkers(n, throughput int) *Workers {
	w := &Workers{fns: make(chan func()), n: n, throughput: throughput}
	for range n {
		go w.work()
	}
	return w
}

// work runs functions until told to stop. One channel, not a select with a quit channel: a
// select locks both channels on every run (4% of a payment's CPU).
func (w *Workers) work() {
	for fn := range w.fns {
		if fn == nil {
			return
		}
		fn()
	}
}

// Schedule runs fn on an idle worker, or on a goroutine of its own when every worker is busy (an
// entity blocked on a store read must never hold up the others).
func (w *Workers) Schedule(fn func()) {
	select {
	case w.fns <- fn:
	default:
		go fn()
	}
}

// Throughput implements protoactor's Dispatcher.
func (w *Workers) Throughput() int { return w.throughput }

// Stop ends the workers once idle; later runs get goroutines of their own. It does not wait: a
// worker still running a function takes its stop signal when that function returns.
func (w *Workers) Stop() {
	w.stop.Do(func() {
		go func() {
			for range w.n {
				w.fns <- nil
			}
		}()
	})
}
