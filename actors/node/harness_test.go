package node

import (
	"errors"
	"log/slog"

	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/actors/slot"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
)

// received is one message an account behavior took, on the node it lives on.
type received struct {
	node uint32
	to   actors.ID
	msg  any
}

// recorder is a test account: it records every message it receives, and answers a Post by
// identity, with a Posted to the account the Post names as its counter account.
type recorder struct {
	node uint32
	got  chan<- received
}

func (r *recorder) Busy() bool   { return false }
func (r *recorder) Absent() bool { return false } // stays in memory: Active counts it

func (r *recorder) Receive(c *actors.Context, msg any) {
	if _, ok := msg.(*actors.Call); ok {
		return
	}
	r.got <- received{node: r.node, to: c.ID(), msg: msg}
	if p, ok := msg.(*messages.Post); ok {
		c.Host().Sender.Send(actors.AccountID(p.CounterAccount), &messages.Posted{Seq: uint64(len(p.Transfer))}, nil)
	}
}

// testNode is one node of an in-process test cluster: a real store and writer in its own folder,
// an actor system with a Router whose accounts are recorders, and the node's transport.
type testNode struct {
	ordinal uint32
	host    *actors.Host
	writer  *persistence.Writer
	node    *Node
}

// quietSystem is an actor system that logs nothing.
func quietSystem() *actor.ActorSystem {
	return actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return discard() }))
}

// buildNode builds node ordinal of layout l on a store in dir (not started), on automanaged
// membership unless provider is set. close stops the node and closes its writer and store.
func buildNode(dir string, l slot.Layout, ordinal uint32, peers []string, refresh time.Duration, chaos *Chaos, got chan<- received, fatal func(error), provider cluster.ClusterProvider, fenced func(error)) (*testNode, func() error, error) {
	store, err := persistence.Open(dir, persistence.DurabilitySync, discard())
	if err != nil {
		return nil, nil, err
	}
	writer, err := persistence.NewWriter(store, persistence.DefaultWriterConfig())
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	h := &actors.Host{
		System: quietSystem(), Store: store, Writer: writer, Logger: discard(), Fatal: fatal,
		Settings: actors.Settings{IdleTimeout: time.Minute, Now: func() int64 { return time.Now().UnixNano() }},
		Producers: map[actors.Kind]actors.Producer{
			actors.KindAccount: func(actors.ID, *actors.Host) (actors.Behavior, error) { return &recorder{node: ordinal, got: got}, nil },
		},
	}
	h.Router = actors.NewRouter(h)
	cfg := Config{Node: slot.Node{Layout: l, Ordinal: ordinal}, Peers: peers, Name: "test", HealthPortOffset: 1,
		Refresh: refresh, Logger: discard(), Provider: provider, Fenced: fenced}
	n, err := New(h, cfg, chaos)
	if err != nil {
		writer.Close()
		store.Close()
		return nil, nil, err
	}
	h.Sender = n.Sender
	closeAll := func() error {
		n.Stop()
		werr := writer.Close()
		return errors.Join(werr, store.Close())
	}
	return &testNode{ordinal: ordinal, host: h, writer: writer, node: n}, closeAll, nil
}

// newTestNode is buildNode in a test's temporary folder, closed at the test's end.
func newTestNode(t testing.TB, l slot.Layout, ordinal uint32, peers []string, chaos *Chaos, got chan<- received) *testNode {
	t.Helper()
	n, closeAll, err := buildNode(t.TempDir(), l, ordinal, peers, 100*time.Millisecond, chaos, got,
		func(err error) { t.Errorf("node %d: fatal: %v", ordinal, err) }, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := closeAll(); err != nil {
			t.Errorf("node %d: close: %v", ordinal, err)
		}
	})
	return n
}

func waitFor(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for: %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// next waits for the next message received, at most limit.
func next(t *testing.T, got <-chan received, limit time.Duration) received {
	t.Helper()
	select {
	case r := <-got:
		return r
	case <-time.After(limit):
		t.Fatalf("nothing received in %s", limit)
		return received{}
	}
}
