package node

import (
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/actors/slot"
	"github.com/kaquan/kaquan/messages"
)

// refusalLogEvery bounds the gateway's log: at most one refusal logged per interval, with the
// count of those left out since the last.
const refusalLogEvery = time.Second

// Gateway is the process a node's peers send envelopes to (registered as GatewayName). Remote
// calls it on its reader goroutine; it checks each envelope and hands the message to the local
// Router, which does not block. What it refuses it logs (bounded) and counts; it never panics and
// never creates an entity for a refused message.
type Gateway struct {
	node   slot.Node
	router *actors.Router
	calls  *Calls // node calls from other nodes; nil: refused as not envelopes
	logger *slog.Logger
	closed atomic.Bool

	delivered, misrouted, noSlot, unknownBody, notEnvelope, closedCount, system atomic.Int64

	lastLog    atomic.Int64 // unix nanoseconds of the last refusal logged
	suppressed atomic.Int64 // refusals not logged since
}

// GatewayStats counts what the gateway received, by outcome.
type GatewayStats struct {
	Delivered   int64 // handed to the Router
	Misrouted   int64 // for a slot this node does not own
	NoSlot      int64 // for an id of no slot (an unknown kind, a payment key without a merchant)
	UnknownBody int64 // an envelope without a target, or whose body is empty or unknown to this build
	NotEnvelope int64 // a message that is not an envelope
	Closed      int64 // arrived after Close
	System      int64 // system messages (nothing is watched through the gateway)
}

// Refused is every refusal.
func (s GatewayStats) Refused() int64 {
	return s.Misrouted + s.NoSlot + s.UnknownBody + s.NotEnvelope + s.Closed
}

// NewGateway makes the gateway of node n, delivering to router.
func NewGateway(n slot.Node, router *actors.Router, logger *slog.Logger) *Gateway {
	return &Gateway{node: n, router: router, logger: logger}
}

// Register adds g to system's process registry under GatewayName: before the cluster starts, so
// that no envelope finds the name missing.
func (g *Gateway) Register(system *actor.ActorSystem) error {
	if _, ok := system.ProcessRegistry.Add(g, GatewayName); !ok {
		return fmt.Errorf("gateway: the name %q is taken in this actor system", GatewayName)
	}
	return nil
}

// Close refuses every later envelope (the node is leaving the cluster).
func (g *Gateway) Close() { g.closed.Store(true) }

// Stats reports the counters.
func (g *Gateway) Stats() GatewayStats {
	return GatewayStats{Delivered: g.delivered.Load(), Misrouted: g.misrouted.Load(), NoSlot: g.noSlot.Load(),
		UnknownBody: g.unknownBody.Load(), NotEnvelope: g.notEnvelope.Load(), Closed: g.closedCount.Load(), System: g.system.Load()}
}

// SendUserMessage implements actor.Process: one envelope from a peer.
func (g *Gateway) SendUserMessage(_ *actor.PID, message any) {
	defer func() {
		if r := recover(); r != nil { // a bug here must not take remote's reader down with it
			g.unknownBody.Add(1)
			g.refuse(fmt.Errorf("gateway panicked: %v", r), nil)
		}
	}()
	_, msg, sender := actor.UnwrapEnvelope(message)
	if call, ok := msg.(*messages.NodeCall); ok && call != nil && g.calls != nil {
		if g.closed.Load() {
			g.closedCount.Add(1)
			return // the node is leaving: the caller's wait ends Unavailable, and it retries
		}
		g.calls.serve(call, sender)
		return
	}
	env, ok := msg.(*messages.EntityEnvelope)
	if !ok || env == nil {
		g.notEnvelope.Add(1)
		g.refuse(fmt.Errorf("not an envelope: %T", msg), nil)
		return
	}
	if g.closed.Load() {
		g.closedCount.Add(1)
		return // the node is leaving: the sender resends to its next incarnation
	}
	d, err := Unwrap(env)
	if err != nil {
		g.unknownBody.Add(1)
		g.refuse(err, env.GetTo())
		return
	}
	s, ok := g.node.Of(d.To)
	if !ok {
		g.noSlot.Add(1)
		g.refuse(fmt.Errorf("%v has no slot", d.To), env.GetTo())
		return
	}
	if !g.node.Owns(s) {
		g.misrouted.Add(1)
		g.refuse(fmt.Errorf("%v is in slot %d of node %d, not this node's", d.To, s, g.node.NodeOf(s)), env.GetTo())
		return
	}
	g.delivered.Add(1)
	g.router.Send(d.To, d.Msg, nil)
}

// SendSystemMessage implements actor.Process: nothing watches or stops the gateway remotely.
func (g *Gateway) SendSystemMessage(*actor.PID, any) { g.system.Add(1) }

// Stop implements actor.Process: the gateway lives as long as its actor system.
func (g *Gateway) Stop(*actor.PID) {}

// refuse logs a refusal, at most one per refusalLogEvery.
func (g *Gateway) refuse(why error, to *messages.EntityRef) {
	now := time.Now().UnixNano()
	last := g.lastLog.Load()
	if now-last < int64(refusalLogEvery) || !g.lastLog.CompareAndSwap(last, now) {
		g.suppressed.Add(1)
		return
	}
	g.logger.Warn("gateway refused a message", "node", g.node.Ordinal, "why", why, "to", to.String(), "not_logged_since", g.suppressed.Swap(0))
}
