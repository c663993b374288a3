package node

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/test"
	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/actors/node/nodetest"
	"github.com/kaquan/kaquan/actors/slot"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
)

// Transport tests run every node in a process of its own, a child of the test binary: protoactor's
// remote.Start sets grpc's global logger (grpclog.SetLoggerV2) on every start, unsynchronized
// with the grpc goroutines of any remote already running, so two remotes in one process are a
// data race under -race. One node per process is also the real deployment, with automanaged.
const childEnv = "KAQUAN_NODE_TEST_CHILD"

func TestMain(m *testing.M) {
	if cfg := os.Getenv(childEnv); cfg != "" {
		os.Exit(runChild(cfg))
	}
	os.Exit(m.Run())
}

// childConfig is what a child node is told, in childEnv.
type childConfig struct {
	Ordinal   uint32
	Slots     uint32
	Nodes     uint32
	Peers     []string
	Dir       string
	RefreshMs int
	Chaos     *Chaos
	InMemory  bool // membership on protoactor's in-memory provider, which the child can leave ("vanish")
}

// runChild is a node in a child process: it starts, prints "ready", prints every message its
// accounts receive ("recv ..."), and obeys commands read from stdin, one a line.
func runChild(raw string) int {
	var cfg childConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "child config:", err)
		return 2
	}
	say := nodetest.Say
	got := make(chan received, 1024)
	l := slot.Layout{Slots: cfg.Slots, Nodes: cfg.Nodes}
	var agent *test.InMemAgent
	var provider cluster.ClusterProvider
	if cfg.InMemory {
		agent = test.NewInMemAgent()
		provider = test.NewTestProvider(agent)
	}
	n, closeAll, err := buildNode(cfg.Dir, l, cfg.Ordinal, cfg.Peers, time.Duration(cfg.RefreshMs)*time.Millisecond, cfg.Chaos, got,
		func(err error) { fmt.Fprintln(os.Stderr, "fatal:", err) }, provider, func(err error) { say("fenced %v", err) })
	if err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		return 2
	}
	go func() {
		for r := range got {
			switch m := r.msg.(type) {
			case *messages.Post:
				say("recv %d %d Post %s", r.node, r.to.Num, m.Transfer)
			case *messages.Posted:
				say("recv %d %d Posted %d", r.node, r.to.Num, m.Seq)
			default:
				say("recv %d %d %T", r.node, r.to.Num, m)
			}
		}
	}()
	if err := n.node.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "start:", err)
		return 2
	}
	say("ready")
	release := make(chan struct{})
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "wait": // wait <members>: until the placement reaches that many nodes
			want, _ := strconv.Atoi(f[1])
			deadline := time.Now().Add(20 * time.Second)
			for len(n.node.Placement.Reachable()) != want && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			say("placed %d", len(n.node.Placement.Reachable()))
		case "send": // send <account> <transfer> <counter account>
			acct, _ := strconv.ParseUint(f[1], 10, 64)
			counter, _ := strconv.ParseUint(f[3], 10, 64)
			n.host.Sender.Send(actors.AccountID(acct), &messages.Post{Transfer: f[2], CounterAccount: counter}, nil)
		case "hold": // a write whose completion is held until "release": no later write completes
			held := make(chan struct{})
			err := n.writer.Submit(&persistence.Write{Entries: []persistence.Entry{{Key: persistence.MarkerKey("test-held"), Value: []byte{1}}},
				Done: func(error) { close(held); <-release }})
			if err != nil {
				fmt.Fprintln(os.Stderr, "hold:", err)
				return 2
			}
			<-held
			say("held")
		case "vanish": // this member leaves the in-memory agent: its own topology no longer has it
			agent.DeregisterService(n.host.System.ID)
		case "release":
			close(release)
		case "stats":
			in, _ := n.node.Placement.selfSince()
			b, _ := json.Marshal(childStats{Sender: n.node.Sender.Stats(), Gateway: n.node.Gateway.Stats(), Active: n.host.Router.Active(), SelfIn: in})
			say("stats %s", b)
		case "quit":
			if err := closeAll(); err != nil {
				fmt.Fprintln(os.Stderr, "close:", err)
				return 2
			}
			say("bye")
			return 0
		}
	}
	return 3
}

type childStats struct {
	Sender  SenderStats
	Gateway GatewayStats
	Active  int64
	SelfIn  bool // this node's member is in its latest topology
}

// startChildren starts the given ordinals of layout l, each in a child process on automanaged
// membership, and waits until every one places every started node. The others are never started.
func startChildren(t *testing.T, l slot.Layout, ordinals []uint32, chaos *Chaos) []*child {
	return startChildrenOn(t, l, ordinals, chaos, false)
}

// startChildrenOn is startChildren, on the in-memory provider if inMemory (each child its own).
func startChildrenOn(t *testing.T, l slot.Layout, ordinals []uint32, chaos *Chaos, inMemory bool) []*child {
	t.Helper()
	peers := make([]string, l.Nodes)
	for i, p := range nodetest.PeerPorts(t, int(l.Nodes), 1) {
		peers[i] = "127.0.0.1:" + strconv.Itoa(p)
	}
	var children []*child
	for _, o := range ordinals {
		cfg, _ := json.Marshal(childConfig{Ordinal: o, Slots: l.Slots, Nodes: l.Nodes, Peers: peers, Dir: t.TempDir(), RefreshMs: 100, Chaos: chaos, InMemory: inMemory})
		c := nodetest.Start(t, fmt.Sprint("node ", o), "^$", childEnv+"="+string(cfg))
		children = append(children, &child{Child: c, ordinal: o})
	}
	for _, c := range children {
		c.Expect(t, "ready", 20*time.Second)
	}
	for _, c := range children {
		c.Do(t, "wait "+strconv.Itoa(len(ordinals)))
		if got := c.Expect(t, "placed", 25*time.Second); got != "placed "+strconv.Itoa(len(ordinals)) {
			t.Fatalf("node %d: %s, want %d nodes", c.ordinal, got, len(ordinals))
		}
	}
	return children
}

// child is a node in a child process.
type child struct {
	*nodetest.Child
	ordinal uint32
}

// stats asks the child for its counters.
func (c *child) stats(t *testing.T) childStats {
	t.Helper()
	c.Do(t, "stats")
	line := c.Expect(t, "stats ", 10*time.Second)
	var s childStats
	if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "stats ")), &s); err != nil {
		t.Fatal(err)
	}
	return s
}
