// Package account is the resource-account entity: balance, ledger, status and payment codes.
// state.go is the pure state machine; actor.go is its shell.
package account

import (
	"fmt"
	"math"
	"time"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/messages"
	"google.golang.org/protobuf/proto"
)

// State is an account in memory. Account is nil while the account does not exist.
type State struct {
	Account *messages.Account
	Balance int64
	Seq     uint64 // newest ledger entry
}

// DecideCreate checks the creation of account id owned by owner.
func DecideCreate(s *State, id, owner uint64, kind messages.PartyKind, now int64) (*messages.Account, error) {
	if s.Account != nil {
		if s.Account.OwnerId == owner && s.Account.OwnerKind == kind {
			return nil, nil // idempotent retry
		}
		return nil, fmt.Errorf("%w: account %d belongs to another owner", actors.ErrExists, id)
	}
	return &messages.Account{Id: id, OwnerId: owner, OwnerKind: kind,
		Status: messages.AccountStatus_ACCOUNT_STATUS_ACTIVE, CreatedAt: now}, nil
}

// DecidePost checks one ledger entry of amount (credit > 0, debit < 0) for transfer. force admits a
// credit to a frozen or closed account, and past BalanceMax (never past int64): a reversal or a
// refund returns money this account paid, and the payment cannot take it back if it is refused
// (deposits may have filled the account in between).
func DecidePost(s *State, transfer string, kind messages.EntryKind, amount int64, counter uint64, now int64, force bool) (*messages.LedgerEntry, error) {
	switch {
	case s.Account == nil:
		return nil, fmt.Errorf("%w: account", actors.ErrUnknownEntity)
	case amount == 0 || amount > actors.AmountMax || amount < -actors.AmountMax:
		return nil, fmt.Errorf("%w: amount %d outside ±1..%d", actors.ErrInvalidArgument, amount, actors.AmountMax)
	case transfer == "":
		return nil, fmt.Errorf("%w: empty transfer", actors.ErrInvalidArgument)
	case s.Account.Status != messages.AccountStatus_ACCOUNT_STATUS_ACTIVE && !(force && amount > 0):
		return nil, fmt.Errorf("%w: %s", actors.ErrAccountNotActive, s.Account.Status)
	case amount < 0 && s.Balance+amount < 0:
		return nil, fmt.Errorf("%w: balance %d, debit %d", actors.ErrInsufficientFunds, s.Balance, -amount)
	case amount > 0 && !force && s.Balance > actors.BalanceMax-amount,
		amount > 0 && s.Balance > math.MaxInt64-amount:
		return nil, fmt.Errorf("%w: balance %d, credit %d", actors.ErrBalanceLimit, s.Balance, amount)
	}
	return &messages.LedgerEntry{AccountId: s.Account.Id, Seq: s.Seq + 1, Amount: amount,
		BalanceAfter: s.Balance + amount, Kind: kind, Transfer: transfer, CounterAccount: counter, At: now}, nil
}

// ApplyEntry folds a posted entry into s. Live traffic and activation both call it.
func ApplyEntry(s *State, e *messages.LedgerEntry) {
	actors.Invariant(e.Seq == s.Seq+1, "ledger entries apply in sequence")
	actors.Invariant(e.BalanceAfter == s.Balance+e.Amount && e.BalanceAfter >= 0, "entry balance follows from the previous one")
	s.Seq, s.Balance = e.Seq, e.BalanceAfter
}

// DecideStatus checks a status change. A closed account stays closed; closing needs a zero balance.
func DecideStatus(s *State, status messages.AccountStatus) error {
	switch {
	case s.Account == nil:
		return fmt.Errorf("%w: account", actors.ErrUnknownEntity)
	case status < messages.AccountStatus_ACCOUNT_STATUS_ACTIVE || status > messages.AccountStatus_ACCOUNT_STATUS_CLOSED:
		return fmt.Errorf("%w: status %s", actors.ErrInvalidArgument, status)
	case s.Account.Status == messages.AccountStatus_ACCOUNT_STATUS_CLOSED && status != s.Account.Status:
		return fmt.Errorf("%w: account is closed", actors.ErrAccountNotActive)
	case status == messages.AccountStatus_ACCOUNT_STATUS_CLOSED && s.Balance != 0:
		return fmt.Errorf("%w: closing needs a zero balance, have %d", actors.ErrInvalidArgument, s.Balance)
	}
	return nil
}

// DecideIssueCode checks issuing payment code code (optionally naming card) for the account's owner.
func DecideIssueCode(s *State, owner uint64, code string, card uint64, now int64, ttl time.Duration) (*messages.PaymentCode, error) {
	switch {
	case s.Account == nil:
		return nil, fmt.Errorf("%w: account", actors.ErrUnknownEntity)
	case s.Account.OwnerId != owner:
		return nil, fmt.Errorf("%w: account %d is not yours", actors.ErrPermissionDenied, s.Account.Id)
	case s.Account.OwnerKind != messages.PartyKind_PARTY_KIND_USER:
		// A merchant paying into its own account would put both sides of one transfer on one
		// account, where recovery cannot tell the debit from the credit.
		return nil, fmt.Errorf("%w: payment codes are for users' accounts, %d is a %s's", actors.ErrPermissionDenied, s.Account.Id, s.Account.OwnerKind)
	case s.Account.Status != messages.AccountStatus_ACCOUNT_STATUS_ACTIVE:
		return nil, fmt.Errorf("%w: %s", actors.ErrAccountNotActive, s.Account.Status)
	case !actors.IsPaymentCode(code):
		return nil, fmt.Errorf("%w: payment code must be %d digits", actors.ErrInvalidArgument, actors.PaymentCodeDigits)
	}
	active := 0
	for _, c := range s.Account.Codes {
		if c.ExpiresAt > now {
			active++
		}
		if c.Code == code {
			return nil, fmt.Errorf("%w: payment code collision", actors.ErrExists)
		}
	}
	if active >= actors.PaymentCodesPerAccountMax {
		return nil, fmt.Errorf("%w: %d active", actors.ErrCodeLimit, active)
	}
	return &messages.PaymentCode{Code: code, AccountId: s.Account.Id, CardId: card, ExpiresAt: now + int64(ttl)}, nil
}

// ApplyCode records a new code, or forgets a just-used one (its durable record is the code index
// entry, so the account stays small), and forgets expired ones.
func ApplyCode(s *State, pc *messages.PaymentCode, now int64) {
	codes := s.Account.Codes[:0]
	for _, c := range s.Account.Codes {
		if c.Code != pc.Code && c.ExpiresAt > now {
			codes = append(codes, c)
		}
	}
	if pc.UsedBy == "" && pc.ExpiresAt > now {
		codes = append(codes, pc)
	}
	s.Account.Codes = codes
}

// ActiveCode returns the account's unused code code, or nil.
func ActiveCode(s *State, code string) *messages.PaymentCode {
	if s.Account == nil {
		return nil
	}
	for _, c := range s.Account.Codes {
		if c.Code == code {
			return c
		}
	}
	return nil
}

// DecideConsumeCode checks the use of code by payment at now; it returns the code as used. record
// is the code's durable index entry, which the shell reads only when the code is not active: it
// tells a used code (and the payment that used it, for recovery) from an expired one.
func DecideConsumeCode(s *State, code, payment string, now int64, record *messages.PaymentCode) (*messages.PaymentCode, error) {
	if s.Account == nil {
		return nil, actors.ErrCodeUnknown
	}
	if c := ActiveCode(s, code); c != nil {
		if now >= c.ExpiresAt {
			return nil, actors.ErrCodeExpired
		}
		used := proto.Clone(c).(*messages.PaymentCode)
		used.UsedBy = payment
		return used, nil
	}
	switch {
	case record == nil || record.Code != code || record.AccountId != s.Account.Id:
		return nil, actors.ErrCodeExpired // the index named this account, which no longer has the code
	case record.UsedBy == payment:
		return record, nil // the same payment asking again (recovery)
	case record.UsedBy != "":
		return nil, actors.ErrCodeUsed
	}
	return nil, actors.ErrCodeExpired
}
