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
	"github.com/kaquan/kaquan/actors/node"
	"github.com/kaquan/kaquan/actors/payment"
	"github.com/kaquan/kaquan/actors/pool"
	"github.com/kaquan/kaquan/actors/slot"
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
	link        nodeLink      // a cluster node's calls to the others (nil: none; foreign slots are refused)
	closeOnce   sync.Once
	closeErr    error
	recovered   atomic.Bool            // recovery finished: only then may Close mark a clean stop
	parties     [partyLocks]sync.Mutex // serialise changes to one party (creation, its secret), by id
	contactsMu  sync.Mutex             // serialises contact changes (keeps the per-user bound exact)
	fatal       chan struct{}
	fatalMu     sync.Once
	cause       error
	sweeper     sweeper
	kinds       facts[messages.PartyKind] // kinds of parties seen
	soldOut     facts[struct{}]           // templates whose stock ran out
	contacts    contactLists              // contact lists read
	cluster     *slot.Node                // this node's place in its cluster; nil on a single node
	node        *node.Node                // its transport to the other nodes; nil without peers
}

const cleanMarker = "clean-shutdown"

// closeWaitMax bounds how long a cluster node's Close waits for calls under way (a payment whose
// peer is down waits for it as long as the peer is down).
const closeWaitMax = 5 * time.Second

// Mailbox runs: long-lived workers, and protoactor's default batch of messages per run.
const (
	mailboxWorkers    = 128
	mailboxThroughput = 300
)

// Open opens (or creates) the engine whose data lives in dir, and resolves every payment a crash
// interrupted before it returns (a cluster node resumes them in the background, as its peers
// come up).
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
	if opts.Cluster != nil {
		n := opts.Cluster.node()
		e.cluster = &n
	}
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
	if opts.Cluster != nil && len(opts.Cluster.Peers) > 0 { // steps cross a network: they may repeat
		e.host.Settings.AtLeastOnce = true
		e.host.Settings.ResendAfter, e.host.Settings.ResendMax = clusterResendAfter, clusterResendMax
	}
	if opts.chaos != nil {
		e.host.Sender = actors.NewChaosSender(e.host.Router, *opts.chaos)
		e.host.Settings.AtLeastOnce = true
		e.host.Settings.ResendAfter, e.host.Settings.ResendMax = opts.resendAfter, 8*opts.resendAfter
	}
	if err := e.buildNode(); err != nil {
		e.Close()
		return nil, err
	}
	e.host.Owners = actors.NewOwners(store)
	e.host.Acceptances = actors.NewAcceptances(store)
	if err := e.checkLayout(); err != nil {
		e.Close()
		return nil, err
	}
	if err := e.startNode(); err != nil {
		e.Close()
		return nil, err
	}
	if err := e.indexPaymentCodes(); err != nil {
		e.Close()
		return nil, fmt.Errorf("index payment codes: %w", err)
	}
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
	e.sweeper.start(e.opts.GiftSweepEvery, e.sweep, e.opts.Logger)
	if !e.networked() {
		e.recovered.Store(true) // a cluster node's payments resume in the background (resumeInBackground)
	}
	return e, nil
}

// networked reports whether this node's entities talk to other nodes' (a cluster with peers).
func (e *Engine) networked() bool { return e.opts.Cluster != nil && len(e.opts.Cluster.Peers) > 0 }

// recover resumes every interrupted payment, unless the last shutdown was clean. On a cluster
// node they resume in the background: their participants may be on nodes that are not up yet,
// and Open must not wait for them.
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
	if e.networked() {
		go e.resumeInBackground(keys)
		return nil
	}
	return e.resume(context.Background(), keys)
}

// resumeInBackground resumes a cluster node's interrupted payments until each is done or the
// engine closes; only then may a Close mark a clean stop.
func (e *Engine) resumeInBackground(keys []string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-e.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := e.resume(ctx, keys); err != nil {
		if ctx.Err() == nil && e.Err() == nil {
			e.opts.Logger.Error("resuming interrupted payments", "err", err)
		}
		return
	}
	e.recovered.Store(true)
}

// resume drives the payments under keys to their end, RecoveryMax at once.
func (e *Engine) resume(ctx context.Context, keys []string) error {
	errs := make(chan error, len(keys))
	limit := make(chan struct{}, e.opts.RecoveryMax)
	for _, k := range keys {
		limit <- struct{}{}
		go func() {
			defer func() { <-limit }()
			_, err := e.call(ctx, actors.PaymentID(k), payment.Resume{Now: e.now()})
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
	// A cluster node does not wait for ever: a payment whose peer is down waits for it, and stays
	// STARTED on disk when the node stops; the next Open resumes it (no clean marker then).
	left, deadline := false, time.Now().Add(closeWaitMax)
	for (e.calls.Load() > 0 && e.Err() == nil) || e.using.Load() > 0 {
		if e.networked() && e.using.Load() == 0 && time.Now().After(deadline) {
			left = true
			e.opts.Logger.Warn("closing with calls under way: they resume at the next open", "calls", e.calls.Load())
			break
		}
		time.Sleep(time.Millisecond)
	}
	// A cluster node leaves only now, so that a call waiting on another node could finish, and
	// before the writer closes.
	e.stopSystem()
	e.workers.Stop()
	// An Open whose recovery failed leaves no marker: the next Open must recover again.
	if e.Err() == nil && e.recovered.Load() && !left {
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
	if err := e.owns(id); err != nil {
		if e.link == nil || !errors.Is(err, ErrWrongNode) {
			return nil, err
		}
		e.calls.Add(1) // Close lets calls to other nodes finish, as local ones
		defer e.calls.Add(-1)
		if e.isClosed() {
			return nil, fmt.Errorf("%w: closed", ErrEngineStopped)
		}
		return e.forward(ctx, id, msg)
	}
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

// ask is call with the answer's type checked in one place: T is what msg's handler answers (nil
// answers the zero T), and anything else is a bug.
// An answer from another node (the entity's slot is not here) is input, not an invariant: a type
// other than T is refused as the node's failure.
func ask[T any](ctx context.Context, e *Engine, id actors.ID, msg any) (T, error) {
	r, err := e.call(ctx, id, msg)
	if err != nil {
		var zero T
		return zero, err
	}
	v, ok := as[T](r)
	switch {
	case !ok && e.owns(id) != nil:
		return v, fmt.Errorf("%w: %v answered %T to %T, want %T", ErrUnavailable, id, r, msg, v)
	case !ok:
		actors.Invariant(false, fmt.Sprintf("%v answered %T to %T, want %T", id, r, msg, v))
	}
	return v, nil
}

// as is answer r as a T (nil answers the zero T); ok is false for an answer of another type.
func as[T any](r any) (v T, ok bool) {
	if r == nil {
		return v, true
	}
	v, ok = r.(T)
	return v, ok
}

// begin admits one call that uses the store or the writer, failing fast when the engine cannot take
// calls: Close waits until every call admitted has ended (end must be called once), so none runs
// into a closed store.
func (e *Engine) begin(ctx context.Context) (end func(), err error) {
	e.using.Add(1)
	end = func() { e.using.Add(-1) }
	switch {
	case ctx.Err() != nil:
		err = ctx.Err()
	case e.isClosed():
		err = fmt.Errorf("%w: closed", ErrEngineStopped)
	case e.Err() != nil:
		err = fmt.Errorf("%w: %w", ErrEngineStopped, e.Err())
	}
	if err != nil {
		end()
		return nil, err
	}
	return end, nil
}
