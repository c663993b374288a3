// Package account is the resource-account entity: balance, ledger, status and payment codes.
// state.go is the pure state machine (Decide and Apply); records.go what its changes write; actor.go
// its shell.
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
	ID      uint64 // the account's id, known before it exists
	Account *messages.Account
	Balance int64
	Seq     uint64        // newest ledger entry
	CodeTTL time.Duration // payment codes' time to live (the engine's setting)
}

// Command is what Decide takes: Create, Post, IssueCode, ConsumeCode or SetStatus. A request's Now
// is the time the shell passes to Decide; Decide reads only its now argument.
type Command interface{ isCommand() }

// Commands. Create, IssueCode and SetStatus are also requests of the embedding API (sent as
// actors.Call); Post and ConsumeCode come from payments (messages.Post, messages.ConsumeCode) and,
// for Post, from the API's Transfer.
type (
	// Create opens the account. Replies *messages.Account.
	Create struct {
		Owner uint64
		Kind  messages.PartyKind
		Now   int64
	}
	// Post is one ledger entry of Amount (credit > 0, debit < 0) for Transfer. Force admits a
	// credit to a frozen or closed account, and past BalanceMax (never past int64): a reversal or
	// a refund returns money this account paid, and the payment cannot take it back if it is
	// refused (deposits may have filled the account in between).
	Post struct {
		Transfer string
		Kind     messages.EntryKind
		Amount   int64
		Counter  uint64 // the counter-entry's account
		Force    bool
	}
	// IssueCode issues a payment code (optionally naming Card) for the account's owner. Replies
	// *messages.PaymentCode.
	IssueCode struct {
		Owner uint64
		Code  string
		Card  uint64
		Now   int64
	}
	// ConsumeCode uses Code for Payment. Record is the code's durable index entry, which the shell
	// reads only when the code is not active: it tells a used code (and the payment that used it,
	// for recovery) from an expired one.
	ConsumeCode struct {
		Code    string
		Payment string
		Record  *messages.PaymentCode
	}
	// SetStatus freezes, unfreezes or closes the account. Replies *messages.Account.
	SetStatus struct{ Status messages.AccountStatus }
)

// Prior is what the account answered a transfer before: the entry it posted, or the refusal it
// recorded (INTERRUPTED: recovery fenced the transfer). Zero: none.
type Prior struct {
	Entry   *messages.LedgerEntry
	Refused messages.PaymentResult
}

// Known reports whether the account answered the transfer before.
func (p Prior) Known() bool {
	return p.Entry != nil || p.Refused != messages.PaymentResult_PAYMENT_RESULT_UNSPECIFIED
}

// RepeatPost answers a Post of a transfer the account answered before (a resend, a duplicate
// from the network, or a recovered payment's step): the entry posted then if it is the same
// entry, else CONFLICT; the refusal recorded then. Nothing is written for a repeat.
func RepeatPost(prior Prior, p Post) (messages.PaymentResult, uint64) {
	if e := prior.Entry; e != nil {
		if e.Amount != p.Amount || e.Kind != p.Kind {
			return messages.PaymentResult_PAYMENT_RESULT_CONFLICT, 0
		}
		return messages.PaymentResult_PAYMENT_RESULT_OK, e.Seq
	}
	return prior.Refused, 0
}

func (Create) isCommand()      {}
func (Post) isCommand()        {}
func (IssueCode) isCommand()   {}
func (ConsumeCode) isCommand() {}
func (SetStatus) isCommand()   {}

// Change is what one command does to an account. The zero Change changes nothing (an idempotent
// retry).
type Change struct {
	Account *messages.Account      // the account created
	Entry   *messages.LedgerEntry  // a posted entry
	Code    *messages.PaymentCode  // a code issued, or used (UsedBy set)
	Status  messages.AccountStatus // a new status (UNSPECIFIED: none)
	Now     int64                  // when it was decided: Apply forgets the codes expired by then
}

// IsZero reports whether ch changes nothing.
func (ch Change) IsZero() bool {
	return ch.Account == nil && ch.Entry == nil && ch.Code == nil &&
		ch.Status == messages.AccountStatus_ACCOUNT_STATUS_UNSPECIFIED
}

// Decide checks cmd against s at now and returns the change it makes; it never mutates s.
func Decide(s *State, cmd Command, now int64) (Change, error) {
	switch cmd := cmd.(type) {
	case Create:
		a, err := decideCreate(s, cmd.Owner, cmd.Kind, now)
		return Change{Account: a}, err
	case Post:
		e, err := decidePost(s, cmd, now)
		return Change{Entry: e}, err
	case IssueCode:
		pc, err := decideIssueCode(s, cmd, now)
		return Change{Code: pc, Now: now}, err
	case ConsumeCode:
		pc, err := decideConsumeCode(s, cmd, now)
		return Change{Code: pc, Now: now}, err
	case SetStatus:
		if err := decideStatus(s, cmd.Status); err != nil {
			return Change{}, err
		}
		return Change{Status: cmd.Status}, nil
	}
	panic(fmt.Sprintf("account: no command %T", cmd))
}

// Apply folds change ch into s. Live traffic calls it; Load reads the account record and the
// newest ledger entry, which are the result of every change applied.
func Apply(s *State, ch Change) {
	if ch.Account != nil {
		s.Account = ch.Account
	}
	if e := ch.Entry; e != nil {
		actors.Invariant(e.Seq == s.Seq+1, "ledger entries apply in sequence")
		actors.Invariant(e.BalanceAfter == s.Balance+e.Amount && e.BalanceAfter >= 0, "entry balance follows from the previous one")
		s.Seq, s.Balance = e.Seq, e.BalanceAfter
	}
	if ch.Code != nil {
		applyCode(s, ch.Code, ch.Now)
	}
	if ch.Status != messages.AccountStatus_ACCOUNT_STATUS_UNSPECIFIED {
		s.Account.Status = ch.Status
	}
}

func decideCreate(s *State, owner uint64, kind messages.PartyKind, now int64) (*messages.Account, error) {
	if s.Account != nil {
		if s.Account.OwnerId == owner && s.Account.OwnerKind == kind {
			return nil, nil // idempotent retry
		}
		return nil, fmt.Errorf("%w: account %d belongs to another owner", actors.ErrExists, s.ID)
	}
	return &messages.Account{Id: s.ID, OwnerId: owner, OwnerKind: kind,
		Status: messages.AccountStatus_ACCOUNT_STATUS_ACTIVE, CreatedAt: now}, nil
}

func decidePost(s *State, p Post, now int64) (*messages.LedgerEntry, error) {
	amount := p.Amount
	switch {
	case s.Account == nil:
		return nil, fmt.Errorf("%w: account", actors.ErrUnknownEntity)
	case amount == 0 || amount > actors.AmountMax || amount < -actors.AmountMax:
		return nil, fmt.Errorf("%w: amount %d outside ±1..%d", actors.ErrInvalidArgument, amount, actors.AmountMax)
	case p.Transfer == "":
		return nil, fmt.Errorf("%w: empty transfer", actors.ErrInvalidArgument)
	case s.Account.Status != messages.AccountStatus_ACCOUNT_STATUS_ACTIVE && !(p.Force && amount > 0):
		return nil, fmt.Errorf("%w: %s", actors.ErrAccountNotActive, s.Account.Status)
	case amount < 0 && s.Balance+amount < 0:
		return nil, fmt.Errorf("%w: balance %d, debit %d", actors.ErrInsufficientFunds, s.Balance, -amount)
	case amount > 0 && !p.Force && s.Balance > actors.BalanceMax-amount,
		amount > 0 && s.Balance > math.MaxInt64-amount:
		return nil, fmt.Errorf("%w: balance %d, credit %d", actors.ErrBalanceLimit, s.Balance, amount)
	}
	return &messages.LedgerEntry{AccountId: s.Account.Id, Seq: s.Seq + 1, Amount: amount,
		BalanceAfter: s.Balance + amount, Kind: p.Kind, Transfer: p.Transfer, CounterAccount: p.Counter, At: now}, nil
}

// decideStatus checks a status change. A closed account stays closed; closing needs a zero balance.
func decideStatus(s *State, status messages.AccountStatus) error {
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

func decideIssueCode(s *State, cmd IssueCode, now int64) (*messages.PaymentCode, error) {
	owner, code := cmd.Owner, cmd.Code
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
	return &messages.PaymentCode{Code: code, AccountId: s.Account.Id, CardId: cmd.Card, ExpiresAt: now + int64(s.CodeTTL)}, nil
}

// applyCode records a new code, or forgets a just-used one (its durable record is the code index
// entry, so the account stays small), and forgets expired ones.
func applyCode(s *State, pc *messages.PaymentCode, now int64) {
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

// decideConsumeCode checks the use of a code at now; it returns the code as used.
func decideConsumeCode(s *State, cmd ConsumeCode, now int64) (*messages.PaymentCode, error) {
	code, payment, record := cmd.Code, cmd.Payment, cmd.Record
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
