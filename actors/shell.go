package actors

import (
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/kaquan/kaquan/persistence"
)

// Behavior is one entity kind's logic inside the shell: it decides, applies, persists and replies.
type Behavior interface {
	Receive(c *Context, msg any)
	// Busy reports work in progress that must finish before the entity may passivate.
	Busy() bool
}

// Producer loads an entity's state from the store (absent state is not an error) and returns its
// behavior. It runs inside the new actor, on its first message.
type Producer func(id ID, h *Host) (Behavior, error)

// Settings are the actor-level knobs of the engine.
type Settings struct {
	IdleTimeout    time.Duration // an entity with no message for this long is passivated
	PaymentCodeTTL time.Duration
	Now            func() int64 // the engine's clock, for shells; pure rules get time passed in
	// AtLeastOnce says messages between entities may be lost, repeated, delayed or reordered (a
	// cluster; chaos tests): every step is then checked against what was done before, and
	// refusals are recorded so that a repeated step gets the same answer. On one node, the
	// Router delivers each message once, in order, and these checks are skipped.
	AtLeastOnce bool
	// ResendAfter is how long a payment waits for a participant's answer before it sends the step
	// again, doubling up to ResendMax; 0: never (one node: nothing is lost).
	ResendAfter time.Duration
	ResendMax   time.Duration
}

// Host is what every entity reaches the world through: store, writer, routing, settings.
type Host struct {
	System *actor.ActorSystem
	Store  *persistence.Store
	Writer *persistence.Writer
	Router *Router // activation and passivation of the entities living here
	// Sender delivers messages between entities; it is Router on one node, and what a cluster
	// replaces to reach entities placed elsewhere.
	Sender Sender
	Owners *Owners
	// Acceptances are merchants' consents to accept other merchants' cards, cached.
	Acceptances *Acceptances
	Settings    Settings
	Producers   map[Kind]Producer
	// Dispatcher runs the mailboxes (nil: protoactor's default, a goroutine per run).
	Dispatcher actor.Dispatcher
	Logger     *slog.Logger
	// Fatal stops the engine: a failed write or a broken invariant. It must not block.
	Fatal func(error)
}

func (h *Host) props(id ID, a *activation) *actor.Props {
	// A lock-free mailbox: sending takes no lock anywhere on the way to the actor. The engine
	// bounds every mailbox together by bounding the calls in flight (Options.InflightMax).
	opts := []actor.PropsOption{actor.WithMailbox(actor.UnboundedLockfree())}
	if h.Dispatcher != nil {
		opts = append(opts, actor.WithDispatcher(h.Dispatcher))
	}
	return actor.PropsFromProducer(func() actor.Actor {
		return &shell{id: id, act: a, host: h}
	}, opts...)
}

// passivateNow is sent by a shell to itself when its last pending write completes after a
// passivation request.
type passivateNow struct{}

// idleCheck is sent by a shell's timer to the shell every IdleTimeout. (protoactor's own
// ReceiveTimeout races with the actor's goroutine: protoactor-go issue 1139.)
type idleCheck struct{}

// shell is the actor of one entity: it counts routed messages, loads the behavior on activation,
// tracks pending writes, and passivates when idle.
type shell struct {
	id       ID
	act      *activation
	host     *Host
	behavior Behavior
	broken   error
	pending  atomic.Int64
	wantStop atomic.Bool
	stopped  bool
	idle     *time.Timer
	seen     uint64 // messages handled; compared at each idle check
	seenThen uint64
	wrote    atomic.Bool // records submitted since activation: the entity exists, or is being created
	probed   bool        // absent is known
	absent   bool        // the entity's record was not in the store (see passivateIfAbsent)
}

func (s *shell) Receive(ctx actor.Context) {
	defer s.recoverPanic()
	switch m := ctx.Message().(type) {
	case *actor.Started:
		s.activate(ctx)
	case routed:
		s.act.received.Add(1)
		s.seen++
		s.act.delivered.Add(1)
		s.deliver(ctx, m.msg)
	case idleCheck:
		if s.seen == s.seenThen {
			s.tryPassivate(ctx)
		}
		s.seenThen = s.seen
		if !s.stopped {
			s.idle.Reset(s.host.Settings.IdleTimeout)
		}
	case passivateNow:
		s.tryPassivate(ctx)
	case *actor.Stopped:
		if s.idle != nil {
			s.idle.Stop()
		}
	case actor.SystemMessage, actor.AutoReceiveMessage:
	default: // a reply from another entity
		s.seen++
		s.act.delivered.Add(1)
		s.deliver(ctx, m)
	}
}

func (s *shell) activate(ctx actor.Context) {
	b, err := s.host.Producers[s.id.Kind](s.id, s.host)
	if err != nil {
		s.broken = fmt.Errorf("activate %s: %w", s.id, err)
		s.host.Fatal(s.broken)
		return
	}
	s.behavior = b
	self, root := ctx.Self(), s.host.System.Root
	s.idle = time.AfterFunc(s.host.Settings.IdleTimeout, func() { root.Send(self, idleCheck{}) })
}

func (s *shell) deliver(ctx actor.Context, msg any) {
	if s.broken != nil || s.stopped {
		if call, ok := msg.(*Call); ok {
			call.Respond(nil, fmt.Errorf("%w: %v", ErrEngineStopped, s.broken))
		}
		return
	}
	s.behavior.Receive(&Context{Context: ctx, shell: s}, msg)
	s.passivateIfAbsent(ctx)
}

// passivateIfAbsent lets an entity that does not exist leave memory as soon as it has answered
// (and is idle, its writes durable). Reads of unknown ids, which any token can make, would
// otherwise each hold an activation for IdleTimeout; and a record written later by another entity
// (a card by its template's claim) is then loaded fresh rather than answered from an empty state.
// An activation that submitted records is never absent: its messages created or changed it.
func (s *shell) passivateIfAbsent(ctx actor.Context) {
	if s.wrote.Load() || !s.isAbsent() {
		return
	}
	s.wantStop.Store(true) // if writes (barriers) are pending, their completion passivates
	s.tryPassivate(ctx)
}

// Absenter is a Behavior that knows whether its entity exists (its state loaded or made). Others
// are looked up in the store once (see isAbsent).
type Absenter interface{ Absent() bool }

// isAbsent reports whether the entity does not exist: from the behavior, if it knows, else from
// the store, read once per activation, after the first message that wrote nothing.
func (s *shell) isAbsent() bool {
	if a, ok := s.behavior.(Absenter); ok {
		return a.Absent()
	}
	if s.probed {
		return s.absent
	}
	s.probed = true
	key, ok := recordKey(s.id)
	if !ok || s.host.Store == nil {
		return false
	}
	has, err := s.host.Store.Has(key)
	s.absent = err == nil && !has // on a store error the entity stays, as any other
	return s.absent
}

// recordKey is the store key without which entity id does not exist. A pool is its user's: the
// user's party record (an existing user's empty pool stays in memory, since loading one scans
// its churned key range).
func recordKey(id ID) ([]byte, bool) {
	switch id.Kind {
	case KindAccount:
		return persistence.AccountKey(id.Num), true
	case KindTemplate:
		return persistence.TemplateKey(id.Num), true
	case KindCard:
		return persistence.CardKey(id.Num), true
	case KindPayment:
		return persistence.PaymentKey(id.Str), true
	case KindPool:
		return persistence.PartyKey(id.Num), true
	}
	return nil, false
}

func (s *shell) tryPassivate(ctx actor.Context) {
	if s.stopped || (s.behavior != nil && s.behavior.Busy()) || s.pending.Load() > 0 {
		return
	}
	if s.host.Router.release(s.id, s.act) {
		s.stopped = true
		if s.idle != nil {
			s.idle.Stop()
		}
		ctx.Stop(ctx.Self())
	}
}

func (s *shell) recoverPanic() {
	if r := recover(); r != nil {
		err := fmt.Errorf("%s panicked: %v\n%s", s.id, r, debug.Stack())
		s.broken = err
		s.host.Fatal(err)
	}
}

// Context is what a Behavior sees of its actor.
type Context struct {
	actor.Context
	shell *shell
}

// Host returns the entity's host.
func (c *Context) Host() *Host { return c.shell.host }

// ID returns the entity's id.
func (c *Context) ID() ID { return c.shell.id }

// Persist hands entries to the group-commit writer. done (may be nil) runs on the writer goroutine
// once they are durable, or with the error that stopped the engine; it must not block.
// The in-memory state must already reflect the entries: later messages are decided on it at once.
func (c *Context) Persist(entries []persistence.Entry, done func(error)) {
	s := c.shell
	if len(entries) > 0 {
		s.wrote.Store(true)
	}
	s.pending.Add(1)
	err := s.host.Writer.Submit(&persistence.Write{Entries: entries, Done: func(err error) {
		if err != nil {
			s.host.Fatal(err)
		}
		if done != nil {
			done(err)
		}
		if s.pending.Add(-1) == 0 && s.wantStop.Load() {
			s.host.System.Root.Send(c.Self(), passivateNow{})
		}
	}})
	if err != nil {
		s.pending.Add(-1)
		s.host.Fatal(err)
		if done != nil {
			done(err)
		}
	}
}

// AfterDurable runs fn once every write this entity submitted so far is durable (a barrier), so a
// query never reports state that is not yet on disk.
func (c *Context) AfterDurable(fn func(error)) {
	if c.shell.pending.Load() == 0 {
		fn(nil)
		return
	}
	c.Persist(nil, fn)
}

// AfterAllDurable runs fn once every write submitted so far, by any entity, is durable: for an
// answer that depends on another entity's write (a card's, answering a pool).
func (c *Context) AfterAllDurable(fn func(error)) { c.Persist(nil, fn) }

// Tell sends msg to another entity, with this actor as the reply address.
func (c *Context) Tell(id ID, msg any) { c.shell.host.Sender.Send(id, msg, c.Self()) }

// AnswerPayment replies to the payment that asked, by its identity rather than by the asker's
// PID: the asker may have passivated, restarted, or live on another node since it asked. A
// message that names no payment is answered to the asker's PID.
func (c *Context) AnswerPayment(payment string, msg any) {
	if payment == "" {
		c.Respond(msg)
		return
	}
	c.shell.host.Sender.Send(PaymentID(payment), msg, nil)
}

// Passivate asks to stop this entity as soon as it is idle and its writes are durable.
func (c *Context) Passivate() {
	c.shell.wantStop.Store(true)
	if c.shell.pending.Load() == 0 {
		c.Send(c.Self(), passivateNow{})
	}
}

// WaitDurable blocks the entity until every write it submitted is durable. For rare operations that
// must read their own earlier writes back from the store (idempotency checks); never on a hot path.
func (c *Context) WaitDurable() error {
	if c.shell.pending.Load() == 0 {
		return nil
	}
	done := make(chan error, 1)
	c.Persist(nil, func(err error) { done <- err })
	return <-done
}
