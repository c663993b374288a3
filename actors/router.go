package actors

import (
	"hash/maphash"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
)

const routerShards = 64

// Router is the local Sender: a sharded map of active entities. It activates an entity on its first
// message and lets an idle entity passivate only when no message sent to it is still in its mailbox,
// so nothing is ever delivered to a stopped actor.
type Router struct {
	root   *actor.RootContext
	host   *Host
	seed   maphash.Seed
	shards [routerShards]routerShard
	active atomic.Int64
}

type routerShard struct {
	mu sync.Mutex
	m  map[ID]*activation
}

// activation is one live incarnation of an entity.
type activation struct {
	pid      *actor.PID
	sent     int64 // guarded by the shard lock
	received atomic.Int64
}

// routed wraps a message delivered through the Router, so the shell can count it.
type routed struct {
	msg any
}

// NewRouter makes the router of host's actor system.
func NewRouter(host *Host) *Router {
	r := &Router{root: host.System.Root, host: host, seed: maphash.MakeSeed()}
	for i := range r.shards {
		r.shards[i].m = make(map[ID]*activation)
	}
	return r
}

func (r *Router) shard(id ID) *routerShard {
	var h maphash.Hash
	h.SetSeed(r.seed)
	h.WriteByte(byte(id.Kind))
	var b [8]byte
	for i := range 8 {
		b[i] = byte(id.Num >> (8 * i))
	}
	h.Write(b[:])
	h.WriteString(id.Str)
	return &r.shards[h.Sum64()%routerShards]
}

// Send implements Sender.
func (r *Router) Send(id ID, msg any, replyTo *actor.PID) {
	s := r.shard(id)
	s.mu.Lock()
	a := s.m[id]
	if a == nil {
		a = &activation{}
		a.pid = r.root.Spawn(r.host.props(id, a))
		s.m[id] = a
		r.active.Add(1)
	}
	a.sent++
	// Sent under the lock so that passivation (which takes the lock) sees every message counted.
	if replyTo != nil {
		r.root.RequestWithCustomSender(a.pid, routed{msg}, replyTo)
	} else {
		r.root.Send(a.pid, routed{msg})
	}
	s.mu.Unlock()
}

// release removes an idle activation when every message sent to it has been received. It reports
// whether the caller may stop the actor.
func (r *Router) release(id ID, a *activation) bool {
	s := r.shard(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m[id] != a || a.sent != a.received.Load() {
		return false
	}
	delete(s.m, id)
	r.active.Add(-1)
	return true
}

// Active reports how many entities are in memory.
func (r *Router) Active() int64 { return r.active.Load() }
