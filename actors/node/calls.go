package node

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
)

// Bounds of node calls.
const (
	// CallTimeoutDefault is how long a node call waits for its answer when its context has no
	// deadline.
	CallTimeoutDefault = 30 * time.Second
	// CallsServedMax bounds the calls from other nodes this node runs at once; more are refused
	// ErrOverloaded at once (the caller may retry).
	CallsServedMax = 512
	// callServeMax bounds how long one call from another node may run here.
	callServeMax = time.Minute
)

// Handler runs a call another node forwarded and returns its reply (the engine's).
type Handler func(ctx context.Context, call *messages.NodeCall) *messages.NodeReply

// Calls carries node calls: a request from this node to another's gateway, answered by the
// owner's Handler. Each call is one request and one reply (protoactor's request future); it is
// not resent: the engine's caller retries with the same key, and every call is safe to repeat.
type Calls struct {
	placement *Placement
	system    *actor.ActorSystem
	writer    Submitter
	handler   atomic.Pointer[Handler]
	serving   chan struct{}
	served    atomic.Int64
	refused   atomic.Int64
}

// NewCalls makes the node calls of a node with placement and writer.
func NewCalls(placement *Placement, system *actor.ActorSystem, writer Submitter) *Calls {
	return &Calls{placement: placement, system: system, writer: writer, serving: make(chan struct{}, CallsServedMax)}
}

// Handle sets the handler of calls from other nodes (until it is set, they are refused).
func (c *Calls) Handle(h Handler) { c.handler.Store(&h) }

// Call sends call to node and waits for its reply until ctx's deadline (CallTimeoutDefault
// without one). A node that is not a member, or that does not answer in time, is ErrUnavailable:
// the call may still run there, so the caller retries with the same key.
func (c *Calls) Call(ctx context.Context, node uint32, call *messages.NodeCall) (*messages.NodeReply, error) {
	addr, ok := c.placement.Owner(node)
	if !ok {
		return nil, fmt.Errorf("%w: node %d is not a member now", actors.ErrUnavailable, node)
	}
	timeout := CallTimeoutDefault
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	if timeout <= 0 {
		return nil, fmt.Errorf("node %d: %w", node, context.DeadlineExceeded)
	}
	f := c.system.Root.RequestFuture(actor.NewPID(addr, GatewayName), call, timeout)
	type result struct {
		v   any
		err error
	}
	done := make(chan result, 1)
	go func() { v, err := f.Result(); done <- result{v, err} }()
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("node %d: %w (the call may still complete: retry with the same key)", node, ctx.Err())
	case r := <-done:
		if r.err != nil {
			return nil, fmt.Errorf("%w: node %d did not answer: %v (the call may still complete: retry with the same key)", actors.ErrUnavailable, node, r.err)
		}
		reply, ok := r.v.(*messages.NodeReply)
		if !ok {
			return nil, fmt.Errorf("%w: node %d answered %T", actors.ErrUnavailable, node, r.v)
		}
		return reply, nil
	}
}

// serve runs a call from another node (the gateway hands it over on remote's reader goroutine,
// which must not block) and answers sender once every write submitted before the answer is
// durable: a refusal may rest on writes still in flight, and nothing leaves a node before them.
func (c *Calls) serve(call *messages.NodeCall, sender *actor.PID) {
	if sender == nil {
		c.refused.Add(1)
		return // nobody to answer: a call is always a request
	}
	h := c.handler.Load()
	if h == nil {
		c.refused.Add(1)
		c.answer(sender, refusal(actors.ErrEngineStopped, "this node does not take calls yet"))
		return
	}
	select {
	case c.serving <- struct{}{}:
	default:
		c.refused.Add(1)
		c.answer(sender, refusal(actors.ErrOverloaded, fmt.Sprintf("%d calls from other nodes under way", CallsServedMax)))
		return
	}
	c.served.Add(1)
	go func() {
		defer func() { <-c.serving }()
		ctx, cancel := context.WithTimeout(context.Background(), callServeMax)
		defer cancel()
		reply := (*h)(ctx, call)
		err := c.writer.Submit(&persistence.Write{Done: func(err error) {
			if err != nil {
				reply = refusal(actors.ErrEngineStopped, err.Error())
			}
			c.answer(sender, reply)
		}})
		if err != nil {
			c.answer(sender, refusal(actors.ErrEngineStopped, err.Error()))
		}
	}()
}

func (c *Calls) answer(to *actor.PID, reply *messages.NodeReply) { c.system.Root.Send(to, reply) }

// CallStats counts the calls from other nodes: run, and refused (overloaded, not ready).
type CallStats struct{ Served, Refused int64 }

// Stats reports the counters.
func (c *Calls) Stats() CallStats {
	return CallStats{Served: c.served.Load(), Refused: c.refused.Load()}
}

// refusal is the reply of a call refused with err.
func refusal(err *actors.Error, text string) *messages.NodeReply {
	return &messages.NodeReply{Reason: err.Reason(), Error: fmt.Sprintf("%s: %s", err, text)}
}
