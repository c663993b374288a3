package account

import (
	"errors"
	"fmt"

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

type behavior struct{ s State }

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
	ch, err := Decide(&b.s, Post{Transfer: m.Transfer, Kind: m.Kind, Amount: m.Amount, Counter: m.CounterAccount, Force: m.Force}, m.Now)
	if err != nil {
		c.Respond(&messages.Posted{Result: actors.ResultOf(err)})
		return
	}
	Apply(&b.s, ch)
	c.Persist(entries(&b.s, ch), nil)
	// Replying before the write is durable is safe: the writer commits in submission order, so any
	// write the payment makes because of this reply lands after this entry (see the package doc of
	// actors).
	c.Respond(&messages.Posted{Result: messages.PaymentResult_PAYMENT_RESULT_OK, Seq: ch.Entry.Seq})
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
		c.Respond(&messages.CodeConsumed{Result: actors.ResultOf(err)})
		return
	}
	Apply(&b.s, ch)
	c.Persist(entries(&b.s, ch), nil)
	c.Respond(&messages.CodeConsumed{Result: messages.PaymentResult_PAYMENT_RESULT_OK, CardId: ch.Code.CardId, PayerId: b.s.Account.OwnerId})
}

func (b *behavior) handleFindEntry(c *actors.Context, m *messages.FindEntry) {
	if err := c.WaitDurable(); err != nil {
		return // the engine is stopping; the asker is stopped with it
	}
	e, err := readEntry(c.Host().Store, c.ID().Num, m.Transfer)
	if err != nil {
		c.Host().Fatal(fmt.Errorf("find entry %q: %w", m.Transfer, err))
		return
	}
	c.Respond(&messages.EntryFound{Found: e != nil, Amount: e.GetAmount()})
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
