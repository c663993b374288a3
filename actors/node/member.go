package node

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/automanaged"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/kaquan/kaquan/actors/slot"
)

// Bounds of membership.
const (
	RefreshDefault = 500 * time.Millisecond // automanaged's poll of every peer's health port
	RefreshMin     = 50 * time.Millisecond
	RefreshMax     = time.Minute
	// FenceAfterRefreshes is how many refresh periods a node that was in its own topology may be
	// missing from it before it reports itself fenced. Slots never move, so fencing buys no
	// safety, only a restart of a node its peers blocked: it need not be quick, and a node
	// starved of CPU for a few refreshes must not stop itself.
	FenceAfterRefreshes = 10
)

// Config is one node's membership.
type Config struct {
	Node  slot.Node
	Peers []string // every node's node-to-node "host:port", in ordinal order; Peers[Node.Ordinal] is this one's
	Name  string   // the cluster's name: members of other names are not members
	// HealthPortOffset puts each node's membership health port at its peer port + offset.
	HealthPortOffset int
	Refresh          time.Duration // 0: RefreshDefault
	// Provider replaces automanaged (tests: protoactor's in-memory provider, with which several
	// clusters share one process). nil: automanaged over every peer's host:health port.
	Provider cluster.ClusterProvider
	// Fenced is called (once, from a goroutine of the Member) when this node fell out of its own
	// topology for longer than FenceAfterRefreshes refreshes (its provider stopped seeing it; its
	// peers have dropped it, and block its member id for good): it must stop, and restart as a
	// new member. nil: only logged.
	Fenced func(error)
	Logger *slog.Logger
}

func (c Config) refresh() time.Duration {
	if c.Refresh == 0 {
		return RefreshDefault
	}
	return c.Refresh
}

// Validate checks the config.
func (c Config) Validate() error {
	if err := c.Node.Validate(); err != nil {
		return err
	}
	switch r := c.refresh(); {
	case r < RefreshMin || r > RefreshMax:
		return fmt.Errorf("membership: refresh %s outside %s..%s", r, RefreshMin, RefreshMax)
	case len(c.Peers) != int(c.Node.Nodes):
		return fmt.Errorf("membership: %d peers for %d nodes", len(c.Peers), c.Node.Nodes)
	case c.Name == "":
		return errors.New("membership: no cluster name")
	}
	for i, p := range c.Peers {
		if _, _, err := c.healthAddress(p); err != nil {
			return fmt.Errorf("membership: peer %d: %w", i, err)
		}
	}
	return nil
}

// healthAddress is peer's health "host:port", and the port.
func (c Config) healthAddress(peer string) (string, int, error) {
	host, port, err := net.SplitHostPort(peer)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n+c.HealthPortOffset > 65535 || n+c.HealthPortOffset < 1 {
		return "", 0, fmt.Errorf("%q: want host:port with room for the health port", peer)
	}
	return net.JoinHostPort(host, strconv.Itoa(n+c.HealthPortOffset)), n + c.HealthPortOffset, nil
}

// Member is this node's membership of its cluster.
type Member struct {
	cfg       Config
	system    *actor.ActorSystem
	placement *Placement
	gateway   *Gateway
	cluster   *cluster.Cluster

	stopOnce sync.Once
	stop     chan struct{}
	watching sync.WaitGroup
	fenced   sync.Once
}

// noopProps are the props of the kinds a member advertises: kinds here only say which node a
// member is (slot.NodeKind) and that it is a kaquan node; nothing is ever spawned through them.
var noopProps = actor.PropsFromFunc(func(actor.Context) {})

// Start makes system a member of its cluster: remote on this node's peer address, the
// membership provider, gossip. The gateway must be registered in system and the placement made
// for system (its ID) beforehand. It returns once the member started (protoactor sleeps 1 s in
// it); the first topology may come a refresh later.
func Start(system *actor.ActorSystem, placement *Placement, gateway *Gateway, cfg Config) (m *Member, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	self := cfg.Peers[cfg.Node.Ordinal]
	host, portText, _ := net.SplitHostPort(self)
	port, _ := strconv.Atoi(portText)
	provider := cfg.Provider
	if provider == nil {
		hosts := make([]string, len(cfg.Peers))
		healthPort := 0
		for i, p := range cfg.Peers {
			h, hp, _ := cfg.healthAddress(p)
			hosts[i] = h
			if i == int(cfg.Node.Ordinal) {
				healthPort = hp
			}
		}
		// automanaged binds its health port on 0.0.0.0 in a goroutine and only logs a failure:
		// check it can be bound first, for an error here rather than a node nobody sees.
		if err := probeListen(net.JoinHostPort("", strconv.Itoa(healthPort))); err != nil {
			return nil, fmt.Errorf("membership: health port: %w", err)
		}
		provider = automanaged.NewWithConfig(cfg.refresh(), healthPort, hosts...)
	}
	// remote.Start panics when it cannot listen: check first, and turn any panic into an error.
	if err := probeListen(self); err != nil {
		return nil, fmt.Errorf("membership: peer address: %w", err)
	}
	rc := remote.Configure(host, port, remote.WithAdvertisedHost(self))
	cc := cluster.Configure(cfg.Name, provider, placement, rc,
		cluster.WithKinds(cluster.NewKind(GatewayName, noopProps), cluster.NewKind(slot.NodeKind(cfg.Node.Ordinal), noopProps)))
	m = &Member{cfg: cfg, system: system, placement: placement, gateway: gateway, stop: make(chan struct{})}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("membership: start: %v", r)
		}
	}()
	placement.Subscribe(system.EventStream) // before the provider publishes the first topology
	m.cluster = cluster.New(system, cc)
	m.cluster.StartMember()
	m.watching.Add(1)
	go m.watch()
	return m, nil
}

// probeListen checks that address can be listened on now (TCP).
func probeListen(address string) error {
	l, err := net.Listen("tcp", address)
	if err != nil {
		return err
	}
	return l.Close()
}

// watch reports the node fenced when, having been in its own topology, it is missing from it
// for longer than FenceAfterRefreshes refreshes. A node not yet in it is starting (its peers may
// not be up): it waits, and its calls to other nodes are unavailable meanwhile. (Whether the
// cluster blocked this member's id is not asked: protoactor's BlockList.IsBlocked reads without
// its lock, a data race with gossip.)
func (m *Member) watch() {
	defer m.watching.Done()
	refresh := m.cfg.refresh()
	limit := FenceAfterRefreshes * refresh
	joined := false
	t := time.NewTicker(refresh)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
		}
		in, since := m.placement.selfSince()
		joined = joined || in
		switch {
		case joined && !in && time.Since(since) > limit:
			m.fence(fmt.Errorf("this node has been missing from its cluster's topology for %s", time.Since(since).Round(time.Millisecond)))
			return
		}
	}
}

func (m *Member) fence(err error) {
	m.fenced.Do(func() {
		err = fmt.Errorf("%w: %w", ErrFenced, err)
		m.cfg.Logger.Error("cluster node fenced", "node", m.cfg.Node.Ordinal, "err", err)
		if m.cfg.Fenced != nil {
			m.cfg.Fenced(err)
		}
	})
}

// ErrFenced is what a node reports when its cluster dropped it.
var ErrFenced = errors.New("node fenced")

// Cluster is protoactor's cluster of this member.
func (m *Member) Cluster() *cluster.Cluster { return m.cluster }

// Stop leaves the cluster gracefully: the gateway refuses what still arrives, the provider stops
// announcing the node, gossip and remote stop. protoactor's Shutdown also shuts the actor system
// down (only gossip reads that) and sleeps 2 s. Idempotent.
func (m *Member) Stop() {
	m.stopOnce.Do(func() {
		close(m.stop)
		m.watching.Wait()
		m.gateway.Close()
		m.cluster.Shutdown(true)
	})
}
