package nodetest

import (
	"os/exec"
	"testing"
)

func TestRaces(t *testing.T) {
	const theirs = `==================
WARNING: DATA RACE
Read at 0x00c000106728 by goroutine 130:
  runtime.mapaccess2_faststr()
      /usr/local/go/src/internal/runtime/maps/runtime_faststr.go:161 +0x0
  github.com/asynkron/gofun/set.(*ImmutableSet[go.shape.string]).Contains()
  github.com/asynkron/protoactor-go/remote.(*BlockList).IsBlocked()
  github.com/kaquan/kaquan/actors/node.(*Member).watch()
      /x/member.go:182 +0x2c8

Previous write at 0x00c000106728 by goroutine 211:
  github.com/asynkron/protoactor-go/remote.(*BlockList).Block()

Goroutine 130 (running) created at:
  github.com/kaquan/kaquan/actors/node.Start()
==================
`
	const ours = `==================
WARNING: DATA RACE
Write at 0x00c000106728 by goroutine 1:
  github.com/kaquan/kaquan/actors/node.(*Sender).enqueue()
      /x/sender.go:1 +0x2c8

Previous read at 0x00c000106728 by goroutine 2:
  github.com/kaquan/kaquan/actors/node.(*Sender).pump()
==================
`
	o, th := Races("noise\n" + theirs + ours + theirs)
	if len(o) != 1 || len(th) != 2 {
		t.Errorf("ours %d, theirs %d; want 1, 2", len(o), len(th))
	}
	if o, th := Races("no race here"); len(o)+len(th) != 0 {
		t.Errorf("found races in none")
	}
}

func TestRaceExit(t *testing.T) {
	cmd := exec.Command("sh", "-c", "exit 1")
	err := cmd.Run()
	for _, tc := range []struct {
		stdout string
		want   bool
	}{
		{"--- FAIL: TestX (1.00s)\n    testing.go:1712: race detected during execution of test\nFAIL\n", true},
		{"--- FAIL: TestX (1.00s)\n    testing.go:1712: race detected during execution of test\n    x_test.go:12: boom\n", false},
		{"FAIL\n", false},
	} {
		if got := raceExit(err, tc.stdout); got != tc.want {
			t.Errorf("%q: got %v, want %v", tc.stdout, got, tc.want)
		}
	}
	if raceExit(nil, "") {
		t.Error("no error is a race exit")
	}
}
