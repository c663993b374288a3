package main

import (
	"flag"
	"io"
	"math"
	"os"
	"runtime/debug"
	"testing"
)

func gcFlagsFor(t *testing.T, args ...string) gcSettings {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	g := addGCFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return g
}

// unsetenv removes key for the test and puts it back after.
func unsetenv(t *testing.T, key string) {
	t.Helper()
	if v, ok := os.LookupEnv(key); ok {
		t.Cleanup(func() { os.Setenv(key, v) })
		os.Unsetenv(key)
	}
}

func TestGCSettings(t *testing.T) {
	// Put the process's settings back, whatever the test did.
	percent, limit := debug.SetGCPercent(100), debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() { debug.SetGCPercent(percent); debug.SetMemoryLimit(limit) })

	for _, bad := range [][]string{{"--gc-percent", "0"}, {"--gc-percent", "10001"}, {"--memory-limit-mib", "-1"}} {
		if err := gcFlagsFor(t, bad...).apply(); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}

	unsetenv(t, "GOGC")
	unsetenv(t, "GOMEMLIMIT")
	if err := gcFlagsFor(t, "--gc-percent", "250", "--memory-limit-mib", "512").apply(); err != nil {
		t.Fatal(err)
	}
	if got := debug.SetGCPercent(100); got != 250 {
		t.Errorf("GC percent %d, want 250", got)
	}
	if got := debug.SetMemoryLimit(math.MaxInt64); got != 512<<20 {
		t.Errorf("memory limit %d, want %d", got, 512<<20)
	}

	// The environment wins over the flags' defaults.
	t.Setenv("GOGC", "100")
	t.Setenv("GOMEMLIMIT", "off")
	if err := gcFlagsFor(t).apply(); err != nil {
		t.Fatal(err)
	}
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GC percent %d with GOGC set, want it left at 100", got)
	}
	if got := debug.SetMemoryLimit(math.MaxInt64); got != math.MaxInt64 {
		t.Errorf("memory limit %d with GOMEMLIMIT set, want it left alone", got)
	}
}
