package account

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
	"google.golang.org/protobuf/proto"
)

// Requests of the embedding API (sent as actors.Call) besides the commands in state.go.
type (
	// Transfer is a deposit (Amount > 0) or withdrawal (Amount < 0) with an idempotency key.
	// Replies *messages.LedgerEntry (the first one, on a retry).
	Transfer struct {
		Key    string
		Amount int64
		Now    int64
	}
	// Get replies a Snapshot.
	Get struct{}
)

// Snapshot is an account as a query sees it.
type Snapshot struct {
	Account *messages.Account
	Balance int64
	Seq     uint64
}

type behavior struct {
	s State
	// What this activation answered transfers whose records may not be durable yet (the store
	// cannot tell them), kept only where steps may repeat (Settings.AtLeastOnce): recent by
	// transfer, in order of writing; durable is the number of the last write acknowledged.
	recent  map[string]Prior
	order   []recentWrite
	writes  uint64
	durable atomic.Uint64
}

type recentWrite struct {
	transfer string
	n        uint64
}

func (b *behavior) Busy() bool { return false }

// Absent reports that the account does not exist (see actors.Absenter).
func (b *behavior) Absent() bool { return b.s.Account == nil }

func (b *behavior) Receive(c *actors.Context, msg any) {
	switch m := msg.(type) {
	case *messages.Post:
		b.handlePost(c, m)
	case *messages.ConsumeCode:
		b.handleConsumeCode(c, m)
	case *messages.FindEntry:
		b.handleFindEntry(c, m)
	case *actors.Call:
		b.handleCall(c, m)
	}
}

func (b *behavior) handleCall(c *actors.Context, call *actors.Call) {
	switch m := call.Msg.(type) {
	case Create:
		b.handleCreate(c, call, m)
	case Transfer:
		b.handleTransfer(c, call, m)
	case IssueCode:
		b.handleIssueCode(c, call, m)
	case SetStatus:
		b.handleSetStatus(c, call, m)
	case Get:
		snap := Snapshot{Account: cloneAccount(b.s.Account), Balance: b.s.Balance, Seq: b.s.Seq}
		c.AfterDurable(func(err error) { call.Respond(snap, err) })
	default:
		call.Respond(nil, fmt.Errorf("%w: account cannot handle %T", actors.ErrInvalidArgument, m))
	}
}

func (b *behavior) handleCreate(c *actors.Context, call *actors.Call, m Create) {
	ch, err := Decide(&b.s, m, m.Now)
	if err != nil || ch.IsZero() {
		snap := cloneAccount(b.s.Account)
		c.AfterDurable(func(e error) { call.Respond(snap, errors.Join(err, e)) })
		return
	}
	Apply(&b.s, ch)
	snap := cloneAccount(b.s.Account)
	c.Persist(entries(&b.s, ch), func(err error) { call.Respond(snap, err) })
}

func (b *behavior) handleTransfer(c *actors.Context, call *actors.Call, m Transfer) {
	// Retries are rare: wait for our own writes so the store answers whether the key was used.
	if err := c.WaitDurable(); err != nil {
		call.Respond(nil, err)
		return
	}
	first, err := readEntry(c.Host().Store, c.ID().Num, m.Key)
	if err != nil || first != nil {
		if err == nil && first.Amount != m.Amount {
			err = fmt.Errorf("%w: key %q was used for amount %d", actors.ErrExists, m.Key, first.Amount)
		}
		call.Respond(first, err)
		return
	}
	kind := messages.EntryKind_ENTRY_KIND_DEPOSIT
	if m.Amount < 0 {
		kind = messages.EntryKind_ENTRY_KIND_WITHDRAWAL
	}
	ch, err := Decide(&b.s, Post{Transfer: m.Key, Kind: kind, Amount: m.Amount}, m.Now)
	if err != nil {
		call.Respond(nil, err)
		return
	}
	Apply(&b.s, ch)
	e := ch.Entry
	c.Persist(entries(&b.s, ch), func(err error) { call.Respond(e, err) })
}

func (b *behavior) handlePost(c *actors.Context, m *messages.Post) {
	cmd := Post{Transfer: m.Transfer, Kind: m.Kind, Amount: m.Amount, Counter: m.CounterAccount, Force: m.Force}
	repeats := c.Host().Settings.AtLeastOnce
	if repeats || m.Again { // the step may have been answered before: answer it the same way
		prior, err := b.prior(c, m.Transfer)
		if err != nil {
			c.Host().Fatal(fmt.Errorf("transfer %q: %w", m.Transfer, err))
			return
		}
		if prior.Known() {
			r, seq := RepeatPost(prior, cmd)
			b.answerPost(c, m, r, seq)
			return
		}
	}
	ch, err := Decide(&b.s, cmd, m.Now)
	if err != nil {
		r := actors.ResultOf(err)
		if repeats && b.s.Account != nil { // a repeat must not succeed where the first was refused
			b.remember(c, m.Transfer, Prior{Refused: r}, []persistence.Entry{refusalRecord(b.s.ID, m.Transfer, r)})
		}
		b.answerPost(c, m, r, 0)
		return
	}
	Apply(&b.s, ch)
	b.remember(c, m.Transfer, Prior{Entry: ch.Entry}, entries(&b.s, ch))
	// Replying before the write is durable is safe on one node: the writer commits in submission
	// order, so any write the payment makes because of this reply lands after this entry (see the
	// package doc of actors). A reply leaving the node waits for it (the cluster's Sender).
	b.answerPost(c, m, messages.PaymentResult_PAYMENT_RESULT_OK, ch.Entry.Seq)
}

// answerPost replies to the payment that posted, by its identity.
func (b *behavior) answerPost(c *actors.Context, m *messages.Post, r messages.PaymentResult, seq uint64) {
	c.AnswerPayment(m.Payment, &messages.Posted{Result: r, Seq: seq, Account: b.s.ID, Transfer: m.Transfer})
}

// prior is what the account answered transfer before: from this activation's writes not yet
// durable, else from the store. Without AtLeastOnce nothing is remembered, so the entity's own
// writes are waited for first (a recovered payment's rare steps).
func (b *behavior) prior(c *actors.Context, transfer string) (Prior, error) {
	if !c.Host().Settings.AtLeastOnce {
		if err := c.WaitDurable(); err != nil {
			return Prior{}, err
		}
		return readPrior(c.Host().Store, b.s.ID, transfer)
	}
	b.settle()
	if p, ok := b.recent[transfer]; ok {
		return p, nil
	}
	return readPrior(c.Host().Store, b.s.ID, transfer)
}

// remember persists the records of answering transfer with p and, where steps may repeat, keeps p
// until they are durable (the store answers from then on).
func (b *behavior) remember(c *actors.Context, transfer string, p Prior, es []persistence.Entry) {
	if !c.Host().Settings.AtLeastOnce {
		c.Persist(es, nil)
		return
	}
	if b.recent == nil {
		b.recent = map[string]Prior{}
	}
	b.writes++
	n := b.writes
	b.recent[transfer] = p
	b.order = append(b.order, recentWrite{transfer: transfer, n: n})
	c.Persist(es, func(err error) {
		if err != nil {
			return
		}
		for d := b.durable.Load(); d < n && !b.durable.CompareAndSwap(d, n); d = b.durable.Load() {
		}
	})
}

// settle forgets the answers whose records are durable.
func (b *behavior) settle() {
	d, i := b.durable.Load(), 0
	for ; i < len(b.order) && b.order[i].n <= d; i++ {
		delete(b.recent, b.order[i].transfer)
	}
	if i > 0 {
		b.order = append(b.order[:0], b.order[i:]...)
	}
}

func (b *behavior) handleIssueCode(c *actors.Context, call *actors.Call, m IssueCode) {
	ch, err := Decide(&b.s, m, m.Now)
	if err == nil {
		_, err = c.Host().Store.Get(persistence.PaymentCodeKey(m.Code))
		if err == nil {
			err = fmt.Errorf("%w: payment code collision", actors.ErrExists)
		} else if errors.Is(err, persistence.ErrNotFound) {
			err = nil
		}
	}
	if err != nil {
		call.Respond(nil, err)
		return
	}
	Apply(&b.s, ch)
	pc := ch.Code
	c.Persist(entries(&b.s, ch), func(err error) { call.Respond(pc, err) })
}

func (b *behavior) handleConsumeCode(c *actors.Context, m *messages.ConsumeCode) {
	cmd := ConsumeCode{Code: m.Code, Payment: m.Payment}
	if ActiveCode(&b.s, m.Code) == nil { // rare: a used, expired or recovered code
		if err := c.WaitDurable(); err != nil { // our own last writes first
			c.Host().Fatal(fmt.Errorf("payment code record: %w", err))
			return
		}
		record, err := readCodeRecord(c.Host().Store, m.Code)
		if err != nil {
			c.Host().Fatal(fmt.Errorf("payment code record: %w", err))
			return
		}
		cmd.Record = record
	}
	ch, err := Decide(&b.s, cmd, m.Now)
	if err != nil {
		c.AnswerPayment(m.Payment, &messages.CodeConsumed{Result: actors.ResultOf(err), Code: m.Code})
		return
	}
	Apply(&b.s, ch)
	c.Persist(entries(&b.s, ch), nil)
	c.AnswerPayment(m.Payment, &messages.CodeConsumed{Result: messages.PaymentResult_PAYMENT_RESULT_OK,
		CardId: ch.Code.CardId, PayerId: b.s.Account.OwnerId, Code: m.Code})
}

// handleFindEntry answers whether the account holds an entry of the transfer. With Fence, an
// account that holds none records that it never will (a refusal, INTERRUPTED) before it answers,
// so a Post of it still on its way is refused when it comes.
func (b *behavior) handleFindEntry(c *actors.Context, m *messages.FindEntry) {
	if err := c.WaitDurable(); err != nil {
		return // the engine is stopping; the asker is stopped with it
	}
	b.settle()
	p, ok := b.recent[m.Transfer]
	if !ok {
		var err error
		if p, err = readPrior(c.Host().Store, b.s.ID, m.Transfer); err != nil {
			c.Host().Fatal(fmt.Errorf("find entry %q: %w", m.Transfer, err))
			return
		}
	}
	if m.Fence && !p.Known() && b.s.Account != nil && m.Transfer != "" {
		r := messages.PaymentResult_PAYMENT_RESULT_INTERRUPTED
		b.remember(c, m.Transfer, Prior{Refused: r}, []persistence.Entry{refusalRecord(b.s.ID, m.Transfer, r)})
	}
	c.AnswerPayment(m.Payment, &messages.EntryFound{Found: p.Entry != nil, Amount: p.Entry.GetAmount(), Account: b.s.ID, Transfer: m.Transfer})
}

func (b *behavior) handleSetStatus(c *actors.Context, call *actors.Call, m SetStatus) {
	ch, err := Decide(&b.s, m, 0) // a status change does not depend on the time
	if err != nil {
		call.Respond(nil, err)
		return
	}
	Apply(&b.s, ch)
	acc := cloneAccount(b.s.Account)
	c.Persist(entries(&b.s, ch), func(err error) { call.Respond(acc, err) })
}

func cloneAccount(a *messages.Account) *messages.Account {
	if a == nil {
		return nil
	}
	return proto.Clone(a).(*messages.Account)
}
