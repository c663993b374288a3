package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemo runs the README's first command twice on one folder: every step succeeds, both times.
func TestDemo(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	for run := range 2 {
		var out, errs bytes.Buffer
		if code := (Main{Stdout: &out, Stderr: &errs}).Run(context.Background(), []string{"demo", "--data", data}); code != ExitOK {
			t.Fatalf("run %d: exit %d: %s\n%s", run, code, errs.String(), out.String())
		}
		for _, want := range []string{"card takes 500 off, user pays 2500 -> PAYMENT_STATE_COMPLETED", "duplicate=true",
			"refused: payment code used", "library: 1 transfer(s)", "REWARD_STATE_GRANTED", "audit OK"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("run %d: output lacks %q:\n%s", run, want, out.String())
			}
		}
	}
}
