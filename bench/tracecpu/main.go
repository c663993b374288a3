// Command tracecpu reads an execution trace written by `kaquan bench --trace FILE` and prints, for
// each interval of the run, how many cores each part of the process held: the engine's actors, its
// writer and applier, Badger's memtable flushes and compactions, the collector, the load generator.
// It shows what a slow second of a run was busy with (see README, Performance).
//
//	go run . [-every 1s] FILE
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/exp/trace"
)

// part names a goroutine by the function it was started with (the bottom frame of its stack).
var parts = []struct{ name, prefix string }{
	{"actors", "github.com/kaquan/kaquan/actors."},
	{"actors", "github.com/asynkron/protoactor-go/"},
	{"writer", "github.com/kaquan/kaquan/persistence.(*Writer).stage"},
	{"writer", "github.com/kaquan/kaquan/persistence.(*Writer).commit"},
	{"applier", "github.com/kaquan/kaquan/persistence.(*Writer).apply"},
	{"badger-write", "github.com/dgraph-io/badger/v4.(*DB).doWrites"},
	{"badger-flush", "github.com/dgraph-io/badger/v4.Open"},
	{"badger-flush", "github.com/dgraph-io/badger/v4.(*DB).flushMemtable"},
	{"compaction", "github.com/dgraph-io/badger/v4.(*levelsController)"},
	{"gc", "runtime.gcBgMarkWorker"},
	{"load", "github.com/kaquan/kaquan/bench."},
}

var columns = []string{"actors", "writer", "applier", "badger-write", "badger-flush", "compaction", "gc", "load", "other"}

func partOf(root string) string {
	for _, p := range parts {
		if strings.HasPrefix(root, p.prefix) {
			return p.name
		}
	}
	return "other"
}

func main() {
	every := flag.Duration("every", time.Second, "length of an interval")
	flag.Parse()
	if flag.NArg() != 1 || *every <= 0 {
		fmt.Fprintln(os.Stderr, "usage: tracecpu [-every 1s] FILE")
		os.Exit(2)
	}
	busy, err := read(flag.Arg(0), *every)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tracecpu:", err)
		os.Exit(1)
	}
	fmt.Printf("%8s", "from")
	for _, c := range columns {
		fmt.Printf(" %12s", c)
	}
	fmt.Println("   (cores held)")
	for i, row := range busy {
		fmt.Printf("%7.1fs", (time.Duration(i) * *every).Seconds())
		for _, c := range columns {
			fmt.Printf(" %12.2f", row[c].Seconds()/every.Seconds())
		}
		fmt.Println()
	}
}

// read sums, per interval, the time each part's goroutines were running.
func read(path string, every time.Duration) ([]map[string]time.Duration, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := trace.NewReader(f)
	if err != nil {
		return nil, err
	}
	var start trace.Time
	since := map[trace.GoID]trace.Time{}
	part := map[trace.GoID]string{}
	var busy []map[string]time.Duration
	add := func(p string, from, to trace.Time) {
		for from < to {
			i := int(time.Duration(from-start) / every)
			end := min(to, start+trace.Time(time.Duration(i+1)*every))
			for len(busy) <= i {
				busy = append(busy, map[string]time.Duration{})
			}
			busy[i][p] += time.Duration(end - from)
			from = end
		}
	}
	for {
		ev, err := r.ReadEvent()
		if err == io.EOF {
			return busy, nil
		}
		if err != nil {
			return nil, err
		}
		if start == 0 {
			start = ev.Time()
		}
		if ev.Kind() != trace.EventStateTransition {
			continue
		}
		st := ev.StateTransition()
		if st.Resource.Kind != trace.ResourceGoroutine {
			continue
		}
		g := st.Resource.Goroutine()
		if _, ok := part[g]; !ok {
			// The transition's stack is g's own; the event's is that of the goroutine emitting it,
			// which is g only when g itself made the transition (a wake-up is emitted by the waker).
			stacks := []trace.Stack{st.Stack}
			if ev.Goroutine() == g {
				stacks = append(stacks, ev.Stack())
			}
			if root := rootOf(stacks...); root != "" {
				part[g] = partOf(root)
			}
		}
		from, to := st.Goroutine()
		switch {
		case to == trace.GoRunning:
			since[g] = ev.Time()
		case from == trace.GoRunning:
			if t, ok := since[g]; ok {
				add(partOrOther(part, g), t, ev.Time())
				delete(since, g)
			}
		}
	}
}

func partOrOther(part map[trace.GoID]string, g trace.GoID) string {
	if p, ok := part[g]; ok {
		return p
	}
	return "other"
}

// rootOf is the bottom frame of the first stack that has one.
func rootOf(stacks ...trace.Stack) string {
	for _, s := range stacks {
		var root string
		for fr := range s.Frames() {
			root = fr.Func
		}
		if root != "" {
			return root
		}
	}
	return ""
}
