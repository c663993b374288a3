// Package kaquan is the embedding API of the kaquan transaction engine: cards, coupons and
// card-validated payments, each account, template, card and payment an actor, every acknowledged
// change durable in Badger.
package kaquan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/actors/account"
	"github.com/kaquan/kaquan/actors/card"
	"github.com/kaquan/kaquan/actors/payment"
	"github.com/kaquan/kaquan/actors/pool"
	"github.com/kaquan/kaquan/actors/template"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
	"google.golang.org/protobuf/proto"
)

// Engine is one kaquan node embedded in a Go program. All methods are safe for concurrent use.
type Engine struct {
	dir    string
	opts   Options
	store  *persistence.Store
	writer *persistence.Writer
	system *actor.ActorSystem
	host   *actors.Host
	// workers run the mailboxes: enough for every call in flight to be handled at once.
	workers *actors.Workers

	slots       chan struct{} // one per call under way: bounds every mailbox together
	imageChecks chan struct{} // one per new gift image being decoded (imageChecksMax)
	checkImage  func([]byte) (card.Image, error)
	calls       atomic.Int64  // calls under way, including abandoned ones still running
	using       atomic.Int64  // calls admitted by begin, which use the store or writer: Close always waits for them
	closing     chan struct{} // closed when Close begins
	closeOnce   sync.Once
	closeErr    error
	recovered   bool                   // Open finished its recovery: only then may Close mark a clean stop
	parties     [partyLocks]sync.Mutex // serialise changes to one party (creation, its secret), by id
	contactsMu  sync.Mutex             // serialises contact changes (keeps the per-user bound exact)
	fatal       chan struct{}
	fatalMu     sync.Once
	cause       error
	sweeper     sweeper
	kinds       facts[messages.PartyKind] // kinds of parties seen
	soldOut     facts[struct{}]           // templates whose stock ran out
	contacts    contactLists              // contact lists read
}

const cleanMarker = "clean-shutdown"

// Mailbox runs: long-lived workers, and protoactor's default batch of messages per run.
const (
	mailboxWorkers    = 128
	mailboxThroughput = 300
)

// Open opens (or creates) the engine whose data lives in dir, and resolves every payment a crash
// interrupted before it returns.
func Open(dir string, opts Options) (*Engine, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	store, err := persistence.Open(dir, opts.Durability, opts.Logger)
	if err != nil {
		return nil, err
	}
	writer, err := persistence.NewWriter(store, opts.Writer)
	if err != nil {
		store.Close()
		return nil, err
	}
	e := &Engine{dir: dir, opts: opts, store: store, writer: writer, slots: make(chan struct{}, opts.InflightMax), imageChecks: make(chan struct{}, imageChecksMax), closing: make(chan struct{}), checkImage: card.CheckImage, fatal: make(chan struct{}),
		kinds: facts[messages.PartyKind]{max: partyKindsMax}, soldOut: facts[struct{}]{max: soldOutMax}}
	e.system = actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quietLogger(opts.Logger) }))
	e.workers = actors.NewWorkers(mailboxWorkers, mailboxThroughput)
	e.host = &actors.Host{
		System: e.system, Store: store, Writer: writer, Logger: opts.Logger, Fatal: e.stop, Dispatcher: e.workers,
		Settings: actors.Settings{IdleTimeout: opts.IdleTimeout, PaymentCodeTTL: opts.PaymentCodeTTL, Now: func() int64 { return opts.Clock().UnixNano() }},
		Producers: map[actors.Kind]actors.Producer{
			actors.KindAccount: account.Load, actors.KindTemplate: template.Load,
			actors.KindCard: card.Load, actors.KindPayment: payment.Load, actors.KindPool: pool.Load,
		},
	}
	e.host.Router = actors.NewRouter(e.host)
	e.host.Sender = e.host.Router
	e.host.Owners = actors.NewOwners(store)
	if err := e.recover(); err != nil {
		e.Close()
		return nil, fmt.Errorf("recover: %w", err)
	}
	if err := e.recoverRewards(); err != nil {
		e.Close()
		return nil, fmt.Errorf("recover rewards: %w", err)
	}
	// Offers that timed out while the engine was down go back first.
	if err := e.sweepGiftOffers(context.Background()); err != nil {
		e.Close()
		return nil, fmt.Errorf("gift offers: %w", err)
	}
	e.sweeper.start(e.opts.GiftSweepEvery, e.sweepGiftOffers, e.opts.Logger)
	e.recovered = true
	return e, nil
}

// recover resumes every interrupted payment, unless the last shutdown was clean.
func (e *Engine) recover() error {
	if _, err := e.store.Get(persistence.MarkerKey(cleanMarker)); err == nil {
		return e.put(persistence.Entry{Key: persistence.MarkerKey(cleanMarker), Delete: true})
	}
	var keys []string
	err := e.store.Scan([]byte{persistence.PrefixPayment}, false, func(k, v []byte) (bool, error) {
		p := &messages.Payment{}
		if err := proto.Unmarshal(v, p); err != nil {
			return false, fmt.Errorf("payment %q: %w", k[1:], err)
		}
		if payment.InFlight(p) {
			keys = append(keys, p.Key)
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	if len(keys) > 0 {
		e.opts.Logger.Info("recovering interrupted payments", "count", len(keys))
	}
	errs := make(chan error, len(keys))
	limit := make(chan struct{}, e.opts.RecoveryMax)
	for _, k := range keys {
		limit <- struct{}{}
		go func() {
			defer func() { <-limit }()
			_, err := e.call(context.Background(), actors.PaymentID(k), payment.Resume{Now: e.now()})
			errs <- err
		}()
	}
	for range keys {
		if err := <-errs; err != nil {
			return err
		}
	}
	return nil
}

// put writes entries through the writer and waits until they are durable.
func (e *Engine) put(entries ...persistence.Entry) error {
	done := make(chan error, 1)
	if err := e.writer.Submit(&persistence.Write{Entries: entries, Done: func(err error) { done <- err }}); err != nil {
		return err
	}
	return <-done
}

// stop is the fail-stop path: after a failed write or a broken invariant nothing more is answered.
func (e *Engine) stop(cause error) {
	e.fatalMu.Do(func() {
		e.cause = cause
		e.opts.Logger.Error("engine stopped", "cause", cause)
		close(e.fatal)
	})
}

// Err reports why the engine stopped by itself, or nil.
func (e *Engine) Err() error {
	select {
	case <-e.fatal:
		return e.cause
	default:
		return nil
	}
}

// Close drains calls under way, commits what they wrote, and closes the store. A clean Close lets
// the next Open skip the recovery scan.
func (e *Engine) Close() error {
	e.closeOnce.Do(func() { e.closeErr = e.close() })
	return e.closeErr // a second, concurrent Close returns only once the first has finished
}

func (e *Engine) close() error {
	close(e.closing)
	e.sweeper.stop()
	// Every answer comes after its writes, and nothing is sent on after an answer, so once no call
	// is under way the actors are idle and the writer holds the rest.
	// After a failure, actor calls may never answer (they return on e.fatal); calls on the store
	// do return, and must, before the store closes under them.
	for (e.calls.Load() > 0 && e.Err() == nil) || e.using.Load() > 0 {
		time.Sleep(time.Millisecond)
	}
	e.system.Shutdown()
	e.workers.Stop()
	// An Open whose recovery failed leaves no marker: the next Open must recover again.
	if e.Err() == nil && e.recovered {
		// Without the marker (a failed put) the next Open only scans for interrupted payments.
		_ = e.put(persistence.Entry{Key: persistence.MarkerKey(cleanMarker), Value: []byte{1}})
	}
	werr := e.writer.Close()
	serr := e.store.Close()
	return errors.Join(werr, serr)
}

// isClosed reports whether Close has begun.
func (e *Engine) isClosed() bool {
	select {
	case <-e.closing:
		return true
	default:
		return false
	}
}

func (e *Engine) now() int64 { return e.opts.Clock().UnixNano() }

// call sends msg to entity id and waits for its answer, which comes once durable.
func (e *Engine) call(ctx context.Context, id actors.ID, msg any) (any, error) {
	e.calls.Add(1)
	if e.isClosed() {
		e.calls.Add(-1)
		return nil, fmt.Errorf("%w: closed", ErrEngineStopped)
	}
	select {
	case e.slots <- struct{}{}:
	case <-ctx.Done():
		e.calls.Add(-1)
		return nil, ctx.Err()
	case <-e.fatal:
		e.calls.Add(-1)
		return nil, fmt.Errorf("%w: %w", ErrEngineStopped, e.cause)
	}
	c := actors.NewCall(msg)
	e.host.Sender.Send(id, c, nil)
	finish := func() { <-e.slots; e.calls.Add(-1) }
	select {
	case r := <-c.Reply:
		finish()
		return r.Msg, r.Err
	case <-ctx.Done():
		// The call still runs to its end; its slot is freed when it answers.
		go func() { <-c.Reply; finish() }()
		return nil, fmt.Errorf("%w (the operation may still complete: retry with the same key)", ctx.Err())
	case <-e.fatal:
		return nil, fmt.Errorf("%w: %w", ErrEngineStopped, e.cause)
	}
}

// WriterStats reports the group-commit writer's counters.
func (e *Engine) WriterStats() persistence.WriterStats { return e.writer.Stats() }

// CallsInFlight reports the calls under way (each waits on an entity's mailbox or its write).
func (e *Engine) CallsInFlight() int64 { return e.calls.Load() }

// ActiveEntities reports how many entities (accounts, templates, cards, payments) are in memory.
func (e *Engine) ActiveEntities() int64 { return e.host.Router.Active() }

// Activations reports how many times an entity was loaded into memory since Open.
func (e *Engine) Activations() int64 { return e.host.Router.Activations() }

// Deliveries reports how many messages entities received since Open: calls, the messages entities
// send each other, and their replies (a card payment's saga is a dozen).
func (e *Engine) Deliveries() int64 { return e.host.Router.Delivered() }

// StoreReads reports the point reads that went to Badger since Open (those of writes still in
// memory after their commit are answered there and not counted).
func (e *Engine) StoreReads() int64 { return e.store.BadgerReads() }
