package kaquan

import (
	"bufio"
	"encoding/json"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kaquan/kaquan/actors/node/nodetest"
)

// clusterChildEnv makes TestClusterNodeChild, in a child process, a cluster node's engine.
const clusterChildEnv = "KAQUAN_CLUSTER_TEST_CHILD"

// clusterChild is what a child engine is told.
type clusterChild struct {
	Node, Nodes, Slots int
	Peers              []string
	Dir                string
}

// TestCluster_TwoEngines opens two engines with Options.Cluster and peers, each in a process of
// its own (protoactor's remote cannot run twice in one process under -race, see nodetest): they
// form a cluster (each places the other through its Placement), the first leaves on Close, and
// the second sees it go.
func TestCluster_TwoEngines(t *testing.T) {
	if os.Getenv(clusterChildEnv) != "" {
		t.Skip("a child")
	}
	ports := nodetest.PeerPorts(t, 2, ClusterHealthPortOffsetDefault)
	peers := []string{"127.0.0.1:" + strconv.Itoa(ports[0]), "127.0.0.1:" + strconv.Itoa(ports[1])}
	var nodes []*nodetest.Child
	for i := range peers {
		cfg, _ := json.Marshal(clusterChild{Node: i, Nodes: 2, Slots: 8, Peers: peers, Dir: t.TempDir()})
		nodes = append(nodes, nodetest.Start(t, "engine "+strconv.Itoa(i), "^TestClusterNodeChild$", clusterChildEnv+"="+string(cfg)))
	}
	for _, n := range nodes {
		n.Expect(t, "open", 30*time.Second)
	}
	for _, n := range nodes {
		n.Do(t, "wait 2")
		if got := n.Expect(t, "placed", 30*time.Second); got != "placed 2" {
			t.Fatalf("%s: %s", n.Name, got)
		}
	}
	nodes[0].Do(t, "quit")
	if got := nodes[0].Expect(t, "closed", 30*time.Second); got != "closed <nil>" {
		t.Errorf("%s: %s", nodes[0].Name, got)
	}
	nodes[1].Do(t, "wait 1")
	if got := nodes[1].Expect(t, "placed", 30*time.Second); got != "placed 1" {
		t.Errorf("%s after the other closed: %s", nodes[1].Name, got)
	}
	nodes[1].Do(t, "quit")
	if got := nodes[1].Expect(t, "closed", 30*time.Second); got != "closed <nil>" {
		t.Errorf("%s: %s", nodes[1].Name, got)
	}
}

// TestClusterNodeChild is one engine of TestCluster_TwoEngines, in a child process: it opens,
// says "open", and obeys "wait <n>" (until its placement reaches n nodes) and "quit" (Close).
func TestClusterNodeChild(t *testing.T) {
	raw := os.Getenv(clusterChildEnv)
	if raw == "" {
		t.Skip("run by TestCluster_TwoEngines")
	}
	var c clusterChild
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		t.Fatal(err)
	}
	clusterRefresh = 100 * time.Millisecond
	opts := DefaultOptions()
	opts.Logger = slog.New(slog.DiscardHandler)
	opts.Cluster = &ClusterOptions{Node: c.Node, Nodes: c.Nodes, Slots: c.Slots, Peers: c.Peers}
	e, err := Open(c.Dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	nodetest.Say("open")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		switch {
		case len(f) == 2 && f[0] == "wait":
			want, _ := strconv.Atoi(f[1])
			deadline := time.Now().Add(20 * time.Second)
			for len(e.node.Placement.Reachable()) != want && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			nodetest.Say("placed %d", len(e.node.Placement.Reachable()))
		case len(f) == 1 && f[0] == "quit":
			nodetest.Say("closed %v", e.Close())
			return
		}
	}
	t.Error("stdin closed without quit")
	e.Close()
}
