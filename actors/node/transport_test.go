package node

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kaquan/kaquan/actors/slot"
)

// In a layout of 4 slots over 2 nodes, accounts 0 and 2 live on node 0, accounts 1 and 3 on node 1.
var twoNodes = slot.Layout{Slots: 4, Nodes: 2}

func TestTransport_DeliveryAndReplyByIdentity(t *testing.T) {
	nodes := startChildren(t, twoNodes, []uint32{0, 1}, nil)
	n0, n1 := nodes[0], nodes[1]
	// Account 0 (node 0) posts to account 1 (node 1), whose answer comes back by identity: a
	// Posted for account 0, through node 1's Sender and node 0's gateway.
	n0.Do(t, "send 1 pay:7/a 0")
	if got, want := n1.Received(t, 10*time.Second), "1 1 Post pay:7/a"; got != want {
		t.Fatalf("node 1 received %q, want %q", got, want)
	}
	if got, want := n0.Received(t, 10*time.Second), fmt.Sprintf("0 0 Posted %d", len("pay:7/a")); got != want {
		t.Fatalf("node 0 received %q, want %q", got, want)
	}
	// A local slot goes to the Router directly, never through the network.
	n0.Do(t, "send 2 local 2")
	if got, want := n0.Received(t, 10*time.Second), "0 2 Post local"; got != want {
		t.Errorf("node 0 received %q, want %q", got, want)
	}
	if got, want := n0.Received(t, 10*time.Second), fmt.Sprintf("0 2 Posted %d", len("local")); got != want {
		t.Errorf("node 0 received %q, want %q", got, want)
	}
	s0, s1 := n0.stats(t), n1.stats(t)
	if s0.Sender.Sent != 1 || s0.Sender.Local != 2 || s1.Sender.Sent != 1 || s0.Sender.UnknownOwner+s1.Sender.UnknownOwner != 0 {
		t.Errorf("sender stats: node 0 %+v, node 1 %+v", s0.Sender, s1.Sender)
	}
	if s0.Gateway.Delivered != 1 || s1.Gateway.Delivered != 1 || s0.Gateway.Refused()+s1.Gateway.Refused() != 0 {
		t.Errorf("gateway stats: node 0 %+v, node 1 %+v", s0.Gateway, s1.Gateway)
	}
}

func TestTransport_WaitsForEarlierWrites(t *testing.T) {
	nodes := startChildren(t, twoNodes, []uint32{0, 1}, nil)
	n0, n1 := nodes[0], nodes[1]
	// A write submitted before the messages, whose completion is held: the writer completes
	// writes in order, so no barrier submitted after it completes while it is held.
	n0.Do(t, "hold")
	n0.Expect(t, "held", 10*time.Second)
	const messagesSent = 10
	for i := range messagesSent { // account 3 answers locally, on node 1
		n0.Do(t, fmt.Sprintf("send 1 t%d 3", i))
	}
	n1.Quiet(t, 700*time.Millisecond)
	// One barrier for the first message; the other nine wait for the next one, not one each.
	if s := n0.stats(t).Sender; s.Barriers != 1 || s.Sent != 0 {
		t.Errorf("while held: %+v, want 1 barrier and nothing sent", s)
	}
	n0.Do(t, "release")
	var posts []string
	for len(posts) < messagesSent {
		if r := n1.Received(t, 10*time.Second); strings.HasPrefix(r, "1 1 Post ") {
			posts = append(posts, strings.TrimPrefix(r, "1 1 Post "))
		}
	}
	slices.Sort(posts)
	if want := []string{"t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "t9"}; !slices.Equal(posts, want) {
		t.Errorf("delivered %v", posts)
	}
	if s := n0.stats(t).Sender; s.Barriers != 2 || s.Sent != messagesSent {
		t.Errorf("after: %+v, want 2 barriers and %d sent", s, messagesSent)
	}
}

func TestTransport_OwnerAbsent(t *testing.T) {
	l := slot.Layout{Slots: 4, Nodes: 3} // node 2 is never started: account 2 is unavailable
	nodes := startChildren(t, l, []uint32{0, 1}, nil)
	n0, n1 := nodes[0], nodes[1]
	n0.Do(t, "send 2 t 0")
	waitFor(t, 10*time.Second, "the message dropped", func() bool { return n0.stats(t).Sender.UnknownOwner == 1 })
	n0.Quiet(t, 200*time.Millisecond)
	n1.Quiet(t, 0)
	for _, n := range nodes {
		if s := n.stats(t); s.Sender.Sent != 0 || s.Active != 0 || s.Gateway.Delivered+s.Gateway.Refused() != 0 {
			t.Errorf("node %d: %+v", n.ordinal, s)
		}
	}
}

func TestTransport_Chaos(t *testing.T) {
	chaos := &Chaos{Duplicate: 1, Delay: 40 * time.Millisecond, Seed: 7}
	nodes := startChildren(t, twoNodes, []uint32{0, 1}, chaos)
	n0, n1 := nodes[0], nodes[1]
	const messagesSent = 20
	for i := range messagesSent { // account 3 answers locally, on node 1: no chaos there
		n0.Do(t, fmt.Sprintf("send 1 t%02d 3", i))
	}
	var arrivals []string
	seen := map[string]int{}
	for len(arrivals) < 2*messagesSent {
		if r := n1.Received(t, 10*time.Second); strings.HasPrefix(r, "1 1 Post ") {
			k := strings.TrimPrefix(r, "1 1 Post ")
			arrivals = append(arrivals, k)
			seen[k]++
		}
	}
	for i := range messagesSent {
		if k := fmt.Sprintf("t%02d", i); seen[k] != 2 {
			t.Errorf("%s delivered %d times, want 2", k, seen[k])
		}
	}
	if slices.IsSorted(arrivals) {
		t.Errorf("the delays reordered nothing: %v", arrivals)
	}
	if s := n0.stats(t).Sender; s.Duplicated != messagesSent || s.Sent != 2*messagesSent || s.Delayed == 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestMember_FencedWhenMissingFromItsTopology(t *testing.T) {
	nodes := startChildrenOn(t, slot.Layout{Slots: 1, Nodes: 1}, []uint32{0}, nil, true)
	n := nodes[0]
	time.Sleep(3 * FenceAfterRefreshes * 100 * time.Millisecond)
	if s := n.stats(t); !s.SelfIn { // the next answer is the stats: the node was not fenced
		t.Fatalf("the node is not in its own topology: %+v", s)
	}
	n.Do(t, "vanish")
	start := time.Now()
	got := n.Expect(t, "fenced", 5*time.Second)
	if !strings.Contains(got, ErrFenced.Error()) || !strings.Contains(got, "missing from its cluster's topology") {
		t.Errorf("reported %q", got)
	}
	// The child may take "vanish" before start is read: allow a little of that.
	if d := time.Since(start); d < FenceAfterRefreshes*100*time.Millisecond-50*time.Millisecond {
		t.Errorf("fenced after %s, before %d refreshes: %s", d, FenceAfterRefreshes, got)
	}
}
