package node

import (
	"errors"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	"github.com/kaquan/kaquan/actors/slot"
)

// TestMember_WatchFencesOnlyAfterJoining: a node that has not yet seen itself in its topology
// (starting, its peers slow) waits however long that takes; one that was in it and drops out
// for FenceAfterRefreshes refreshes reports itself fenced, once.
func TestMember_WatchFencesOnlyAfterJoining(t *testing.T) {
	const refresh = 5 * time.Millisecond
	l := slot.Layout{Slots: 2, Nodes: 2}
	p := NewPlacement(l, "me", discard())
	fenced := make(chan error, 2)
	m := &Member{placement: p, stop: make(chan struct{}),
		cfg: Config{Refresh: refresh, Fenced: func(err error) { fenced <- err }, Logger: discard()}}
	m.watching.Add(1)
	go m.watch()
	defer func() { close(m.stop); m.watching.Wait() }()

	peer := clusterMember("peer", "127.0.0.1", 7001, slot.NodeKind(1))
	p.Observe(&cluster.ClusterTopology{Members: []*cluster.Member{peer}}) // not yet in it
	select {
	case err := <-fenced:
		t.Fatalf("fenced before it ever joined: %v", err)
	case <-time.After(4 * FenceAfterRefreshes * refresh):
	}
	p.Observe(&cluster.ClusterTopology{Members: []*cluster.Member{peer, clusterMember("me", "127.0.0.1", 7000, slot.NodeKind(0))}})
	time.Sleep(4 * refresh) // the watch sees it in
	left := time.Now()
	p.Observe(&cluster.ClusterTopology{Members: []*cluster.Member{peer}})
	select {
	case err := <-fenced:
		if !errors.Is(err, ErrFenced) {
			t.Errorf("fenced with %v, want ErrFenced", err)
		}
		if d := time.Since(left); d < FenceAfterRefreshes*refresh {
			t.Errorf("fenced %s after it left, before %d refreshes", d, FenceAfterRefreshes)
		}
	case <-time.After(time.Minute):
		t.Fatal("not fenced after it left its topology")
	}
}
