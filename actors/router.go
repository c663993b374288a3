package actors

import (
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
)

// Router is the local Sender: a map of active entities. It activates an entity on its first message
// and lets an idle entity passivate only when every message sent to it has been received, so
// nothing is ever delivered to a stopped actor. Sending takes no lock: an activation counts the
// messages sent to it in one atomic word, whose top bit closes it for good.
type Router struct {
	host        *Host
	m           *activations
	active      atomic.Int64
	activations atomic.Int64
}

// activation is one live incarnation of an entity.
type activation struct {
	spawn     sync.Once
	pid       *actor.PID
	sent      atomic.Uint64 // messages sent, plus closedBit once passivated
	received  atomic.Uint64 // messages the shell took from its mailbox
	delivered *atomic.Int64 // its shard's count of deliveries (set when stored in the table)
}

const closedBit = 1 << 63

// routed wraps a message delivered through the Router, so the shell can count it.
type routed struct {
	msg any
}

// NewRouter makes the router of host's actor system.
func NewRouter(host *Host) *Router { return &Router{host: host, m: newActivations()} }

// Send implements Sender.
func (r *Router) Send(id ID, msg any, replyTo *actor.PID) {
	for {
		a := r.activation(id)
		// Count the message before delivering it: passivation, which needs sent == received,
		// cannot close the activation while a send is between these two steps.
		if s := a.sent.Add(1); s&closedBit != 0 {
			r.m.compareAndDelete(id, a) // passivated under us: retry with a new activation
			continue
		}
		a.spawn.Do(func() { a.pid = r.host.System.Root.Spawn(r.host.props(id, a)) })
		if replyTo != nil {
			r.host.System.Root.RequestWithCustomSender(a.pid, routed{msg}, replyTo)
		} else {
			r.host.System.Root.Send(a.pid, routed{msg})
		}
		return
	}
}

func (r *Router) activation(id ID) *activation {
	if a, ok := r.m.load(id); ok {
		return a
	}
	a, stored := r.m.loadOrStore(id, &activation{})
	if stored {
		r.active.Add(1)
		r.activations.Add(1)
	}
	return a
}

// release closes an idle activation when every message sent to it has been received. It reports
// whether the caller may stop the actor; later sends go to a new activation.
func (r *Router) release(id ID, a *activation) bool {
	s := a.sent.Load()
	if s&closedBit != 0 || s != a.received.Load() || !a.sent.CompareAndSwap(s, s|closedBit) {
		return false
	}
	r.m.compareAndDelete(id, a)
	r.active.Add(-1)
	return true
}

// Active reports how many entities are in memory.
func (r *Router) Active() int64 { return r.active.Load() }

// Delivered reports how many messages entities living here received since start: calls, messages
// between entities and their replies; not the actors' own timers and lifecycle messages.
func (r *Router) Delivered() int64 { return r.m.delivered() }

// Activations reports how many times an entity was brought into memory since start.
func (r *Router) Activations() int64 { return r.activations.Load() }
