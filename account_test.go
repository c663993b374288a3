package kaquan_test

import (
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/messages"
)

func TestBadInput_Amounts(t *testing.T) {
	e := MustOpenEngine(t)
	ctx := ctxTimeout(t)
	w := mustBadWorld(t, e)
	u := w.users[0]
	code := w.code(t, e, u, 0)
	before := readLedgers(t, e, w.accounts)
	for _, amount := range []int64{0, -1, -actors.AmountMax, math.MinInt64, actors.AmountMax + 1, math.MaxInt64} {
		t.Run(fmt.Sprintf("amount %d", amount), func(t *testing.T) {
			wantErr(t, "deposit", kaquan.ErrInvalidArgument, func() error {
				_, err := e.Deposit(ctx, kaquan.Deposit{Account: userAccount(u), Amount: amount, Key: "bad-amount"})
				return err
			})
			wantErr(t, "withdraw", kaquan.ErrInvalidArgument, func() error {
				_, err := e.Withdraw(ctx, kaquan.Withdrawal{Account: userAccount(u), Amount: amount, Key: "bad-amount"})
				return err
			})
			wantErr(t, "pay", kaquan.ErrInvalidArgument, func() error {
				_, err := w.pay(e, code, amount, "bad-amount")
				return err
			})
		})
	}
	t.Run("nothing changed, and the keys and code are still unused", func(t *testing.T) {
		unchanged(t, e, before)
		wantErr(t, "payment recorded under the key", kaquan.ErrUnknownEntity, func() error {
			_, err := e.Payment(ctx, w.merchant, "bad-amount")
			return err
		})
		if _, err := e.Deposit(ctx, kaquan.Deposit{Account: userAccount(u), Amount: actors.AmountMax, Key: "bad-amount"}); err != nil {
			t.Errorf("deposit of AmountMax under the key: got %v, want success", err)
		}
		if o, err := w.pay(e, code, 1, "bad-amount"); err != nil || o.Payment.Charged != 1 {
			t.Errorf("payment of 1 with the code: got %v, %v, want success", o.Payment, err)
		}
		mustAudit(t, e)
	})
}

func TestBadInput_BalanceLimit(t *testing.T) {
	e := MustOpenEngine(t, inMemory) // thousands of deposits of AmountMax: in memory, to stay quick
	ctx := ctxFor(t, 2*time.Minute)
	w := mustBadWorld(t, e)
	u := w.users[0]
	fill := actors.BalanceMax / actors.AmountMax // deposits of AmountMax that fit
	errs := make([]error, fill)
	parallel(int(fill), 16, func(i int) {
		_, errs[i] = e.Deposit(ctx, kaquan.Deposit{Account: w.merchantAccount, Amount: actors.AmountMax, Key: fmt.Sprint("fill-", i)})
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("filling the merchant account: %v", err)
	}
	must(t)(e.Deposit(ctx, kaquan.Deposit{Account: userAccount(u), Amount: actors.AmountMax, Key: "big"}))
	c := mustV(e.Claim(ctx, kaquan.Claim{Template: w.template, User: u}))(t)
	code := w.code(t, e, u, c.Id)
	before := readLedgers(t, e, w.accounts)

	t.Run("a deposit beyond BalanceMax", func(t *testing.T) {
		wantErr(t, "deposit", kaquan.ErrBalanceLimit, func() error {
			_, err := e.Deposit(ctx, kaquan.Deposit{Account: w.merchantAccount, Amount: actors.AmountMax, Key: "one-too-many"})
			return err
		})
		unchanged(t, e, before)
	})
	t.Run("a payment whose credit would pass BalanceMax is reversed", func(t *testing.T) {
		o, err := w.pay(e, code, actors.AmountMax, "too-rich")
		if !errors.Is(err, kaquan.ErrBalanceLimit) {
			t.Errorf("pay: got %v, want ErrBalanceLimit", err)
		}
		wantFailedPayment(t, "pay", o, messages.PaymentResult_PAYMENT_RESULT_BALANCE_LIMIT)
		wantCardState(t, e, c.Id, messages.CardState_CARD_STATE_AVAILABLE)
		payer := userAccount(u)
		b, seq := mustBalance(t, e, payer)
		if want := before[payer]; b != want[0] || int64(seq) != want[1]+2 {
			t.Errorf("payer: got balance %d after %d entries, want %d after %d (debit and its reversal)", b, seq, want[0], want[1]+2)
		}
		delete(before, payer)
		unchanged(t, e, before)
	})
}

func TestBadInput_InactiveAccounts(t *testing.T) {
	e := MustOpenEngine(t)
	ctx := ctxTimeout(t)
	w := mustBadWorld(t, e)
	u := w.users[0]
	payer := userAccount(u)
	c := mustV(e.Claim(ctx, kaquan.Claim{Template: w.template, User: u}))(t)
	setStatus := func(t *testing.T, account uint64, s messages.AccountStatus) {
		t.Helper()
		if _, err := e.SetAccountStatus(ctx, kaquan.SetAccountStatus{Account: account, Status: s}); err != nil {
			t.Fatalf("set account %d %s: %v", account, s, err)
		}
	}

	t.Run("a frozen payer account", func(t *testing.T) {
		code := w.code(t, e, u, c.Id)
		setStatus(t, payer, messages.AccountStatus_ACCOUNT_STATUS_FROZEN)
		before := readLedgers(t, e, w.accounts)
		o, err := w.pay(e, code, 3000, "frozen-payer")
		if !errors.Is(err, kaquan.ErrAccountNotActive) {
			t.Errorf("pay: got %v, want ErrAccountNotActive", err)
		}
		wantFailedPayment(t, "pay", o, messages.PaymentResult_PAYMENT_RESULT_ACCOUNT_NOT_ACTIVE)
		wantCardState(t, e, c.Id, messages.CardState_CARD_STATE_AVAILABLE)
		wantErr(t, "issue a code", kaquan.ErrAccountNotActive, func() error {
			_, err := e.IssuePaymentCode(ctx, kaquan.IssuePaymentCode{User: u, Account: payer})
			return err
		})
		wantErr(t, "deposit", kaquan.ErrAccountNotActive, func() error {
			_, err := e.Deposit(ctx, kaquan.Deposit{Account: payer, Amount: 1, Key: "frozen"})
			return err
		})
		wantErr(t, "withdraw", kaquan.ErrAccountNotActive, func() error {
			_, err := e.Withdraw(ctx, kaquan.Withdrawal{Account: payer, Amount: 1, Key: "frozen"})
			return err
		})
		unchanged(t, e, before)
		setStatus(t, payer, messages.AccountStatus_ACCOUNT_STATUS_ACTIVE)
	})
	t.Run("a frozen merchant account: the payer's debit is reversed", func(t *testing.T) {
		code := w.code(t, e, u, c.Id)
		setStatus(t, w.merchantAccount, messages.AccountStatus_ACCOUNT_STATUS_FROZEN)
		before := readLedgers(t, e, w.accounts)
		o, err := w.pay(e, code, 3000, "frozen-merchant")
		if !errors.Is(err, kaquan.ErrAccountNotActive) {
			t.Errorf("pay: got %v, want ErrAccountNotActive", err)
		}
		wantFailedPayment(t, "pay", o, messages.PaymentResult_PAYMENT_RESULT_ACCOUNT_NOT_ACTIVE)
		wantCardState(t, e, c.Id, messages.CardState_CARD_STATE_AVAILABLE)
		b, seq := mustBalance(t, e, payer)
		if want := before[payer]; b != want[0] || int64(seq) != want[1]+2 {
			t.Errorf("payer: got balance %d after %d entries, want %d after %d (debit and its reversal)", b, seq, want[0], want[1]+2)
		}
		delete(before, payer)
		unchanged(t, e, before)
		setStatus(t, w.merchantAccount, messages.AccountStatus_ACCOUNT_STATUS_ACTIVE)
	})
	t.Run("bad status changes", func(t *testing.T) {
		before := readLedgers(t, e, w.accounts)
		for _, s := range []messages.AccountStatus{messages.AccountStatus_ACCOUNT_STATUS_UNSPECIFIED, 4, 99, -1} {
			wantErr(t, fmt.Sprint("status ", s), kaquan.ErrInvalidArgument, func() error {
				_, err := e.SetAccountStatus(ctx, kaquan.SetAccountStatus{Account: payer, Status: s})
				return err
			})
		}
		wantErr(t, "close with a balance", kaquan.ErrInvalidArgument, func() error {
			_, err := e.SetAccountStatus(ctx, kaquan.SetAccountStatus{Account: payer, Status: messages.AccountStatus_ACCOUNT_STATUS_CLOSED})
			return err
		})
		setStatus(t, w.other, messages.AccountStatus_ACCOUNT_STATUS_CLOSED) // empty: may close
		wantErr(t, "reopen a closed account", kaquan.ErrAccountNotActive, func() error {
			_, err := e.SetAccountStatus(ctx, kaquan.SetAccountStatus{Account: w.other, Status: messages.AccountStatus_ACCOUNT_STATUS_ACTIVE})
			return err
		})
		wantErr(t, "deposit to a closed account", kaquan.ErrAccountNotActive, func() error {
			_, err := e.Deposit(ctx, kaquan.Deposit{Account: w.other, Amount: 1, Key: "closed"})
			return err
		})
		if a := mustV(e.Account(ctx, payer))(t); a.Account.Status != messages.AccountStatus_ACCOUNT_STATUS_ACTIVE {
			t.Errorf("payer: got status %s, want ACTIVE", a.Account.Status)
		}
		unchanged(t, e, before)
	})
	t.Run("the card pays once the accounts are active again", func(t *testing.T) {
		if _, err := w.pay(e, w.code(t, e, u, c.Id), 3000, "active-again"); err != nil {
			t.Errorf("pay: got %v, want success", err)
		}
		wantCardState(t, e, c.Id, messages.CardState_CARD_STATE_USED)
		mustAudit(t, e)
	})
}

func TestBadInput_TransferKeys(t *testing.T) {
	e := MustOpenEngine(t)
	ctx := ctxTimeout(t)
	w := mustBadWorld(t, e)
	acct := userAccount(w.users[0])
	first := mustV(e.Deposit(ctx, kaquan.Deposit{Account: acct, Amount: 300, Key: "dep"}))(t)
	firstW := mustV(e.Withdraw(ctx, kaquan.Withdrawal{Account: acct, Amount: 200, Key: "wdr"}))(t)
	before := readLedgers(t, e, w.accounts)

	t.Run("a deposit key reused with another amount", func(t *testing.T) {
		wantErr(t, "deposit", kaquan.ErrExists, func() error {
			_, err := e.Deposit(ctx, kaquan.Deposit{Account: acct, Amount: 301, Key: "dep"})
			return err
		})
		wantErr(t, "withdrawal", kaquan.ErrExists, func() error {
			_, err := e.Withdraw(ctx, kaquan.Withdrawal{Account: acct, Amount: 201, Key: "wdr"})
			return err
		})
		unchanged(t, e, before)
	})
	t.Run("a deposit key reused with the same amount returns the first entry", func(t *testing.T) {
		again, err := e.Deposit(ctx, kaquan.Deposit{Account: acct, Amount: 300, Key: "dep"})
		if err != nil || again.Seq != first.Seq || again.Amount != first.Amount || again.BalanceAfter != first.BalanceAfter {
			t.Errorf("deposit retry: got %v, %v, want %v", again, err, first)
		}
		againW, err := e.Withdraw(ctx, kaquan.Withdrawal{Account: acct, Amount: 200, Key: "wdr"})
		if err != nil || againW.Seq != firstW.Seq || againW.Amount != -200 {
			t.Errorf("withdrawal retry: got %v, %v, want %v", againW, err, firstW)
		}
		unchanged(t, e, before)
	})
}
