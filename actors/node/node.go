package node

import (
	"fmt"
	"sync"

	"github.com/kaquan/kaquan/actors"
)

// Node is the transport of one cluster node: its placement, gateway, sender and membership.
// New builds it before anything sends (the host's Sender is set to Sender by the caller); Start
// joins the cluster; Stop leaves it.
type Node struct {
	Placement *Placement
	Gateway   *Gateway
	Sender    *Sender
	Calls     *Calls

	host     *actors.Host
	cfg      Config
	mu       sync.Mutex
	member   *Member
	stopped  bool
	stopOnce sync.Once
}

// New builds the transport of host's node and registers its gateway in host's actor system.
// chaos is nil outside tests.
func New(host *actors.Host, cfg Config, chaos *Chaos) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = host.Logger
	}
	n := &Node{host: host, cfg: cfg}
	n.Placement = NewPlacement(cfg.Node.Layout, host.System.ID, cfg.Logger)
	n.Gateway = NewGateway(cfg.Node, host.Router, cfg.Logger)
	n.Calls = NewCalls(n.Placement, host.System, host.Writer)
	n.Gateway.calls = n.Calls
	if err := n.Gateway.Register(host.System); err != nil {
		return nil, err
	}
	n.Sender = NewSender(cfg.Node, host.Router, host.Writer, n.Placement, host.System, chaos)
	return n, nil
}

// Start joins the cluster (Start).
func (n *Node) Start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.stopped || n.member != nil {
		return fmt.Errorf("membership: node already started or stopped")
	}
	m, err := Start(n.host.System, n.Placement, n.Gateway, n.cfg)
	if err != nil {
		return err
	}
	n.member = m
	return nil
}

// Member is the membership once started, else nil.
func (n *Node) Member() *Member {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.member
}

// Stop leaves the cluster (Member.Stop) and closes the Sender. It leaves the host's actor system
// shut down, as protoactor's cluster shutdown does, started or not: the caller must not shut it
// down again (protoactor's Shutdown closes a channel). Idempotent.
func (n *Node) Stop() {
	n.stopOnce.Do(func() {
		n.mu.Lock()
		n.stopped = true
		m := n.member
		n.mu.Unlock()
		n.Gateway.Close()
		if m != nil {
			m.Stop()
		} else {
			n.host.System.Shutdown()
		}
		n.Sender.Close()
		n.Placement.Shutdown()
	})
}
