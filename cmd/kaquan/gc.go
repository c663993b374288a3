package main

import (
	"flag"
	"fmt"
	"os"
	"runtime/debug"
)

// gcSettings are the Go collector's settings for the commands that run an engine. The engine
// allocates many short-lived messages: collecting less often (GOGC 300 rather than 100) was worth
// about 10% of pool claims per second. The soft memory limit makes the collector work harder before
// the heap grows past it, so a large data set keeps its memory budget. GOGC and GOMEMLIMIT in the
// environment win over both, as Go users expect; an embedding program makes its own choice.
type gcSettings struct {
	percent  *int
	limitMiB *int64
}

func addGCFlags(fs *flag.FlagSet) gcSettings {
	return gcSettings{
		percent:  fs.Int("gc-percent", 300, "the Go collector's target heap growth in percent, 1..10000 (GOGC in the environment wins)"),
		limitMiB: fs.Int64("memory-limit-mib", 768, "soft limit of the Go runtime's memory in MiB, 0 for none (GOMEMLIMIT in the environment wins)"),
	}
}

// apply checks and sets the collector's settings for this process.
func (g gcSettings) apply() error {
	switch {
	case *g.percent < 1 || *g.percent > 10_000:
		return fmt.Errorf("--gc-percent %d outside 1..10000", *g.percent)
	case *g.limitMiB < 0 || *g.limitMiB > 1<<24:
		return fmt.Errorf("--memory-limit-mib %d outside 0..%d", *g.limitMiB, 1<<24)
	}
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(*g.percent)
	}
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set && *g.limitMiB > 0 {
		debug.SetMemoryLimit(*g.limitMiB << 20)
	}
	return nil
}
