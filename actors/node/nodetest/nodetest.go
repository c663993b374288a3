// Package nodetest runs cluster nodes in child processes of a test binary, for tests only.
//
// Every node runs in a process of its own: protoactor-go's remote.Start sets grpc's global
// logger (grpclog.SetLoggerV2) on every start, unsynchronized with the grpc goroutines of any
// remote already running, so two remotes in one process are a data race under -race; and
// automanaged keeps package-level state. One node per process is also how nodes are deployed.
//
// A child speaks a line protocol: what it says starts with "@" (other output, such as Echo's
// "http server started", is ignored); lines starting "@recv " are messages its entities received,
// every other line answers a command the test wrote to its stdin.
package nodetest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var sayMu sync.Mutex

// Say prints one protocol line of a child (safe for concurrent use).
func Say(format string, args ...any) {
	sayMu.Lock()
	defer sayMu.Unlock()
	fmt.Printf("@"+format+"\n", args...)
}

// Child is a node running in a child process, seen from the test.
type Child struct {
	Name   string
	cmd    *exec.Cmd
	in     io.WriteCloser
	recv   chan string
	resp   chan string
	stderr *syncBuffer
	other  *syncBuffer // stdout that is not the protocol (the testing package's report, say)
	exited chan error
	done   chan struct{} // closed once the process has exited
	err    error
	once   sync.Once
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Start runs the test binary again as a child, running the tests that match run ("^$": none, for a
// TestMain that recognises the child by env) with env added, and stops it at the test's end
// (Quit).
func Start(t testing.TB, name, run string, env ...string) *Child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run="+run, "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	c := &Child{Name: name, cmd: cmd, recv: make(chan string, 4096), resp: make(chan string, 64), stderr: &syncBuffer{}, other: &syncBuffer{},
		exited: make(chan error, 1), done: make(chan struct{})}
	cmd.Stderr = c.stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.in = in
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			line, ok := strings.CutPrefix(s.Text(), "@")
			switch {
			case !ok:
				fmt.Fprintln(c.other, s.Text())
			case strings.HasPrefix(line, "recv "):
				c.recv <- strings.TrimPrefix(line, "recv ")
			default:
				c.resp <- line
			}
		}
		c.err = cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() { c.Quit(t) })
	return c
}

// Do writes a command line to the child.
func (c *Child) Do(t testing.TB, line string) {
	t.Helper()
	if _, err := io.WriteString(c.in, line+"\n"); err != nil {
		t.Fatalf("%s: %v", c.Name, err)
	}
}

// Expect waits for the child's next answer, which must start with prefix.
func (c *Child) Expect(t testing.TB, prefix string, limit time.Duration) string {
	t.Helper()
	select {
	case line := <-c.resp:
		if !strings.HasPrefix(line, prefix) {
			t.Fatalf("%s: got %q, want %s...", c.Name, line, prefix)
		}
		return line
	case <-c.done:
		t.Fatalf("%s exited (%v) waiting for %s: %s", c.Name, c.err, prefix, c.stderr.String())
	case <-time.After(limit):
		t.Fatalf("%s: no %s in %s; stderr: %s", c.Name, prefix, limit, c.stderr.String())
	}
	return ""
}

// Received waits for the next message the child's entities received, at most limit.
func (c *Child) Received(t testing.TB, limit time.Duration) string {
	t.Helper()
	select {
	case r := <-c.recv:
		return r
	case <-time.After(limit):
		t.Fatalf("%s received nothing in %s", c.Name, limit)
		return ""
	}
}

// Quiet fails the test if the child's entities receive anything within d.
func (c *Child) Quiet(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case r := <-c.recv:
		t.Fatalf("%s received %q", c.Name, r)
	case <-time.After(d):
	}
}

// Quit asks the child to stop ("quit"), waits for it (killing it after 30 s), and fails the test
// if it exited badly or reported a data race in kaquan's code (Races). Idempotent.
func (c *Child) Quit(t testing.TB) {
	c.once.Do(func() {
		_, _ = io.WriteString(c.in, "quit\n")
		select {
		case <-c.done:
		case <-time.After(30 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.done
			t.Errorf("%s: killed after 30 s", c.Name)
		}
		stderr := c.stderr.String()
		ours, theirs := Races(stderr)
		for _, r := range ours {
			t.Errorf("%s: data race:\n%s", c.Name, r)
		}
		if len(theirs) > 0 {
			t.Logf("%s: %d data races inside protoactor-go, tolerated (see Races)", c.Name, len(theirs))
		}
		if c.err != nil && !(len(ours) == 0 && len(theirs) > 0 && raceExit(c.err, c.other.String())) {
			t.Errorf("%s: exit: %v; stdout: %s; stderr: %s", c.Name, c.err, c.other.String(), stderr)
		}
		if strings.Contains(stderr, "fatal:") || strings.Contains(stderr, "panic:") {
			t.Errorf("%s: %s", c.Name, stderr)
		}
	})
}

// raceExit reports an exit caused by the race detector alone: its status 66 (a child run from a
// TestMain), or status 1 with every failure in the testing package's report being its "race
// detected" (a child run as a test).
func raceExit(err error, stdout string) bool {
	e, ok := err.(*exec.ExitError)
	switch {
	case !ok:
		return false
	case e.ExitCode() == 66:
		return true
	case e.ExitCode() != 1:
		return false
	}
	raced := false
	for _, line := range strings.Split(stdout, "\n") {
		if m := failureLine.FindStringSubmatch(line); m != nil {
			if !strings.HasPrefix(m[1], "testing.go:") || !strings.Contains(line, "race detected during execution of test") {
				return false
			}
			raced = true
		}
	}
	return raced
}

// failureLine is a failure in the testing package's report: "    file.go:12: message".
var failureLine = regexp.MustCompile(`^\s+(\S+\.go:\d+): `)

var accessLine = regexp.MustCompile(`^\s*(Previous )?(read|write|Read|Write) at `)

// Races splits the race detector's reports in stderr into those where either racing access is
// made by kaquan's own code, the innermost frame past the runtime's (ours: a test failure), and
// those where both are made inside dependencies, kaquan's frames at most further out, as the
// callers (theirs). At the pinned protoactor-go: remote.BlockList reads its set without the lock
// Block writes under (gossip blocks while the provider diffs topologies), and
// endpointManager.stop races with its endpoints' events at Shutdown. Neither is kaquan's to fix.
func Races(stderr string) (ours, theirs []string) {
	for _, report := range strings.Split(stderr, "WARNING: DATA RACE")[1:] {
		report, _, _ = strings.Cut(report, "==================")
		first, kaquan := false, false // first: the next frame is an access's innermost
		for _, line := range strings.Split(report, "\n") {
			trimmed := strings.TrimSpace(line)
			switch {
			case accessLine.MatchString(line):
				first = true
			case !first || trimmed == "" || strings.HasPrefix(trimmed, "/") || strings.HasPrefix(trimmed, "runtime."):
			default:
				kaquan = kaquan || strings.HasPrefix(trimmed, "github.com/kaquan/kaquan")
				first = false
			}
		}
		if kaquan {
			ours = append(ours, report)
		} else {
			theirs = append(theirs, report)
		}
	}
	return ours, theirs
}

// PeerPorts returns n ports on 127.0.0.1, each free a moment ago together with the port offset
// above it (its health port).
func PeerPorts(t testing.TB, n, offset int) []int {
	t.Helper()
	var ports []int
	var open []net.Listener
	defer func() {
		for _, l := range open {
			l.Close()
		}
	}()
	for tries := 0; len(ports) < n; tries++ {
		if tries > 100 {
			t.Fatal("no free port pairs")
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, l)
		p := l.Addr().(*net.TCPAddr).Port
		if p+offset > 65535 {
			continue
		}
		h, err := net.Listen("tcp", ":"+strconv.Itoa(p+offset))
		if err != nil {
			continue
		}
		open = append(open, h)
		ports = append(ports, p)
	}
	return ports
}
