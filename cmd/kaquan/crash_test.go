package main

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the kaquan command when this variable is set, so the crash test can
// run a real child process and kill it.
const childEnv = "KAQUAN_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(runProcess(os.Args[1:])) // as main: SIGTERM stops it gracefully
	}
	os.Exit(m.Run())
}

// TestCrash_PaymentsSurviveSIGKILL runs payments in a child process with an ack log, kills it with
// SIGKILL at random moments, and after every kill checks that recovery leaves no payment half-done,
// that conservation and every ledger hold, and that every acknowledged payment is complete.
func TestCrash_PaymentsSurviveSIGKILL(t *testing.T) {
	crashLoop(t, "payments", 20)
}

// TestCrash_GiftsSurviveSIGKILL does the same during a stream of gifts with images: after every
// kill each card is in exactly one wallet, its library is a chain ending with its owner, and every
// acknowledged gift is in its card's library.
func TestCrash_GiftsSurviveSIGKILL(t *testing.T) {
	crashLoop(t, "gifts", 10)
}

// TestCrash_PoolsSurviveSIGKILL does the same while contacts claim from a pool and merchants
// confirm uses: every acknowledged claim holds, and every acknowledged reward is settled (a reward
// cut off between its confirmation and its cards is settled at the next Open, once).
func TestCrash_PoolsSurviveSIGKILL(t *testing.T) {
	crashLoop(t, "pools", 10)
}

func crashLoop(t *testing.T, scenario string, kills int) {
	if testing.Short() {
		t.Skip("crash test runs child processes")
	}
	dir := t.TempDir()
	data, acks := filepath.Join(dir, "data"), filepath.Join(dir, "acks.log")
	// An empty ack log: a child killed before it acknowledged anything leaves nothing to check.
	if err := os.WriteFile(acks, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	recovered := 0 // kills after which Open found work cut off mid-way (and finished or undid it)
	for i := range kills {
		child := exec.Command(os.Args[0], "bench", "--scenario", scenario, "--data", data, "--duration", "60s", "--concurrency", "16",
			"--accounts", "200", "--merchants", "4", "--cards-per-user", "1", "--ack-log", acks)
		child.Env = append(os.Environ(), childEnv+"=1")
		var out bytes.Buffer
		child.Stdout, child.Stderr = &out, &out
		if err := child.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill at a random moment: mostly in the payment stream (once new acks appear), sometimes
		// earlier, in start-up, recovery or setup.
		if rng.IntN(4) > 0 {
			waitForGrowth(t, acks, 60*time.Second) // start-up and setup take 7-8 s under -race on an idle machine
			time.Sleep(time.Duration(rng.IntN(400)) * time.Millisecond)
		} else {
			time.Sleep(time.Duration(50+rng.IntN(1000)) * time.Millisecond)
		}
		if err := child.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		err := child.Wait()
		if ws, ok := child.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("kill %d: child ended by itself (%v) before SIGKILL:\n%s", i, err, out.String())
		}
		var audit bytes.Buffer
		if code := (Main{Stdout: &audit, Stderr: &audit}).Run(context.Background(),
			[]string{"audit", "-v", "--data", data, "--expect-acks", acks}); code != ExitOK {
			t.Fatalf("kill %d: audit exit %d:\n%s\nchild output:\n%s", i, code, audit.String(), out.String())
		}
		if strings.Contains(audit.String(), "recovering interrupted payments") || strings.Contains(audit.String(), "settling pending rewards") {
			recovered++
		}
		t.Logf("kill %d: %s", i, lastLine(audit.String()))
	}
	keys, err := readAcks(acks)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) < 100 {
		t.Fatalf("only %d %s were acknowledged over %d runs: the test did not exercise them", len(keys), scenario, kills)
	}
	t.Logf("%d acknowledged %s checked after %d kills; %d kills cut work off mid-way", len(keys), scenario, kills, recovered)
}

// waitForGrowth waits (bounded) until the file at path grows.
func waitForGrowth(t *testing.T, path string, limit time.Duration) {
	t.Helper()
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			return 0
		}
		return fi.Size()
	}
	start := size()
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if size() > start {
			return
		}
	}
	t.Fatalf("no payment acknowledged within %s", limit)
}

// lastLine is the audit's verdict (log lines come first).
func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	return s[strings.LastIndexByte(s, '\n')+1:]
}
