package account

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/messages"
	"google.golang.org/protobuf/proto"
)

const (
	accID   = uint64(42)
	ownerID = uint64(7)
	now     = int64(1_000_000)
	ttl     = time.Minute
)

var (
	active = messages.AccountStatus_ACCOUNT_STATUS_ACTIVE
	frozen = messages.AccountStatus_ACCOUNT_STATUS_FROZEN
	closed = messages.AccountStatus_ACCOUNT_STATUS_CLOSED
	user   = messages.PartyKind_PARTY_KIND_USER
)

// newState returns an existing account with the given status, balance and newest sequence number.
func newState(status messages.AccountStatus, balance int64, seq uint64, codes ...*messages.PaymentCode) *State {
	return &State{
		ID:      accID,
		Account: &messages.Account{Id: accID, OwnerId: ownerID, OwnerKind: user, Status: status, CreatedAt: 1, Codes: codes},
		Balance: balance,
		Seq:     seq,
		CodeTTL: ttl,
	}
}

// accountOf, entryOf and codeOf take what a change holds from Decide's results.
func accountOf(ch Change, err error) (*messages.Account, error)   { return ch.Account, err }
func entryOf(ch Change, err error) (*messages.LedgerEntry, error) { return ch.Entry, err }
func codeOf(ch Change, err error) (*messages.PaymentCode, error)  { return ch.Code, err }

// code returns an 18-digit payment code numbered n.
func code(n int) string { return fmt.Sprintf("%018d", n) }

func pcode(n int, expires int64, usedBy string) *messages.PaymentCode {
	return &messages.PaymentCode{Code: code(n), AccountId: accID, CardId: uint64(n), ExpiresAt: expires, UsedBy: usedBy}
}

// cloneState deep-copies s so a test can check that a Decide function left it alone.
func cloneState(s *State) *State {
	c := *s
	if s.Account != nil {
		c.Account = proto.Clone(s.Account).(*messages.Account)
	}
	return &c
}

func sameState(t *testing.T, got, want *State) {
	t.Helper()
	if got.Balance != want.Balance || got.Seq != want.Seq {
		t.Errorf("state balance/seq: got %d/%d, want %d/%d", got.Balance, got.Seq, want.Balance, want.Seq)
	}
	if !proto.Equal(got.Account, want.Account) {
		t.Errorf("state account mutated: got %v, want %v", got.Account, want.Account)
	}
}

func checkErr(t *testing.T, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("err: got %v, want nil", err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("err: got %v, want %v", err, want)
	}
}

// mustPanic runs f and fails the test unless it panics.
func mustPanic(t *testing.T, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("panic: got none, want a panic")
		}
	}()
	f()
}

func TestAccount_Create(t *testing.T) {
	merchant := messages.PartyKind_PARTY_KIND_MERCHANT
	tests := []struct {
		name    string
		s       *State
		owner   uint64
		kind    messages.PartyKind
		want    *messages.Account
		wantErr error
	}{
		{name: "New", s: &State{}, owner: ownerID, kind: user,
			want: &messages.Account{Id: accID, OwnerId: ownerID, OwnerKind: user, Status: active, CreatedAt: now}},
		{name: "NewMerchant", s: &State{}, owner: 9, kind: merchant,
			want: &messages.Account{Id: accID, OwnerId: 9, OwnerKind: merchant, Status: active, CreatedAt: now}},
		{name: "IdempotentRetry", s: newState(active, 10, 1), owner: ownerID, kind: user},
		{name: "IdempotentRetryWhenFrozen", s: newState(frozen, 10, 1), owner: ownerID, kind: user},
		{name: "OtherOwner", s: newState(active, 0, 0), owner: ownerID + 1, kind: user, wantErr: actors.ErrExists},
		{name: "SameOwnerOtherKind", s: newState(active, 0, 0), owner: ownerID, kind: merchant, wantErr: actors.ErrExists},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := cloneState(tt.s)
			tt.s.ID = accID
			got, err := accountOf(Decide(tt.s, Create{Owner: tt.owner, Kind: tt.kind}, now))
			checkErr(t, err, tt.wantErr)
			if !proto.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
				t.Errorf("account: got %v, want %v", got, tt.want)
			}
			sameState(t, tt.s, before)
		})
	}
}

func TestAccount_Post(t *testing.T) {
	debitKind := messages.EntryKind_ENTRY_KIND_PAYMENT_DEBIT
	creditKind := messages.EntryKind_ENTRY_KIND_PAYMENT_CREDIT
	tests := []struct {
		name     string
		s        *State
		transfer string
		kind     messages.EntryKind
		amount   int64
		force    bool
		wantErr  error
		wantBal  int64 // balance_after when accepted
	}{
		{name: "UnknownAccount", s: &State{}, transfer: "pay:1", amount: 10, wantErr: actors.ErrUnknownEntity},
		{name: "UnknownAccountForce", s: &State{}, transfer: "rev:1", amount: 10, force: true, wantErr: actors.ErrUnknownEntity},
		{name: "ZeroAmount", s: newState(active, 100, 3), transfer: "t", amount: 0, wantErr: actors.ErrInvalidArgument},
		{name: "CreditOverMax", s: newState(active, 0, 3), transfer: "t", amount: actors.AmountMax + 1, wantErr: actors.ErrInvalidArgument},
		{name: "DebitOverMax", s: newState(active, actors.BalanceMax, 3), transfer: "t", amount: -actors.AmountMax - 1, wantErr: actors.ErrInvalidArgument},
		{name: "DebitMinInt64", s: newState(active, 0, 3), transfer: "t", amount: -1 << 63, wantErr: actors.ErrInvalidArgument},
		{name: "CreditAtMax", s: newState(active, 0, 3), transfer: "t", amount: actors.AmountMax, wantBal: actors.AmountMax},
		{name: "DebitAtMax", s: newState(active, actors.AmountMax, 3), transfer: "t", amount: -actors.AmountMax, wantBal: 0},
		{name: "EmptyTransfer", s: newState(active, 100, 3), transfer: "", amount: 10, wantErr: actors.ErrInvalidArgument},
		{name: "FrozenDebit", s: newState(frozen, 100, 3), transfer: "t", amount: -10, wantErr: actors.ErrAccountNotActive},
		{name: "FrozenCredit", s: newState(frozen, 100, 3), transfer: "t", amount: 10, wantErr: actors.ErrAccountNotActive},
		{name: "FrozenForceDebit", s: newState(frozen, 100, 3), transfer: "t", amount: -10, force: true, wantErr: actors.ErrAccountNotActive},
		{name: "FrozenForceCredit", s: newState(frozen, 100, 3), transfer: "rev:p", kind: creditKind, amount: 10, force: true, wantBal: 110},
		{name: "ClosedDebit", s: newState(closed, 0, 3), transfer: "t", amount: -10, wantErr: actors.ErrAccountNotActive},
		{name: "ClosedCredit", s: newState(closed, 0, 3), transfer: "t", amount: 10, wantErr: actors.ErrAccountNotActive},
		{name: "ClosedForceDebit", s: newState(closed, 100, 3), transfer: "t", amount: -10, force: true, wantErr: actors.ErrAccountNotActive},
		{name: "ClosedForceCredit", s: newState(closed, 0, 3), transfer: "rev:p", kind: creditKind, amount: 10, force: true, wantBal: 10},
		{name: "UnspecifiedStatusCredit", s: newState(messages.AccountStatus_ACCOUNT_STATUS_UNSPECIFIED, 0, 3), transfer: "t", amount: 10, wantErr: actors.ErrAccountNotActive},
		{name: "InsufficientFunds", s: newState(active, 100, 3), transfer: "t", amount: -101, wantErr: actors.ErrInsufficientFunds},
		{name: "InsufficientFundsEmpty", s: newState(active, 0, 0), transfer: "t", amount: -1, wantErr: actors.ErrInsufficientFunds},
		{name: "InsufficientFundsForce", s: newState(active, 100, 3), transfer: "t", amount: -101, force: true, wantErr: actors.ErrInsufficientFunds},
		{name: "DebitWholeBalance", s: newState(active, 100, 3), transfer: "pay:p", kind: debitKind, amount: -100, wantBal: 0},
		{name: "BalanceLimit", s: newState(active, actors.BalanceMax-5, 3), transfer: "t", amount: 6, wantErr: actors.ErrBalanceLimit},
		// A reversal or refund credit returns money the account paid: it may pass BalanceMax, never int64.
		{name: "ForcedCreditPastBalanceMax", s: newState(frozen, actors.BalanceMax-5, 3), transfer: "t", amount: 6, force: true, wantBal: actors.BalanceMax + 1},
		{name: "ForcedCreditOverflow", s: newState(active, math.MaxInt64-5, 3), transfer: "t", amount: 6, force: true, wantErr: actors.ErrBalanceLimit},
		{name: "BalanceLimitAtMaxAmount", s: newState(active, actors.BalanceMax, 3), transfer: "t", amount: actors.AmountMax, wantErr: actors.ErrBalanceLimit},
		{name: "CreditToBalanceMax", s: newState(active, actors.BalanceMax-5, 3), transfer: "t", amount: 5, wantBal: actors.BalanceMax},
		{name: "Credit", s: newState(active, 100, 3), transfer: "pay:p", kind: creditKind, amount: 50, wantBal: 150},
		{name: "Debit", s: newState(active, 100, 3), transfer: "pay:p", kind: debitKind, amount: -40, wantBal: 60},
		{name: "FirstEntry", s: newState(active, 0, 0), transfer: "dep", kind: messages.EntryKind_ENTRY_KIND_DEPOSIT, amount: 1, wantBal: 1},
		{name: "ForceCreditWhenActive", s: newState(active, 5, 9), transfer: "rev:p", kind: messages.EntryKind_ENTRY_KIND_REVERSAL_CREDIT, amount: 5, force: true, wantBal: 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := cloneState(tt.s)
			got, err := entryOf(Decide(tt.s, Post{Transfer: tt.transfer, Kind: tt.kind, Amount: tt.amount, Counter: 99, Force: tt.force}, now))
			sameState(t, tt.s, before)
			checkErr(t, err, tt.wantErr)
			if tt.wantErr != nil {
				if got != nil {
					t.Errorf("entry: got %v, want nil", got)
				}
				return
			}
			want := &messages.LedgerEntry{AccountId: accID, Seq: tt.s.Seq + 1, Amount: tt.amount, BalanceAfter: tt.wantBal,
				Kind: tt.kind, Transfer: tt.transfer, CounterAccount: 99, At: now}
			if !proto.Equal(got, want) {
				t.Errorf("entry: got %v, want %v", got, want)
			}
		})
	}
}

func TestAccount_ApplyEntry(t *testing.T) {
	t.Run("Sequence", func(t *testing.T) {
		s := newState(active, 0, 0)
		for i, amount := range []int64{100, -30, 5, -75} {
			e, err := entryOf(Decide(s, Post{Transfer: fmt.Sprintf("t%d", i), Kind: messages.EntryKind_ENTRY_KIND_DEPOSIT, Amount: amount}, now))
			if err != nil {
				t.Fatalf("post %d: got %v, want nil", i, err)
			}
			Apply(s, Change{Entry: e})
			if s.Seq != e.Seq || s.Balance != e.BalanceAfter {
				t.Fatalf("after entry %d: got seq/balance %d/%d, want %d/%d", i, s.Seq, s.Balance, e.Seq, e.BalanceAfter)
			}
		}
		if s.Seq != 4 || s.Balance != 0 {
			t.Errorf("final seq/balance: got %d/%d, want 4/0", s.Seq, s.Balance)
		}
	})
	tests := []struct {
		name string
		e    *messages.LedgerEntry
	}{
		{name: "SkipsSeq", e: &messages.LedgerEntry{Seq: 5, Amount: 1, BalanceAfter: 101}},
		{name: "RepeatsSeq", e: &messages.LedgerEntry{Seq: 3, Amount: 1, BalanceAfter: 101}},
		{name: "OldSeq", e: &messages.LedgerEntry{Seq: 1, Amount: 1, BalanceAfter: 101}},
		{name: "BalanceMismatch", e: &messages.LedgerEntry{Seq: 4, Amount: 1, BalanceAfter: 102}},
		{name: "NegativeBalance", e: &messages.LedgerEntry{Seq: 4, Amount: -101, BalanceAfter: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newState(active, 100, 3)
			mustPanic(t, func() { Apply(s, Change{Entry: tt.e}) })
			if s.Seq != 3 || s.Balance != 100 {
				t.Errorf("seq/balance after rejected entry: got %d/%d, want 3/100", s.Seq, s.Balance)
			}
		})
	}
}

func TestAccount_SetStatus(t *testing.T) {
	tests := []struct {
		name    string
		s       *State
		status  messages.AccountStatus
		wantErr error
	}{
		{name: "UnknownAccount", s: &State{}, status: frozen, wantErr: actors.ErrUnknownEntity},
		{name: "Unspecified", s: newState(active, 0, 0), status: messages.AccountStatus_ACCOUNT_STATUS_UNSPECIFIED, wantErr: actors.ErrInvalidArgument},
		{name: "OutOfRange", s: newState(active, 0, 0), status: closed + 1, wantErr: actors.ErrInvalidArgument},
		{name: "Negative", s: newState(active, 0, 0), status: -1, wantErr: actors.ErrInvalidArgument},
		{name: "ActiveToActive", s: newState(active, 10, 1), status: active},
		{name: "Freeze", s: newState(active, 10, 1), status: frozen},
		{name: "FrozenToFrozen", s: newState(frozen, 10, 1), status: frozen},
		{name: "Unfreeze", s: newState(frozen, 10, 1), status: active},
		{name: "CloseActiveZeroBalance", s: newState(active, 0, 4), status: closed},
		{name: "CloseFrozenZeroBalance", s: newState(frozen, 0, 4), status: closed},
		{name: "CloseActiveNonZeroBalance", s: newState(active, 1, 4), status: closed, wantErr: actors.ErrInvalidArgument},
		{name: "CloseFrozenNonZeroBalance", s: newState(frozen, 10, 4), status: closed, wantErr: actors.ErrInvalidArgument},
		{name: "ClosedToClosed", s: newState(closed, 0, 4), status: closed},
		{name: "ReopenClosed", s: newState(closed, 0, 4), status: active, wantErr: actors.ErrAccountNotActive},
		{name: "FreezeClosed", s: newState(closed, 0, 4), status: frozen, wantErr: actors.ErrAccountNotActive},
		{name: "ReopenClosedInvalidStatus", s: newState(closed, 0, 4), status: 0, wantErr: actors.ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := cloneState(tt.s)
			ch, err := Decide(tt.s, SetStatus{Status: tt.status}, now)
			checkErr(t, err, tt.wantErr)
			sameState(t, tt.s, before)
			if want := (Change{Status: tt.status}); tt.wantErr == nil && ch != want {
				t.Errorf("change: got %v, want %v", ch, want)
			}
			if tt.wantErr != nil && !ch.IsZero() {
				t.Errorf("change: got %v, want none", ch)
			}
		})
	}
}

func TestAccount_IssueCode(t *testing.T) {
	// codes returns n codes numbered from first, each expiring at expires and used by usedBy.
	codes := func(first, n int, expires int64, usedBy string) []*messages.PaymentCode {
		var cs []*messages.PaymentCode
		for i := range n {
			cs = append(cs, pcode(first+i, expires, usedBy))
		}
		return cs
	}
	maxActive := actors.PaymentCodesPerAccountMax
	tests := []struct {
		name    string
		s       *State
		owner   uint64
		code    string
		wantErr error
	}{
		{name: "UnknownAccount", s: &State{}, owner: ownerID, code: code(1), wantErr: actors.ErrUnknownEntity},
		{name: "OwnerMismatch", s: newState(active, 0, 0), owner: ownerID + 1, code: code(1), wantErr: actors.ErrPermissionDenied},
		{name: "OwnerMismatchBeforeStatus", s: newState(closed, 0, 0), owner: ownerID + 1, code: "x", wantErr: actors.ErrPermissionDenied},
		{name: "Frozen", s: newState(frozen, 0, 0), owner: ownerID, code: code(1), wantErr: actors.ErrAccountNotActive},
		{name: "Closed", s: newState(closed, 0, 0), owner: ownerID, code: code(1), wantErr: actors.ErrAccountNotActive},
		{name: "MerchantsAccount", s: &State{Account: &messages.Account{Id: accID, OwnerId: ownerID, OwnerKind: messages.PartyKind_PARTY_KIND_MERCHANT, Status: active}}, owner: ownerID, code: code(1), wantErr: actors.ErrPermissionDenied},
		{name: "CodeEmpty", s: newState(active, 0, 0), owner: ownerID, code: "", wantErr: actors.ErrInvalidArgument},
		{name: "CodeTooShort", s: newState(active, 0, 0), owner: ownerID, code: strings.Repeat("1", actors.PaymentCodeDigits-1), wantErr: actors.ErrInvalidArgument},
		{name: "CodeTooLong", s: newState(active, 0, 0), owner: ownerID, code: strings.Repeat("1", actors.PaymentCodeDigits+1), wantErr: actors.ErrInvalidArgument},
		{name: "CodeLetter", s: newState(active, 0, 0), owner: ownerID, code: "12345678901234567a", wantErr: actors.ErrInvalidArgument},
		{name: "CodeSpace", s: newState(active, 0, 0), owner: ownerID, code: " 23456789012345678", wantErr: actors.ErrInvalidArgument},
		{name: "CodeSlash", s: newState(active, 0, 0), owner: ownerID, code: "/23456789012345678", wantErr: actors.ErrInvalidArgument},
		{name: "CodeColon", s: newState(active, 0, 0), owner: ownerID, code: "12345678901234567:", wantErr: actors.ErrInvalidArgument},
		{name: "CodeMultibyte", s: newState(active, 0, 0), owner: ownerID, code: "1234567890123456٣", wantErr: actors.ErrInvalidArgument},
		{name: "CollisionActive", s: newState(active, 0, 0, pcode(2, now+1, ""), pcode(1, now+1, "")), owner: ownerID, code: code(1), wantErr: actors.ErrExists},
		{name: "CollisionExpiredStillKept", s: newState(active, 0, 0, pcode(1, now, "")), owner: ownerID, code: code(1), wantErr: actors.ErrExists},
		{name: "ActiveLimit", s: newState(active, 0, 0, codes(1, maxActive, now+1, "")...), owner: ownerID, code: code(100), wantErr: actors.ErrCodeLimit},
		{name: "BelowActiveLimit", s: newState(active, 0, 0, codes(1, maxActive-1, now+1, "")...), owner: ownerID, code: code(100)},
		{name: "ExpiredCodesAreNotActive", s: newState(active, 0, 0, codes(1, maxActive, now, "")...), owner: ownerID, code: code(100)},
		{name: "ActiveLimitMixed", s: newState(active, 0, 0, append(codes(1, maxActive, now+1, ""), codes(50, 3, now-1, "")...)...), owner: ownerID, code: code(100), wantErr: actors.ErrCodeLimit},
		{name: "Fresh", s: newState(active, 0, 0), owner: ownerID, code: code(123456789)},
		{name: "AllDigits", s: newState(active, 0, 0), owner: ownerID, code: "012345678998765432"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := cloneState(tt.s)
			tt.s.CodeTTL = ttl
			got, err := codeOf(Decide(tt.s, IssueCode{Owner: tt.owner, Code: tt.code, Card: 77}, now))
			sameState(t, tt.s, before)
			checkErr(t, err, tt.wantErr)
			if tt.wantErr != nil {
				if got != nil {
					t.Errorf("code: got %v, want nil", got)
				}
				return
			}
			want := &messages.PaymentCode{Code: tt.code, AccountId: accID, CardId: 77, ExpiresAt: now + int64(ttl)}
			if !proto.Equal(got, want) {
				t.Errorf("code: got %v, want %v", got, want)
			}
		})
	}
	t.Run("PlainPaymentHasNoCard", func(t *testing.T) {
		got, err := codeOf(Decide(newState(active, 0, 0), IssueCode{Owner: ownerID, Code: code(1)}, now))
		if err != nil {
			t.Fatalf("err: got %v, want nil", err)
		}
		if got.CardId != 0 {
			t.Errorf("card id: got %d, want 0", got.CardId)
		}
	})
}

func TestAccount_ApplyCode(t *testing.T) {
	tests := []struct {
		name  string
		codes []*messages.PaymentCode
		pc    *messages.PaymentCode
		want  []*messages.PaymentCode
	}{
		{name: "AddsToEmpty", pc: pcode(1, now+1, ""), want: []*messages.PaymentCode{pcode(1, now+1, "")}},
		{name: "AddsAtEnd", codes: []*messages.PaymentCode{pcode(1, now+5, "")}, pc: pcode(2, now+1, ""),
			want: []*messages.PaymentCode{pcode(1, now+5, ""), pcode(2, now+1, "")}},
		{name: "UsedIsForgotten", codes: []*messages.PaymentCode{pcode(1, now+5, ""), pcode(2, now+5, ""), pcode(3, now+5, "")},
			pc:   pcode(2, now+5, "m/1"),
			want: []*messages.PaymentCode{pcode(1, now+5, ""), pcode(3, now+5, "")}},
		{name: "PrunesExpired", codes: []*messages.PaymentCode{pcode(1, now, ""), pcode(2, now+5, ""), pcode(3, now-100, "")},
			pc:   pcode(4, now+1, ""),
			want: []*messages.PaymentCode{pcode(2, now+5, ""), pcode(4, now+1, "")}},
		{name: "UsedAndPrunes", codes: []*messages.PaymentCode{pcode(1, now-1, ""), pcode(2, now+5, ""), pcode(3, now, "")},
			pc:   pcode(2, now+5, "m/9"),
			want: []*messages.PaymentCode{}},
		{name: "ExpiredNewCodeNotAdded", codes: []*messages.PaymentCode{pcode(1, now+5, "")}, pc: pcode(2, now, ""),
			want: []*messages.PaymentCode{pcode(1, now+5, "")}},
		{name: "UsedUnknownChangesNothing", codes: []*messages.PaymentCode{pcode(1, now+5, "")}, pc: pcode(2, now+5, "m/1"),
			want: []*messages.PaymentCode{pcode(1, now+5, "")}},
		{name: "AllExpired", codes: []*messages.PaymentCode{pcode(1, now, ""), pcode(2, now-5, "")}, pc: pcode(3, now-1, ""),
			want: []*messages.PaymentCode{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newState(active, 0, 0, tt.codes...)
			Apply(s, Change{Code: tt.pc, Now: now})
			got := s.Account.Codes
			if len(got) != len(tt.want) {
				t.Fatalf("codes: got %d %v, want %d %v", len(got), got, len(tt.want), tt.want)
			}
			for i := range got {
				if !proto.Equal(got[i], tt.want[i]) {
					t.Errorf("code %d: got %v, want %v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestAccount_ActiveCode(t *testing.T) {
	s := newState(active, 0, 0, pcode(1, now+1, ""), pcode(2, now-1, ""))
	if got := ActiveCode(s, code(2)); got != s.Account.Codes[1] {
		t.Errorf("held code: got %v, want %v", got, s.Account.Codes[1])
	}
	if got := ActiveCode(s, code(3)); got != nil {
		t.Errorf("unknown code: got %v, want nil", got)
	}
	if got := ActiveCode(&State{}, code(1)); got != nil {
		t.Errorf("no account: got %v, want nil", got)
	}
}

func TestAccount_ConsumeCode(t *testing.T) {
	const payment = "9/k1"
	other := func(pc *messages.PaymentCode) *messages.PaymentCode { pc.AccountId++; return pc }
	tests := []struct {
		name    string
		s       *State
		code    string
		at      int64
		record  *messages.PaymentCode
		want    *messages.PaymentCode
		wantErr error
	}{
		{name: "UnknownAccount", s: &State{}, code: code(1), at: now, wantErr: actors.ErrCodeUnknown},
		{name: "UnknownAccountWithRecord", s: &State{}, code: code(1), at: now, record: pcode(1, now+10, payment), wantErr: actors.ErrCodeUnknown},
		{name: "UsedByAnother", s: newState(active, 0, 0), code: code(1), at: now, record: pcode(1, now+10, "9/other"), wantErr: actors.ErrCodeUsed},
		{name: "UsedByAnotherAfterExpiry", s: newState(active, 0, 0), code: code(1), at: now, record: pcode(1, now-10, "9/other"), wantErr: actors.ErrCodeUsed},
		{name: "SamePaymentAgain", s: newState(active, 0, 0), code: code(1), at: now, record: pcode(1, now+10, payment), want: pcode(1, now+10, payment)},
		{name: "SamePaymentAgainAfterExpiry", s: newState(active, 0, 0), code: code(1), at: now, record: pcode(1, now-10, payment), want: pcode(1, now-10, payment)},
		{name: "RecordOfAnotherAccount", s: newState(active, 0, 0), code: code(1), at: now, record: other(pcode(1, now+10, payment)), wantErr: actors.ErrCodeExpired},
		{name: "RecordOfAnotherCode", s: newState(active, 0, 0), code: code(1), at: now, record: pcode(2, now+10, payment), wantErr: actors.ErrCodeExpired},
		{name: "RecordUnusedButNotHeld", s: newState(active, 0, 0), code: code(1), at: now, record: pcode(1, now+10, ""), wantErr: actors.ErrCodeExpired},
		{name: "ExpiredAtExactly", s: newState(active, 0, 0, pcode(1, now, "")), code: code(1), at: now, wantErr: actors.ErrCodeExpired},
		{name: "Expired", s: newState(active, 0, 0, pcode(1, now-1, "")), code: code(1), at: now, wantErr: actors.ErrCodeExpired},
		{name: "ForgottenAfterExpiry", s: newState(active, 0, 0, pcode(2, now+10, "")), code: code(1), at: now, wantErr: actors.ErrCodeExpired},
		{name: "ForgottenNoCodes", s: newState(active, 0, 0), code: code(1), at: now, wantErr: actors.ErrCodeExpired},
		{name: "HeldCodeWinsOverRecord", s: newState(active, 0, 0, pcode(1, now+1, "")), code: code(1), at: now, record: pcode(1, now+1, "9/other"), want: pcode(1, now+1, payment)},
		{name: "Success", s: newState(active, 0, 0, pcode(2, now+10, ""), pcode(1, now+1, "")), code: code(1), at: now, want: pcode(1, now+1, payment)},
		{name: "SuccessFrozenAccount", s: newState(frozen, 0, 0, pcode(1, now+1, "")), code: code(1), at: now, want: pcode(1, now+1, payment)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := cloneState(tt.s)
			got, err := codeOf(Decide(tt.s, ConsumeCode{Code: tt.code, Payment: payment, Record: tt.record}, tt.at))
			sameState(t, tt.s, before)
			checkErr(t, err, tt.wantErr)
			if !proto.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
				t.Errorf("code: got %v, want %v", got, tt.want)
			}
			if tt.wantErr == nil && actors.ResultOf(err) != messages.PaymentResult_PAYMENT_RESULT_OK {
				t.Errorf("result: got %s, want OK", actors.ResultOf(err))
			}
		})
	}
	t.Run("SuccessReturnsACopy", func(t *testing.T) {
		s := newState(active, 0, 0, pcode(1, now+1, ""))
		stored := s.Account.Codes[0]
		got, err := codeOf(Decide(s, ConsumeCode{Code: code(1), Payment: payment}, now))
		if err != nil {
			t.Fatalf("err: got %v, want nil", err)
		}
		if got == stored {
			t.Errorf("returned code: got the stored pointer, want a copy")
		}
		if stored.UsedBy != "" {
			t.Errorf("stored code UsedBy: got %q, want \"\"", stored.UsedBy)
		}
	})
	t.Run("ConsumeThenApplyThenRetry", func(t *testing.T) {
		s := newState(active, 0, 0, pcode(1, now+10, ""))
		used, err := codeOf(Decide(s, ConsumeCode{Code: code(1), Payment: payment}, now))
		if err != nil {
			t.Fatalf("first consume: got %v, want nil", err)
		}
		Apply(s, Change{Code: used, Now: now})
		if ActiveCode(s, code(1)) != nil {
			t.Fatalf("used code still active: %v", s.Account.Codes)
		}
		// The shell now reads the code's record, which the consume wrote.
		if _, err := codeOf(Decide(s, ConsumeCode{Code: code(1), Payment: "9/other", Record: used}, now+1)); !errors.Is(err, actors.ErrCodeUsed) {
			t.Errorf("other payment: got %v, want %v", err, actors.ErrCodeUsed)
		}
		again, err := codeOf(Decide(s, ConsumeCode{Code: code(1), Payment: payment, Record: used}, now+1))
		if err != nil || again.UsedBy != payment {
			t.Errorf("same payment: got %v, %v, want code used by %q, nil", again, err, payment)
		}
	})
}

func TestAccount_Apply(t *testing.T) {
	s := &State{ID: accID, CodeTTL: ttl}
	step := func(cmd Command, at int64) Change {
		t.Helper()
		before := cloneState(s)
		ch, err := Decide(s, cmd, at)
		if err != nil {
			t.Fatalf("%T: got %v, want nil", cmd, err)
		}
		sameState(t, s, before)
		Apply(s, ch)
		return ch
	}
	step(Create{Owner: ownerID, Kind: user}, now)
	if s.Account.GetId() != accID || s.Account.Status != active {
		t.Fatalf("after create: got %v, want account %d active", s.Account, accID)
	}
	if ch, err := Decide(s, Create{Owner: ownerID, Kind: user}, now+1); err != nil || !ch.IsZero() {
		t.Errorf("create again: got %v, %v; want no change, nil", ch, err)
	}
	step(Post{Transfer: "d", Kind: messages.EntryKind_ENTRY_KIND_DEPOSIT, Amount: 50}, now)
	issued := step(IssueCode{Owner: ownerID, Code: code(1), Card: 3}, now).Code
	if ActiveCode(s, code(1)) != issued || issued.ExpiresAt != now+int64(ttl) {
		t.Fatalf("after issue: codes %v, want %v expiring at %d", s.Account.Codes, issued, now+int64(ttl))
	}
	used := step(ConsumeCode{Code: code(1), Payment: "9/k"}, now+1).Code
	if used.UsedBy != "9/k" || ActiveCode(s, code(1)) != nil || issued.UsedBy != "" {
		t.Errorf("after consume: used %v, codes %v, issued %v; want used by 9/k, none held, issued untouched", used, s.Account.Codes, issued)
	}
	step(SetStatus{Status: frozen}, now)
	if s.Account.Status != frozen || s.Balance != 50 || s.Seq != 1 {
		t.Errorf("after freeze: status %s balance %d seq %d; want FROZEN, 50, 1", s.Account.Status, s.Balance, s.Seq)
	}
}

// TestAccount_RepeatPost: a repeated Post is answered as the first was, and writes nothing.
func TestAccount_RepeatPost(t *testing.T) {
	posted := &messages.LedgerEntry{Seq: 4, Amount: -700, Kind: messages.EntryKind_ENTRY_KIND_PAYMENT_DEBIT, Transfer: "pay:9/k"}
	debit := Post{Transfer: "pay:9/k", Kind: messages.EntryKind_ENTRY_KIND_PAYMENT_DEBIT, Amount: -700}
	tests := []struct {
		name    string
		prior   Prior
		post    Post
		want    messages.PaymentResult
		wantSeq uint64
	}{
		{"SameEntry", Prior{Entry: posted}, debit, messages.PaymentResult_PAYMENT_RESULT_OK, 4},
		{"OtherAmount", Prior{Entry: posted}, Post{Transfer: debit.Transfer, Kind: debit.Kind, Amount: -701}, messages.PaymentResult_PAYMENT_RESULT_CONFLICT, 0},
		{"OtherKind", Prior{Entry: posted}, Post{Transfer: debit.Transfer, Kind: messages.EntryKind_ENTRY_KIND_PAYMENT_CREDIT, Amount: -700}, messages.PaymentResult_PAYMENT_RESULT_CONFLICT, 0},
		{"Refused", Prior{Refused: messages.PaymentResult_PAYMENT_RESULT_INSUFFICIENT_FUNDS}, debit, messages.PaymentResult_PAYMENT_RESULT_INSUFFICIENT_FUNDS, 0},
		{"Fenced", Prior{Refused: messages.PaymentResult_PAYMENT_RESULT_INTERRUPTED}, debit, messages.PaymentResult_PAYMENT_RESULT_INTERRUPTED, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.prior.Known() {
				t.Fatalf("Known: got false for %+v", tt.prior)
			}
			if r, seq := RepeatPost(tt.prior, tt.post); r != tt.want || seq != tt.wantSeq {
				t.Errorf("RepeatPost: got %s %d, want %s %d", r, seq, tt.want, tt.wantSeq)
			}
		})
	}
	if (Prior{}).Known() {
		t.Errorf("Known of no prior: got true, want false")
	}
}
