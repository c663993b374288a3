package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"

	"github.com/kaquan/kaquan/bench"
)

// memCheckpoint returns a bench checkpoint that writes a heap profile to PREFIX.PHASE.pprof and
// reports the Go heap against the process's resident memory: what the heap does not explain is
// Badger's mapped files (and the runtime's own overhead).
func memCheckpoint(prefix string, out, errs io.Writer) func(phase string) {
	return func(phase string) {
		runtime.GC() // the profile and the heap figures count live memory only
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		m := bench.ReadMemory()
		peak := "peak" // the process's, until the timed run starts; then the run's (bench resets it)
		if phase != "import" {
			peak = "peak since the timed run began"
		}
		fmt.Fprintf(out, "memory after %s: go heap in use %s (runtime holds %s from the OS); resident %s = anon %s + files %s; %s %s\n",
			phase, mib(int64(ms.HeapInuse)), mib(int64(ms.Sys-ms.HeapReleased)), mib(m.RSS), mib(m.Anon), mib(m.File), peak, mib(m.PeakRSS))
		path := prefix + "." + phase + ".pprof"
		if err := writeHeapProfile(path); err != nil {
			fmt.Fprintf(errs, "memory profile %s: %v\n", path, err)
		}
	}
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }
