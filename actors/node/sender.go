package node

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/actors/slot"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
)

// Submitter is what the Sender needs of the group-commit writer (*persistence.Writer).
type Submitter interface {
	Submit(*persistence.Write) error
}

// Sender is the actors.Sender of a cluster node. A message for an entity of a slot this node owns
// goes to the Router as on one node, replyTo included. A message for another node's slot leaves in
// an envelope for the owner's gateway, and only once every write submitted before it is durable:
// on one node the writer's submission order makes "submit, then send" safe, across nodes it does
// not (the receiver's log is another log). Its replyTo is dropped: replies go by entity identity.
//
// The outbox takes one barrier per group commit, not one per message: the first message into an
// empty outbox submits an empty Write (a barrier) and seals the batch before it does, so the
// barrier covers every write submitted before any message of the batch; messages arriving while
// it is in flight gather in the next batch, whose barrier is submitted once the first one's is
// durable. A message waits at most two commits.
type Sender struct {
	node      slot.Node
	router    *actors.Router
	writer    Submitter
	placement *Placement
	root      *actor.RootContext

	mu       sync.Mutex
	open     []outgoing // gathering; its barrier is not submitted yet
	inflight bool       // a barrier is submitted and not yet done
	next     chan flush // barrier done -> the pump (capacity 1: one barrier in flight)
	stop     chan struct{}
	stopped  sync.WaitGroup
	closed   bool

	chaos *Chaos
	rngMu sync.Mutex
	rng   *rand.Rand

	local, sent, barriers, unplaced, unknownOwner, failed, duplicated, delayed atomic.Int64
}

// outgoing is one envelope waiting in the outbox for the node that owns its target.
type outgoing struct {
	ordinal uint32
	env     *messages.EntityEnvelope
}

// flush is one batch whose barrier is done.
type flush struct {
	batch []outgoing
	err   error
}

// Chaos is a test-only setting of the Sender: every envelope that leaves is sent twice with
// probability Duplicate, and delayed by up to Delay (uniformly), which reorders them. Never set
// in production: it exists to show that the saga's steps are idempotent and stale-tolerant.
type Chaos struct {
	Duplicate float64       // 0..1
	Delay     time.Duration // 0: none
	Seed      uint64
}

// SenderStats counts what the Sender did.
type SenderStats struct {
	Local        int64 // to the Router
	Sent         int64 // envelopes handed to remote (each copy, with Chaos)
	Barriers     int64 // barriers submitted
	Unplaced     int64 // messages no envelope carries, or for ids with no slot: dropped
	UnknownOwner int64 // dropped: the owner was not in the topology when the batch left
	Failed       int64 // dropped: the barrier failed or the Sender was closed (the engine stops)
	Duplicated   int64 // extra copies sent by Chaos
	Delayed      int64 // envelopes delayed by Chaos
}

// NewSender makes the Sender of node n. chaos is nil outside tests.
func NewSender(n slot.Node, router *actors.Router, writer Submitter, placement *Placement, system *actor.ActorSystem, chaos *Chaos) *Sender {
	s := &Sender{node: n, router: router, writer: writer, placement: placement, root: system.Root,
		next: make(chan flush, 1), stop: make(chan struct{}), chaos: chaos}
	if chaos != nil {
		s.rng = rand.New(rand.NewPCG(chaos.Seed, chaos.Seed^0x9e3779b97f4a7c15))
	}
	s.stopped.Add(1)
	go s.pump()
	return s
}

// Send implements actors.Sender.
func (s *Sender) Send(id actors.ID, msg any, replyTo *actor.PID) {
	sl, ok := s.node.Of(id)
	if ok && s.node.Owns(sl) {
		s.local.Add(1)
		s.router.Send(id, msg, replyTo)
		return
	}
	env, wrapped := Wrap(id, msg)
	if !ok || !wrapped {
		s.unplaced.Add(1) // a call, or an id of no slot: nothing another node could take
		if call, isCall := msg.(*actors.Call); isCall {
			call.Respond(nil, fmt.Errorf("%w: a call for %v cannot leave its node", actors.ErrInvalidArgument, id))
		}
		return
	}
	s.enqueue(outgoing{ordinal: s.node.NodeOf(sl), env: env})
}

// enqueue puts o in the open batch; the first into an empty outbox seals it and submits its
// barrier. Sealing comes before the submission, so every write submitted before any message of
// the batch precedes the barrier.
func (s *Sender) enqueue(o outgoing) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.failed.Add(1)
		return
	}
	s.open = append(s.open, o)
	if s.inflight {
		s.mu.Unlock()
		return
	}
	batch := s.seal()
	s.mu.Unlock()
	s.submit(batch)
}

// seal takes the open batch for a barrier; s.mu is held.
func (s *Sender) seal() []outgoing {
	batch := s.open
	s.open = nil
	s.inflight = true
	return batch
}

// submit submits batch's barrier. Its Done runs on the writer's goroutine and must not block or
// submit (the writer could be waiting on its own full queue): it hands the batch to the pump.
func (s *Sender) submit(batch []outgoing) {
	s.barriers.Add(1)
	err := s.writer.Submit(&persistence.Write{Done: func(err error) { s.next <- flush{batch: batch, err: err} }})
	if err != nil {
		s.next <- flush{batch: batch, err: err}
	}
}

// pump sends each batch whose barrier is done, then submits the next batch's barrier.
func (s *Sender) pump() {
	defer s.stopped.Done()
	for {
		select {
		case f := <-s.next:
			s.deliver(f)
			s.mu.Lock()
			s.inflight = false
			var batch []outgoing
			if len(s.open) > 0 && !s.closed {
				batch = s.seal()
			}
			s.mu.Unlock()
			if batch != nil {
				s.submit(batch)
			}
		case <-s.stop:
			return
		}
	}
}

// deliver sends a batch whose barrier is done to the owners' gateways, as the topology now
// places them. A batch whose barrier failed is dropped: the engine is stopping.
func (s *Sender) deliver(f flush) {
	if f.err != nil {
		s.failed.Add(int64(len(f.batch)))
		return
	}
	for _, o := range f.batch {
		addr, ok := s.placement.Owner(o.ordinal)
		if !ok {
			s.unknownOwner.Add(1) // unavailable: the coordinator resends
			continue
		}
		pid := actor.NewPID(addr, GatewayName)
		if s.chaos == nil {
			s.sent.Add(1)
			s.root.Send(pid, o.env)
			continue
		}
		s.sendChaos(pid, o.env)
	}
}

// sendChaos sends env once or twice, each copy now or after a random delay (Chaos).
func (s *Sender) sendChaos(pid *actor.PID, env *messages.EntityEnvelope) {
	s.rngMu.Lock()
	copies := 1
	if s.rng.Float64() < s.chaos.Duplicate {
		copies = 2
	}
	delays := make([]time.Duration, copies)
	for i := range delays {
		if s.chaos.Delay > 0 {
			delays[i] = time.Duration(s.rng.Int64N(int64(s.chaos.Delay)))
		}
	}
	s.rngMu.Unlock()
	s.duplicated.Add(int64(copies - 1))
	for _, d := range delays {
		s.sent.Add(1)
		if d == 0 {
			s.root.Send(pid, env)
			continue
		}
		s.delayed.Add(1)
		time.AfterFunc(d, func() { s.root.Send(pid, env) })
	}
}

// Close stops the Sender: later foreign messages are dropped (counted as failed), and the batch
// whose barrier is in flight is dropped. Local messages still go to the Router.
func (s *Sender) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.failed.Add(int64(len(s.open)))
	s.open = nil
	s.mu.Unlock()
	close(s.stop)
	s.stopped.Wait()
}

// Stats reports the counters.
func (s *Sender) Stats() SenderStats {
	return SenderStats{Local: s.local.Load(), Sent: s.sent.Load(), Barriers: s.barriers.Load(), Unplaced: s.unplaced.Load(),
		UnknownOwner: s.unknownOwner.Load(), Failed: s.failed.Load(), Duplicated: s.duplicated.Load(), Delayed: s.delayed.Load()}
}
