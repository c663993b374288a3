package kaquan

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/actors/slot"
	"github.com/kaquan/kaquan/persistence"
)

// Options configures an Engine. Start from DefaultOptions.
type Options struct {
	Durability     persistence.Durability   // sync (default), none (benchmarks only) or memory (tests)
	Writer         persistence.WriterConfig // group-commit bounds
	IdleTimeout    time.Duration            // an entity idle this long leaves memory
	PaymentCodeTTL time.Duration            // how long a payment code stays valid
	// PaymentCodeGrace is how long a payment code's record outlives the code: it still tells a used
	// code from an unknown one, and lets the payment that used it ask again (a retry after a crash
	// cut in between its code's use and its own record). Then the record is removed.
	PaymentCodeGrace time.Duration
	InflightMax      int              // calls under way at once; more wait for a slot
	RecoveryMax      int              // interrupted payments resolved at once during Open
	GiftSweepEvery   time.Duration    // how often timed-out gift offers are returned to their givers
	Clock            func() time.Time // the engine's only clock; tests pass their own
	Logger           *slog.Logger
	Cluster          *ClusterOptions // nil: a single node, owning every entity

	// chaos (tests only) makes messages between a payment and its participants duplicated,
	// dropped and reordered, with resends every resendAfter: as a cluster's network may.
	chaos       *actors.Chaos
	resendAfter time.Duration
}

// Resends of a payment's step in a cluster: after the first wait, doubling up to the last.
const (
	clusterResendAfter = time.Second
	clusterResendMax   = 30 * time.Second
)

// ClusterOptions makes the engine one node of a cluster (in progress: see docs/design.md). The
// cluster's Slots and Nodes are fixed when it is created; each node's data folder records them and
// its Node ordinal at the first Open, and a later Open with any other value refuses
// (ErrClusterLayout). The node refuses calls for entities of slots it does not own (ErrWrongNode).
type ClusterOptions struct {
	Node  int // this node's ordinal, 0..Nodes-1
	Nodes int // nodes in the cluster, 1..ClusterNodesMax, at most Slots
	Slots int // slots in the cluster: a power of two, 1..ClusterSlotsMax (ClusterSlotsDefault)
	// Peers lists every node's node-to-node address, "host:port", in ordinal order (the same list
	// on every node; Peers[Node] is this node's own). Empty: the node checks its layout and
	// refuses foreign slots, and reaches no other node.
	Peers []string
	// Name is the cluster's name (ClusterNameDefault when empty); nodes of other names are
	// not members.
	Name string
	// HealthPortOffset derives each node's membership health port from its peer port: peer port
	// + offset (ClusterHealthPortOffsetDefault when 0).
	HealthPortOffset int
}

// Bounds of ClusterOptions.
const (
	ClusterSlotsDefault = slot.SlotsDefault
	ClusterSlotsMax     = slot.SlotsMax
	ClusterNodesMax     = slot.NodesMax
	// ClusterNameDefault names a cluster whose options name none.
	ClusterNameDefault = "kaquan"
	// ClusterHealthPortOffsetDefault puts a node's membership health port just above its peer port.
	ClusterHealthPortOffsetDefault = 1
)

// node is the slot layer's view of c.
func (c *ClusterOptions) node() slot.Node {
	return slot.Node{Layout: slot.Layout{Slots: uint32(c.Slots), Nodes: uint32(c.Nodes)}, Ordinal: uint32(c.Node)}
}

func (c *ClusterOptions) healthPortOffset() int {
	if c.HealthPortOffset == 0 {
		return ClusterHealthPortOffsetDefault
	}
	return c.HealthPortOffset
}

// Validate checks every bound.
func (c *ClusterOptions) Validate() error {
	switch {
	case c.Slots < 1 || c.Slots > ClusterSlotsMax || c.Slots&(c.Slots-1) != 0:
		return fmt.Errorf("options: Cluster.Slots %d: a power of two in 1..%d", c.Slots, ClusterSlotsMax)
	case c.Nodes < 1 || c.Nodes > ClusterNodesMax || c.Nodes > c.Slots:
		return fmt.Errorf("options: Cluster.Nodes %d outside 1..%d, or more than Cluster.Slots", c.Nodes, ClusterNodesMax)
	case c.Node < 0 || c.Node >= c.Nodes:
		return fmt.Errorf("options: Cluster.Node %d outside 0..%d", c.Node, c.Nodes-1)
	case len(c.Peers) != 0 && len(c.Peers) != c.Nodes:
		return fmt.Errorf("options: Cluster.Peers lists %d addresses for %d nodes", len(c.Peers), c.Nodes)
	case c.HealthPortOffset < 0 || c.HealthPortOffset > 65535:
		return fmt.Errorf("options: Cluster.HealthPortOffset %d outside 0..65535", c.HealthPortOffset)
	}
	for i, p := range c.Peers {
		host, port, err := net.SplitHostPort(p)
		n, perr := strconv.Atoi(port)
		if err != nil || host == "" || perr != nil || n < 1 || n+c.healthPortOffset() > 65535 {
			return fmt.Errorf("options: Cluster.Peers[%d] %q: want host:port, with room for its health port", i, p)
		}
	}
	return c.node().Validate() // the same bounds, as the slot layer checks them
}

// Bounds of Options.
const (
	IdleTimeoutMin    = 10 * time.Millisecond
	IdleTimeoutMax    = 24 * time.Hour
	PaymentCodeTTLMin = time.Second
	PaymentCodeTTLMax = 10 * time.Minute
	// PaymentCodeGraceMin leaves room for a clock stepped back and a message queued behind load.
	PaymentCodeGraceMin = time.Minute
	PaymentCodeGraceMax = 30 * 24 * time.Hour
	InflightMaxMax      = 1 << 20
	GiftSweepEveryMin   = 10 * time.Millisecond
	GiftSweepEveryMax   = time.Hour
)

// DefaultOptions are the defaults: durable (fsync per group commit), 60 s payment codes.
func DefaultOptions() Options {
	return Options{
		Durability:       persistence.DurabilitySync,
		Writer:           persistence.DefaultWriterConfig(),
		IdleTimeout:      30 * time.Second,
		PaymentCodeTTL:   60 * time.Second,
		PaymentCodeGrace: 5 * time.Minute,
		InflightMax:      16384,
		RecoveryMax:      256,
		GiftSweepEvery:   time.Second,
		Clock:            time.Now,
		Logger:           slog.Default(),
	}
}

// Validate checks every bound.
func (o Options) Validate() error {
	if _, err := persistence.ParseDurability(string(o.Durability)); err != nil {
		return err
	}
	if err := o.Writer.Validate(); err != nil {
		return err
	}
	if o.Writer.BatchEntriesMax < 2 || o.Writer.BatchBytesMax < codeRemovalBytes {
		return fmt.Errorf("options: Writer bounds below one payment code's removal (2 entries, %d bytes)", codeRemovalBytes)
	}
	switch {
	case o.IdleTimeout < IdleTimeoutMin || o.IdleTimeout > IdleTimeoutMax:
		return fmt.Errorf("options: IdleTimeout %s outside %s..%s", o.IdleTimeout, IdleTimeoutMin, IdleTimeoutMax)
	case o.PaymentCodeTTL < PaymentCodeTTLMin || o.PaymentCodeTTL > PaymentCodeTTLMax:
		return fmt.Errorf("options: PaymentCodeTTL %s outside %s..%s", o.PaymentCodeTTL, PaymentCodeTTLMin, PaymentCodeTTLMax)
	case o.PaymentCodeGrace < PaymentCodeGraceMin || o.PaymentCodeGrace > PaymentCodeGraceMax:
		return fmt.Errorf("options: PaymentCodeGrace %s outside %s..%s", o.PaymentCodeGrace, PaymentCodeGraceMin, PaymentCodeGraceMax)
	case o.InflightMax < 1 || o.InflightMax > InflightMaxMax:
		return fmt.Errorf("options: InflightMax %d outside 1..%d", o.InflightMax, InflightMaxMax)
	case o.RecoveryMax < 1 || o.RecoveryMax > o.InflightMax:
		return fmt.Errorf("options: RecoveryMax %d outside 1..InflightMax", o.RecoveryMax)
	case o.GiftSweepEvery < GiftSweepEveryMin || o.GiftSweepEvery > GiftSweepEveryMax:
		return fmt.Errorf("options: GiftSweepEvery %s outside %s..%s", o.GiftSweepEvery, GiftSweepEveryMin, GiftSweepEveryMax)
	case o.Clock == nil || o.Logger == nil:
		return fmt.Errorf("options: Clock and Logger are required")
	}
	if o.Cluster != nil {
		return o.Cluster.Validate()
	}
	return nil
}
