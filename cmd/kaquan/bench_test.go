package main

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// TestBench_EmbeddedReportsTheRun runs a short embedded bench: besides the headline and the audit it
// reports the writer, the applier, and (on Linux) the process's CPU time per operation.
func TestBench_EmbeddedReportsTheRun(t *testing.T) {
	var stdout, stderr strings.Builder
	code := Main{Stdout: &stdout, Stderr: &stderr}.Run(context.Background(), []string{"bench", "--data", filepath.Join(t.TempDir(), "data"),
		"--duration", "1s", "--concurrency", "4", "--accounts", "20", "--merchants", "2", "--cards-per-user", "1", "--no-progress-bar", "--json"})
	if code != ExitOK {
		t.Fatalf("exit %d: %s\n%s", code, stderr.String(), stdout.String())
	}
	out := stdout.String()
	wants := []*regexp.Regexp{
		regexp.MustCompile(`(?m)^writer during the run: \d+ commits/s`),
		regexp.MustCompile(`(?m)^applier during the run: \d+ Badger transactions/s`),
		regexp.MustCompile(`(?m)^setup [0-9.]+s; \d+ payments in [0-9.]+s: \d+/s`),
		regexp.MustCompile(`(?m)^audit OK`),
	}
	if runtime.GOOS == "linux" {
		wants = append(wants, regexp.MustCompile(`(?m)^process CPU during the run \(this process\): [0-9.]+s, \d+ µs per operation$`))
	}
	for _, re := range wants {
		if !re.MatchString(out) {
			t.Errorf("output lacks %s:\n%s", re, out)
		}
	}
	// A card payment is at least twelve deliveries (code, payment, and the saga's consume, reserve,
	// debit, credit and use with their five replies), one activation (its coordinator) and five
	// durable writes.
	per := regexp.MustCompile(`(?m)^per operation during the run: ([0-9.]+) deliveries to entities, ([0-9.]+) activations, ([0-9.]+) Badger reads, ([0-9.]+) durable writes of ([0-9.]+) entries$`).FindStringSubmatch(out)
	if per == nil {
		t.Fatalf("output lacks the per-operation line:\n%s", out)
	}
	f := func(i int) float64 { v, _ := strconv.ParseFloat(per[i], 64); return v }
	if f(1) < 12 || f(2) < 1 || f(4) < 5 || f(5) < f(4) {
		t.Errorf("per operation: %v messages, %v activations, %v writes of %v entries; want at least 12, 1, 5 and as many entries as writes", f(1), f(2), f(4), f(5))
	}
	// The JSON result carries the same figures.
	lines := strings.Split(strings.TrimSpace(out), "\n")
	res := map[string]any{}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatal(err)
	}
	for i, field := range map[int]string{1: "deliveries_per_op", 2: "activations_per_op", 3: "badger_reads_per_op", 4: "writes_per_op", 5: "entries_per_op"} {
		if v, ok := res[field].(float64); !ok || math.Abs(v-f(i)) > 0.051 {
			t.Errorf("JSON %s = %v, the line says %v", field, res[field], f(i))
		}
	}
	if v, _ := res["cpu_us_per_op"].(float64); runtime.GOOS == "linux" && v <= 0 {
		t.Errorf("JSON cpu_us_per_op = %v", res["cpu_us_per_op"])
	}
}

// TestBench_TraceAndProfileOfTheRun: --trace and --cpuprofile record the timed run to their files.
func TestBench_TraceAndProfileOfTheRun(t *testing.T) {
	dir := t.TempDir()
	tracePath, profilePath := filepath.Join(dir, "run.trace"), filepath.Join(dir, "run.pprof")
	var stdout, stderr strings.Builder
	code := Main{Stdout: &stdout, Stderr: &stderr}.Run(context.Background(), []string{"bench", "--data", filepath.Join(dir, "data"),
		"--duration", "300ms", "--concurrency", "2", "--accounts", "4", "--merchants", "1", "--cards-per-user", "1", "--no-progress-bar",
		"--trace", tracePath, "--cpuprofile", profilePath})
	if code != ExitOK {
		t.Fatalf("exit %d: %s\n%s", code, stderr.String(), stdout.String())
	}
	tr, err := os.ReadFile(tracePath)
	if err != nil {
		t.Fatal(err)
	}
	// An execution trace begins with its format's header, "go 1.NN trace", and holds the run's events.
	if !regexp.MustCompile(`^go 1\.\d+ trace\x00`).Match(tr) || len(tr) < 1<<10 {
		t.Errorf("trace file: %d bytes beginning %q; want a Go execution trace", len(tr), tr[:min(len(tr), 16)])
	}
	pf, err := os.ReadFile(profilePath)
	if err != nil {
		t.Fatal(err)
	}
	if len(pf) < 2 || pf[0] != 0x1f || pf[1] != 0x8b { // pprof profiles are gzipped protobufs
		t.Errorf("cpu profile: %d bytes, not gzipped", len(pf))
	}
	if stderr.Len() > 0 {
		t.Errorf("stderr: %s", stderr.String())
	}
}
