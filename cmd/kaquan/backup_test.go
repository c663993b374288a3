package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// run runs one kaquan command in this process and returns its exit code and output.
func run(args ...string) (code int, stdout, stderr string) {
	var out, errs strings.Builder
	code = Main{Stdout: &out, Stderr: &errs}.Run(context.Background(), args)
	return code, out.String(), errs.String()
}

// TestBackup_OfAFolderRestoresAndAudits: `kaquan backup` of a data folder and `kaquan restore` of
// the file give a folder that audits clean; a cut file or a folder in use is refused, and an
// existing file is never overwritten.
func TestBackup_OfAFolderRestoresAndAudits(t *testing.T) {
	dir := t.TempDir()
	data, file := filepath.Join(dir, "data"), filepath.Join(dir, "kaquan.backup")
	if code, out, errs := run("demo", "--data", data); code != ExitOK {
		t.Fatalf("demo: exit %d: %s\n%s", code, errs, out)
	}
	code, out, errs := run("backup", "--data", data, "--out", file)
	if code != ExitOK || !strings.Contains(out, "records") {
		t.Fatalf("backup: exit %d: %s\n%s", code, errs, out)
	}
	restored := filepath.Join(dir, "restored")
	code, out, errs = run("restore", "--data", restored, "--from", file)
	if code != ExitOK || !strings.Contains(out, "audit OK") || !strings.Contains(out, "payments map[COMPLETED:2") {
		t.Fatalf("restore: exit %d: %s\n%s", code, errs, out)
	}
	if code, _, _ := run("restore", "--data", restored, "--from", file); code != ExitFailure {
		t.Errorf("restore into a folder that holds data: exit %d, want %d", code, ExitFailure)
	}
	if code, _, _ := run("backup", "--data", data, "--out", file); code != ExitFailure {
		t.Errorf("backup over an existing file: exit %d, want %d", code, ExitFailure)
	}
	whole, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.backup")
	if err := os.WriteFile(cut, whole[:len(whole)*2/3], 0o600); err != nil {
		t.Fatal(err)
	}
	elsewhere := filepath.Join(dir, "from-cut")
	if code, _, errs := run("restore", "--data", elsewhere, "--from", cut); code != ExitFailure || !strings.Contains(errs, "backup damaged") {
		t.Errorf("restore of a cut backup: exit %d, %s", code, errs)
	}
	if _, err := os.Stat(elsewhere); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused restore left %s", elsewhere)
	}
}

// TestBackup_OfARunningServer: `kaquan backup --server` takes the backup of a running server
// through GET /admin/backup (admins only); it restores and audits clean.
func TestBackup_OfARunningServer(t *testing.T) {
	dir := t.TempDir()
	addr, _ := startServe(t, filepath.Join(dir, "data"))
	url := "http://" + addr
	code, out, errs := run("bench", "--target", url, "--token", testAdminToken, "--duration", "500ms",
		"--concurrency", "4", "--accounts", "20", "--merchants", "2", "--cards-per-user", "1", "--no-progress-bar")
	if code != ExitOK {
		t.Fatalf("bench: exit %d: %s\n%s", code, errs, out)
	}
	file := filepath.Join(dir, "server.backup")
	if code, _, errs := run("backup", "--server", url, "--token", strings.Repeat("0", 64), "--out", file); code != ExitFailure || !strings.Contains(errs, "401") {
		t.Errorf("backup with a token the server does not know: exit %d, %s", code, errs)
	}
	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused backup left %s", file)
	}
	if code, out, errs := run("backup", "--server", url, "--token", testAdminToken, "--out", file); code != ExitOK {
		t.Fatalf("backup: exit %d: %s\n%s", code, errs, out)
	}
	code, out, errs = run("restore", "--data", filepath.Join(dir, "restored"), "--from", file)
	if code != ExitOK || !strings.Contains(out, "audit OK: 22 accounts") { // the bench's 20 users and 2 merchants
		t.Fatalf("restore: exit %d: %s\n%s", code, errs, out)
	}
}
