package persistence

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// crashChildEnv makes the test binary the child of TestWriter_SIGKILLBeforeApply: it writes into
// the folder named, prints each acknowledged key, and waits to be killed.
const crashChildEnv = "KAQUAN_PERSISTENCE_CRASH_DIR"

// crashValue is the value the child writes under key: every fifth is 4 KiB, so it lives in
// Badger's value log rather than its tree.
func crashValue(key string) []byte {
	n := 16
	if strings.HasSuffix(key, "0") || strings.HasSuffix(key, "5") {
		n = 4 << 10
	}
	return bytes.Repeat([]byte(key[len(key)-1:]), n)
}

// TestWriter_SIGKILLBeforeApply kills a real process (SIGKILL) whose acknowledged writes are in the
// commit log but not yet in Badger (its applier is held), twice on one folder, and checks that
// every acknowledged write is there after reopening: the replay, not Badger, made them durable.
func TestWriter_SIGKILLBeforeApply(t *testing.T) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(t, dir, os.Getenv(crashChildEnv+"_ROUND"))
		return
	}
	if testing.Short() {
		t.Skip("starts child processes")
	}
	dir := t.TempDir()
	var acked []string
	for round := range 2 {
		child := exec.Command(os.Args[0], "-test.run=^TestWriter_SIGKILLBeforeApply$", "-test.v")
		child.Env = append(os.Environ(), crashChildEnv+"="+dir, crashChildEnv+"_ROUND="+strconv.Itoa(round))
		out, err := child.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		child.Stderr = &stderr
		if err := child.Start(); err != nil {
			t.Fatal(err)
		}
		// Round 0 is killed once everything is acknowledged, round 1 at a random acknowledgement
		// while the applier is held.
		killAfter := -1
		if round == 1 {
			killAfter = rand.IntN(40)
		}
		lines := make(chan string)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()
		held := 0
		timeout := time.After(60 * time.Second)
	read:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("round %d: child ended before it was killed: %v\n%s", round, child.Wait(), stderr.String())
				}
				switch {
				case strings.HasPrefix(l, "ack "):
					acked = append(acked, strings.TrimPrefix(l, "ack "))
					if strings.Contains(l, "/held/") {
						held++
						if held == killAfter {
							break read
						}
					}
				case l == "all acknowledged":
					break read
				}
			case <-timeout:
				t.Fatalf("round %d: no progress from the child:\n%s", round, stderr.String())
			}
		}
		if err := child.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = child.Wait()
		if held == 0 {
			t.Fatalf("round %d: killed before any write was acknowledged with the applier held", round)
		}
		s, err := Open(dir, DurabilitySync, testLogger())
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		for _, k := range acked {
			v, err := s.Get([]byte(k))
			if err != nil || !bytes.Equal(v, crashValue(k)) {
				s.Close()
				t.Fatalf("round %d: acknowledged %s after SIGKILL: %d bytes, %v", round, k, len(v), err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// crashChild writes 100 keys with the applier running, then 50 more with the applier held, printing
// each key once acknowledged; then it waits for its SIGKILL.
func crashChild(t *testing.T, dir, round string) {
	go func() { time.Sleep(2 * time.Minute); os.Exit(3) }() // never outlive a lost parent
	w := startWriter(t, openTestStore(t, dir, DurabilitySync), DefaultWriterConfig())
	write := func(phase string, i int) {
		k := fmt.Sprintf("crash/%s/%s/%d", round, phase, i)
		if err := submitWait(t, w, Entry{Key: []byte(k), Value: crashValue(k)}); err != nil {
			t.Fatal(err)
		}
		fmt.Printf("ack %s\n", k)
	}
	for i := range 100 {
		write("applied", i)
	}
	gate := make(chan struct{})
	w.holdApplier(gate)
	for i := range 50 { // below the applier's lag bound of 64 batches
		write("held", i)
	}
	fmt.Println("all acknowledged")
	select {}
}
