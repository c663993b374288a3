package node

import (
	"io"
	"log/slog"
	"testing"

	"github.com/asynkron/protoactor-go/cluster"
	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/actors/slot"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func clusterMember(id, host string, port int32, kinds ...string) *cluster.Member {
	return &cluster.Member{Id: id, Host: host, Port: port, Kinds: append([]string{GatewayName}, kinds...)}
}

func TestPlacement_Topology(t *testing.T) {
	l := slot.Layout{Slots: 8, Nodes: 3}
	a := clusterMember("a", "10.0.0.1", 7000, slot.NodeKind(0))
	b := clusterMember("b", "10.0.0.2", 7000, slot.NodeKind(1))
	c := clusterMember("c", "10.0.0.3", 7000, slot.NodeKind(2))
	for _, tc := range []struct {
		name      string
		members   []*cluster.Member
		want      map[uint32]string
		conflicts int
	}{
		{"all present", []*cluster.Member{a, b, c}, map[uint32]string{0: "10.0.0.1:7000", 1: "10.0.0.2:7000", 2: "10.0.0.3:7000"}, 0},
		{"owner missing", []*cluster.Member{a, c}, map[uint32]string{0: "10.0.0.1:7000", 2: "10.0.0.3:7000"}, 0},
		{"two claim one ordinal", []*cluster.Member{a, b, clusterMember("b2", "10.0.0.9", 7000, slot.NodeKind(1)), c},
			map[uint32]string{0: "10.0.0.1:7000", 2: "10.0.0.3:7000"}, 1},
		{"ordinal outside the layout", []*cluster.Member{a, clusterMember("d", "10.0.0.4", 7000, slot.NodeKind(3))},
			map[uint32]string{0: "10.0.0.1:7000"}, 1},
		{"a client, no ordinal", []*cluster.Member{a, {Id: "x", Host: "10.0.0.5", Port: 1, Kinds: []string{GatewayName}}},
			map[uint32]string{0: "10.0.0.1:7000"}, 0},
		{"empty", nil, map[uint32]string{}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			system := quietSystem()
			p := NewPlacement(l, "a", discard())
			p.Subscribe(system.EventStream)
			defer p.Shutdown()
			system.EventStream.Publish(&cluster.ClusterTopology{Members: tc.members})
			for o := uint32(0); o < l.Nodes+1; o++ {
				got, ok := p.Owner(o)
				want, wantOK := tc.want[o]
				if got != want || ok != wantOK {
					t.Errorf("Owner(%d) = %q %v, want %q %v", o, got, ok, want, wantOK)
				}
			}
			if n := len(p.Conflicts()); n != tc.conflicts {
				t.Errorf("conflicts: got %v, want %d", p.Conflicts(), tc.conflicts)
			}
			// The lookup places an identity only on its slot's owner, or nowhere.
			for acct := uint64(0); acct < 2*uint64(l.Slots); acct++ {
				id := actors.AccountID(acct)
				pid := p.Get(IdentityOf(id))
				owner := l.NodeOf(l.OfAccount(acct))
				want, wantOK := tc.want[owner]
				switch {
				case !wantOK && pid != nil:
					t.Errorf("%v placed on %v, its owner %d is absent", id, pid, owner)
				case wantOK && (pid == nil || pid.Address != want || pid.Id != GatewayName):
					t.Errorf("%v placed on %v, want %s/%s", id, pid, want, GatewayName)
				}
			}
			in, _ := p.selfSince()
			if want := len(tc.members) > 0; in != want {
				t.Errorf("self in topology: got %v, want %v", in, want)
			}
		})
	}
}

func TestPlacement_LatestTopologyWins(t *testing.T) {
	system := quietSystem()
	p := NewPlacement(slot.Layout{Slots: 4, Nodes: 2}, "", discard())
	if _, ok := p.Owner(0); ok {
		t.Fatal("placed before any topology")
	}
	p.Subscribe(system.EventStream)
	p.Subscribe(system.EventStream) // once only
	system.EventStream.Publish(&cluster.ClusterTopology{Members: []*cluster.Member{clusterMember("a", "h", 1, "node-0"), clusterMember("b", "h", 2, "node-1")}})
	system.EventStream.Publish("not a topology")
	system.EventStream.Publish(&cluster.ClusterTopology{Members: []*cluster.Member{clusterMember("b", "h", 2, "node-1")}})
	if _, ok := p.Owner(0); ok {
		t.Error("node 0 left, still placed")
	}
	if got := p.Reachable(); len(got) != 1 || got[0] != 1 {
		t.Errorf("Reachable = %v, want [1]", got)
	}
	p.Shutdown()
	system.EventStream.Publish(&cluster.ClusterTopology{})
	if got := p.Reachable(); len(got) != 1 {
		t.Errorf("read a topology after Shutdown: %v", got)
	}
}

func TestPlacement_Identity(t *testing.T) {
	for _, id := range []actors.ID{actors.AccountID(0), actors.AccountID(1<<64 - 1), actors.CardID(9<<32 | 5), actors.PaymentID("7/a/b"), actors.PoolID(3), actors.TemplateID(12)} {
		got, ok := idOf(IdentityOf(id).Identity)
		if !ok || got != id {
			t.Errorf("%v: read back %v %v", id, got, ok)
		}
	}
	for _, s := range []string{"", "account", "account/", "account/01", "account/x", "account/18446744073709551616", "kind(9)/1", "node/1"} {
		if id, ok := idOf(s); ok {
			t.Errorf("%q read as %v", s, id)
		}
	}
	p := NewPlacement(slot.Layout{Slots: 4, Nodes: 1}, "", discard())
	p.Observe(&cluster.ClusterTopology{Members: []*cluster.Member{clusterMember("a", "h", 1, "node-0")}})
	if pid := p.Get(cluster.NewClusterIdentity("account/1", "other-kind")); pid != nil {
		t.Errorf("placed a foreign kind: %v", pid)
	}
	if pid := p.Get(cluster.NewClusterIdentity("payment/no-merchant", GatewayName)); pid != nil {
		t.Errorf("placed a payment key without a slot: %v", pid)
	}
}
