package account

import (
	"errors"
	"fmt"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
	"google.golang.org/protobuf/proto"
)

// Requests from the embedding API (sent as actors.Call).
type (
	// Create opens the account. Replies *messages.Account.
	Create struct {
		Owner uint64
		Kind  messages.PartyKind
		Now   int64
	}
	// Transfer is a deposit (Amount > 0) or withdrawal (Amount < 0) with an idempotency key.
	// Replies *messages.LedgerEntry (the first one, on a retry).
	Transfer struct {
		Key    string
		Amount int64
		Now    int64
	}
	// IssueCode issues a payment code. Replies *messages.PaymentCode.
	IssueCode struct {
		Owner uint64
		Code  string
		Card  uint64
		Now   int64
	}
	// SetStatus freezes, unfreezes or closes the account. Replies *messages.Account.
	SetStatus struct{ Status messages.AccountStatus }
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

// Load activates account id from the store.
func Load(id actors.ID, h *actors.Host) (actors.Behavior, error) {
	b := &behavior{}
	acc := &messages.Account{}
	err := h.Store.GetProto(persistence.AccountKey(id.Num), acc)
	if errors.Is(err, persistence.ErrNotFound) {
		return b, nil
	}
	if err != nil {
		return nil, err
	}
	b.s.Account = acc
	err = h.Store.Scan(persistence.LedgerPrefix(id.Num), true, func(_, v []byte) (bool, error) {
		e := &messages.LedgerEntry{}
		if err := proto.Unmarshal(v, e); err != nil {
			return false, err
		}
		b.s.Seq, b.s.Balance = e.Seq, e.BalanceAfter
		return false, nil
	})
	return b, err
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
	acc, err := DecideCreate(&b.s, c.ID().Num, m.Owner, m.Kind, m.Now)
	if err != nil || acc == nil {
		snap := cloneAccount(b.s.Account)
		c.AfterDurable(func(e error) { call.Respond(snap, errors.Join(err, e)) })
		return
	}
	b.s.Account = acc
	b.persistAccount(c, func(err error) { call.Respond(proto.Clone(acc), err) })
}

func (b *behavior) handleTransfer(c *actors.Context, call *actors.Call, m Transfer) {
	// Retries are rare: wait for our own writes so the store answers whether the key was used.
	if err := c.WaitDurable(); err != nil {
		call.Respond(nil, err)
		return
	}
	first, err := b.entryOf(c, m.Key)
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
	e, err := DecidePost(&b.s, m.Key, kind, m.Amount, 0, m.Now, false)
	if err != nil {
		call.Respond(nil, err)
		return
	}
	b.post(c, e, func(err error) { call.Respond(e, err) })
}

// entryOf returns the durable entry of a transfer on this account, or nil.
func (b *behavior) entryOf(c *actors.Context, transfer string) (*messages.LedgerEntry, error) {
	h := c.Host()
	v, err := h.Store.Get(persistence.TransferKey(c.ID().Num, transfer))
	if errors.Is(err, persistence.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	seq, ok := persistence.ParseUint64(v)
	actors.Invariant(ok, "transfer index holds a sequence number")
	e := &messages.LedgerEntry{}
	if err := h.Store.GetProto(persistence.LedgerKey(c.ID().Num, seq), e); err != nil {
		return nil, fmt.Errorf("ledger entry %d of transfer %q: %w", seq, transfer, err)
	}
	return e, nil
}

func (b *behavior) handlePost(c *actors.Context, m *messages.Post) {
	e, err := DecidePost(&b.s, m.Transfer, m.Kind, m.Amount, m.CounterAccount, m.Now, m.Force)
	if err != nil {
		c.Respond(&messages.Posted{Result: actors.ResultOf(err)})
		return
	}
	b.post(c, e, nil)
	// Replying before the write is durable is safe: the writer commits in submission order, so any
	// write the payment makes because of this reply lands after this entry (see README, Persistence).
	c.Respond(&messages.Posted{Result: messages.PaymentResult_PAYMENT_RESULT_OK, Seq: e.Seq})
}

func (b *behavior) post(c *actors.Context, e *messages.LedgerEntry, done func(error)) {
	ApplyEntry(&b.s, e)
	v, err := proto.Marshal(e)
	actors.Invariant(err == nil, "ledger entry marshals")
	c.Persist([]persistence.Entry{
		{Key: persistence.LedgerKey(e.AccountId, e.Seq), Value: v},
		{Key: persistence.TransferKey(e.AccountId, e.Transfer), Value: persistence.Uint64(e.Seq)},
	}, done)
}

func (b *behavior) handleIssueCode(c *actors.Context, call *actors.Call, m IssueCode) {
	pc, err := DecideIssueCode(&b.s, m.Owner, m.Code, m.Card, m.Now, c.Host().Settings.PaymentCodeTTL)
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
	ApplyCode(&b.s, pc, m.Now)
	b.persistAccount(c, func(err error) { call.Respond(pc, err) }, codeRecord(pc))
}

// codeRecord is the code index entry: it routes a payment to the payer's account and, once the
// code is used, remembers by which payment.
func codeRecord(pc *messages.PaymentCode) persistence.Entry {
	v, err := proto.Marshal(pc)
	actors.Invariant(err == nil, "payment code marshals")
	return persistence.Entry{Key: persistence.PaymentCodeKey(pc.Code), Value: v}
}

// recordOf reads the durable index entry of a code this account no longer holds (nil if none).
func recordOf(c *actors.Context, code string) (*messages.PaymentCode, error) {
	if err := c.WaitDurable(); err != nil { // our own last writes first
		return nil, err
	}
	pc := &messages.PaymentCode{}
	err := c.Host().Store.GetProto(persistence.PaymentCodeKey(code), pc)
	if errors.Is(err, persistence.ErrNotFound) {
		return nil, nil
	}
	return pc, err
}

func (b *behavior) handleConsumeCode(c *actors.Context, m *messages.ConsumeCode) {
	var record *messages.PaymentCode
	if ActiveCode(&b.s, m.Code) == nil { // rare: a used, expired or recovered code
		var err error
		if record, err = recordOf(c, m.Code); err != nil {
			c.Host().Fatal(fmt.Errorf("payment code record: %w", err))
			return
		}
	}
	pc, err := DecideConsumeCode(&b.s, m.Code, m.Payment, m.Now, record)
	if err != nil {
		c.Respond(&messages.CodeConsumed{Result: actors.ResultOf(err)})
		return
	}
	ApplyCode(&b.s, pc, m.Now)
	b.persistAccount(c, nil, codeRecord(pc))
	c.Respond(&messages.CodeConsumed{Result: messages.PaymentResult_PAYMENT_RESULT_OK, CardId: pc.CardId, PayerId: b.s.Account.OwnerId})
}

func (b *behavior) handleFindEntry(c *actors.Context, m *messages.FindEntry) {
	if err := c.WaitDurable(); err != nil {
		return // the engine is stopping; the asker is stopped with it
	}
	e, err := b.entryOf(c, m.Transfer)
	if err != nil {
		c.Host().Fatal(fmt.Errorf("find entry %q: %w", m.Transfer, err))
		return
	}
	c.Respond(&messages.EntryFound{Found: e != nil, Amount: e.GetAmount()})
}

func (b *behavior) handleSetStatus(c *actors.Context, call *actors.Call, m SetStatus) {
	if err := DecideStatus(&b.s, m.Status); err != nil {
		call.Respond(nil, err)
		return
	}
	b.s.Account.Status = m.Status
	acc := cloneAccount(b.s.Account)
	b.persistAccount(c, func(err error) { call.Respond(acc, err) })
}

func (b *behavior) persistAccount(c *actors.Context, done func(error), extra ...persistence.Entry) {
	v, err := proto.Marshal(b.s.Account)
	actors.Invariant(err == nil, "account marshals")
	c.Persist(append(extra, persistence.Entry{Key: persistence.AccountKey(b.s.Account.Id), Value: v}), done)
}

func cloneAccount(a *messages.Account) *messages.Account {
	if a == nil {
		return nil
	}
	return proto.Clone(a).(*messages.Account)
}
