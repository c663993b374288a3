//go:build unix

package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/grpchealth"
	"github.com/kaquan/kaquan/actors/node/nodetest"
)

// servedNode is one `kaquan serve` node of a cluster, as a child process.
type servedNode struct {
	args   []string
	env    []string
	cmd    *exec.Cmd
	done   chan int
	output *syncBuffer
}

func (n *servedNode) start(t *testing.T) {
	t.Helper()
	n.cmd = exec.Command(os.Args[0], n.args...)
	n.cmd.Env = n.env
	n.cmd.Stdout, n.cmd.Stderr = n.output, n.output
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n.done = make(chan int, 1)
	go func(c *exec.Cmd, done chan int) { done <- exitCode(c.Wait()) }(n.cmd, n.done)
}

// TestCluster_KillNodeMidLoad runs three `kaquan serve` nodes and the payments bench spread over
// them, SIGKILLs the node in the middle of the load and starts it again on the same folder and
// ports: the bench goes on through the outage (calls refused unavailable), the payments caught in
// it complete or are undone once the node is back, and the cluster audit of the three folders
// holds, with every acknowledged payment complete.
func TestCluster_KillNodeMidLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("runs child processes")
	}
	const nodes = 3
	dir := t.TempDir()
	base := freePortRange(t, nodes)
	token := strings.Repeat("5a", 32)
	var peers, urls []string
	for i := range nodes {
		peers = append(peers, "127.0.0.1:"+strconv.Itoa(base+peerPortOffset+2*i))
		urls = append(urls, "http://127.0.0.1:"+strconv.Itoa(base+i))
	}
	var ns []*servedNode
	for i := range nodes {
		n := &servedNode{output: &syncBuffer{},
			args: []string{"serve", "--data", filepath.Join(dir, fmt.Sprint("node-", i)), "--listen", strings.TrimPrefix(urls[i], "http://"),
				"--node", strconv.Itoa(i), "--cluster", strings.Join(peers, ",")},
			env: append(os.Environ(), childEnv+"=1", "KAQUAN_ADMIN_TOKEN="+token, "GORACE=exitcode=0")}
		n.start(t)
		ns = append(ns, n)
	}
	t.Cleanup(func() {
		for _, n := range ns {
			_ = n.cmd.Process.Kill()
		}
	})
	serving := func(i int) {
		t.Helper()
		for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			res, err := grpchealth.NewClient(http.DefaultClient, urls[i]).Check(context.Background(), &grpchealth.CheckRequest{})
			if err == nil && res.Status == grpchealth.StatusServing {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %d does not serve: %v\n%s", i, err, ns[i].output.String())
			}
		}
	}
	for i := range nodes {
		serving(i)
	}
	acks := filepath.Join(t.TempDir(), "acks")
	type result struct {
		code           int
		stdout, stderr string
	}
	benched := make(chan result, 1)
	go func() {
		var r result
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(500 * time.Millisecond) { // until the nodes see each other
			r.code, r.stdout, r.stderr = run("bench", "--target", strings.Join(urls, ","), "--token", token, "--duration", "8s",
				"--accounts", "60", "--merchants", "6", "--cards-per-user", "1", "--concurrency", "8", "--no-progress-bar", "--ack-log", acks)
			if r.code == ExitOK || time.Now().After(deadline) || !strings.Contains(r.stdout+r.stderr, "setup") {
				break
			}
		}
		benched <- r
	}()
	// Kill node 1 once payments are acknowledged, and start it again a second later.
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if b, _ := os.ReadFile(acks); strings.Count(string(b), "\n") >= 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no payments acknowledged")
		}
	}
	if err := ns[1].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-ns[1].done
	time.Sleep(time.Second)
	ns[1].start(t)
	serving(1)
	r := <-benched
	if r.code != ExitOK || !strings.Contains(r.stdout, "crossed nodes") {
		t.Fatalf("bench: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	t.Logf("bench: %s", strings.TrimSpace(r.stdout[strings.LastIndex(r.stdout, "setup"):]))
	// The payments caught in the outage resend their steps until node 1 answers (1 s, doubling).
	time.Sleep(10 * time.Second)
	for i, n := range ns {
		if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case code := <-n.done:
			if code != ExitOK {
				t.Errorf("node %d exit %d\n%s", i, code, n.output.String())
			}
		case <-time.After(time.Minute):
			t.Fatalf("node %d did not stop", i)
		}
		if ours, _ := nodetest.Races(n.output.String()); len(ours) > 0 {
			t.Errorf("node %d: a data race in kaquan's code:\n%s", i, strings.Join(ours, "\n"))
		}
	}
	audit := []string{"audit", "--expect-acks", acks}
	for i := range nodes {
		audit = append(audit, "--data", filepath.Join(dir, fmt.Sprint("node-", i)))
	}
	if code, out, errs := run(audit...); code != ExitOK || !strings.Contains(out, "cluster audit OK") {
		t.Fatalf("cluster audit: exit %d\n%s\n%s", code, out, errs)
	}
}
