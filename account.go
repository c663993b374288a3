package kaquan

import (
	"context"
	"fmt"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/actors/account"
	"github.com/kaquan/kaquan/messages"
)

// AccountStatus is whether an account takes payments: active, frozen (no debits or credits until
// unfrozen) or closed (for good).
type AccountStatus = messages.AccountStatus

// The account statuses.
const (
	AccountActive = messages.AccountStatus_ACCOUNT_STATUS_ACTIVE
	AccountFrozen = messages.AccountStatus_ACCOUNT_STATUS_FROZEN
	AccountClosed = messages.AccountStatus_ACCOUNT_STATUS_CLOSED
)

// CreateAccount opens an account, with a caller-chosen id, for an existing user or merchant.
type CreateAccount struct {
	ID    uint64
	Owner uint64
}

// AccountInfo is an account and its balance.
type AccountInfo = account.Snapshot

// CreateAccount opens an account. Creating the same account again returns it.
func (e *Engine) CreateAccount(ctx context.Context, req CreateAccount) (*messages.Account, error) {
	if err := e.reach(actors.AccountID(req.ID)); err != nil {
		return nil, err
	}
	if req.ID == 0 {
		return nil, fmt.Errorf("%w: account id 0", ErrInvalidArgument)
	}
	end, err := e.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	owner, err := e.party(ctx, req.Owner)
	if err != nil {
		return nil, err
	}
	return ask[*messages.Account](ctx, e, actors.AccountID(req.ID), account.Create{Owner: owner.Id, Kind: owner.Kind, Now: e.now()})
}

// Deposit is money entering an account from outside; Key makes it idempotent per account.
type Deposit struct {
	Account uint64
	Amount  int64
	Key     string
}

// Withdrawal is money leaving an account to outside; Key makes it idempotent per account.
type Withdrawal = Deposit

// Deposit credits money from outside. A retry with the same key returns the first entry.
func (e *Engine) Deposit(ctx context.Context, req Deposit) (*messages.LedgerEntry, error) {
	return e.transfer(ctx, req, 1)
}

// Withdraw debits money to outside. A retry with the same key returns the first entry.
func (e *Engine) Withdraw(ctx context.Context, req Withdrawal) (*messages.LedgerEntry, error) {
	return e.transfer(ctx, req, -1)
}

func (e *Engine) transfer(ctx context.Context, req Deposit, sign int64) (*messages.LedgerEntry, error) {
	if err := checkAmount(req.Amount); err != nil {
		return nil, err
	}
	if err := checkKey(req.Key); err != nil {
		return nil, err
	}
	prefix := "dep:"
	if sign < 0 {
		prefix = "wdr:"
	}
	return ask[*messages.LedgerEntry](ctx, e, actors.AccountID(req.Account), account.Transfer{Key: prefix + req.Key, Amount: sign * req.Amount, Now: e.now()})
}

// Account reads an account and its balance.
func (e *Engine) Account(ctx context.Context, id uint64) (AccountInfo, error) {
	info, err := ask[account.Snapshot](ctx, e, actors.AccountID(id), account.Get{})
	if err != nil {
		return AccountInfo{}, err
	}
	if info.Account == nil {
		return AccountInfo{}, fmt.Errorf("%w: account %d", ErrUnknownEntity, id)
	}
	return info, nil
}

// SetAccountStatus freezes, unfreezes or closes an account.
type SetAccountStatus struct {
	Account uint64
	Status  AccountStatus
}

// SetAccountStatus freezes, unfreezes or closes an account.
func (e *Engine) SetAccountStatus(ctx context.Context, req SetAccountStatus) (*messages.Account, error) {
	return ask[*messages.Account](ctx, e, actors.AccountID(req.Account), account.SetStatus{Status: req.Status})
}

func checkAmount(a int64) error {
	if a <= 0 || a > actors.AmountMax {
		return fmt.Errorf("%w: amount %d outside 1..%d", ErrInvalidArgument, a, actors.AmountMax)
	}
	return nil
}

func checkKey(k string) error {
	if k == "" || len(k) > actors.IdempotencyKeyBytesMax {
		return fmt.Errorf("%w: key of %d bytes, want 1..%d", ErrInvalidArgument, len(k), actors.IdempotencyKeyBytesMax)
	}
	for _, r := range k {
		if r < 0x21 || r > 0x7e {
			return fmt.Errorf("%w: key must be printable ASCII without spaces", ErrInvalidArgument)
		}
	}
	return nil
}
