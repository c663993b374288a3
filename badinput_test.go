package kaquan_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/messages"
)

// wantErr runs call and checks that it returns an error matching want (errors.Is) without panicking.
func wantErr(tb testing.TB, name string, want error, call func() error) {
	tb.Helper()
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		err = call()
	}()
	if !errors.Is(err, want) {
		tb.Errorf("%s: got error %v, want %v", name, err, want)
	}
}

// wantCardErr checks that err is a *kaquan.CardError with reason want, matching ErrCardNotUsable.
func wantCardErr(tb testing.TB, name string, err error, want messages.CardReason) {
	tb.Helper()
	var ce *kaquan.CardError
	if !errors.As(err, &ce) || ce.Reason != want || !errors.Is(err, kaquan.ErrCardNotUsable) {
		tb.Errorf("%s: got error %v, want CardError %s", name, err, want)
	}
}

// ledgerState is every account's balance and ledger length at one moment.
type ledgerState map[uint64][2]int64

func readLedgers(tb testing.TB, e *kaquan.Engine, accounts []uint64) ledgerState {
	tb.Helper()
	s := ledgerState{}
	for _, a := range accounts {
		b, seq := mustBalance(tb, e, a)
		s[a] = [2]int64{b, int64(seq)}
	}
	return s
}

// unchanged checks that no account moved since before, that the engine still runs, and that the
// audit passes.
func unchanged(t *testing.T, e *kaquan.Engine, before ledgerState) {
	t.Helper()
	mustEngineOK(t, e)
	for a, want := range before {
		b, seq := mustBalance(t, e, a)
		if got := [2]int64{b, int64(seq)}; got != want {
			t.Errorf("account %d: got balance %d after %d entries, want %d after %d", a, got[0], got[1], want[0], want[1])
		}
	}
	mustAudit(t, e)
}

// badWorld is mustWorld with two users and a second merchant (2, owning account 2).
type badWorld struct {
	world
	other    uint64 // second merchant and its account
	accounts []uint64
}

func mustBadWorld(t *testing.T, e *kaquan.Engine) badWorld {
	t.Helper()
	ctx := ctxTimeout(t)
	w := badWorld{world: mustWorld(t, e, 2, 10_000, 100), other: 2}
	must(t)(e.CreateParty(ctx, kaquan.CreateParty{ID: w.other, Kind: messages.PartyKind_PARTY_KIND_MERCHANT, Name: "other shop"}))
	must(t)(e.CreateAccount(ctx, kaquan.CreateAccount{ID: w.other, Owner: w.other}))
	w.accounts = []uint64{w.merchantAccount, w.other, userAccount(w.users[0]), userAccount(w.users[1])}
	return w
}

// code issues a payment code on user u's account, naming card (0: none).
func (w badWorld) code(t *testing.T, e *kaquan.Engine, u, card uint64) string {
	t.Helper()
	return mustV(e.IssuePaymentCode(ctxTimeout(t), kaquan.IssuePaymentCode{User: u, Account: userAccount(u), Card: card}))(t).Code
}

func (w badWorld) pay(e *kaquan.Engine, code string, amount int64, key string) (kaquan.PaymentOutcome, error) {
	return e.Pay(context.Background(), kaquan.Pay{Merchant: w.merchant, MerchantAccount: w.merchantAccount, Code: code, Amount: amount, Key: key})
}

// wantFailedPayment checks the recorded outcome of a failed payment: FAILED, result r, nothing charged.
func wantFailedPayment(t *testing.T, name string, o kaquan.PaymentOutcome, r messages.PaymentResult) {
	t.Helper()
	p := o.Payment
	if p == nil || p.State != messages.PaymentState_PAYMENT_STATE_FAILED || p.Result != r || p.Charged != 0 || p.Discount != 0 {
		t.Errorf("%s: got recorded payment %v, want FAILED %s charging nothing", name, p, r)
	}
}

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

func TestBadInput_IdempotencyKeys(t *testing.T) {
	e := MustOpenEngine(t)
	ctx := ctxTimeout(t)
	w := mustBadWorld(t, e)
	u := w.users[0]
	code := w.code(t, e, u, 0)
	must(t)(w.pay(e, w.code(t, e, u, 0), 100, "paid"))
	before := readLedgers(t, e, w.accounts)
	keys := map[string]string{
		"empty":           "",
		"65 bytes":        strings.Repeat("k", actors.IdempotencyKeyBytesMax+1),
		"space":           "a key",
		"tab":             "a\tkey",
		"newline":         "key\n",
		"NUL":             "key\x00",
		"DEL":             "key\x7f",
		"non-ASCII":       "clé",
		"invalid UTF-8":   "key\xff",
		"64 bytes + NUL":  strings.Repeat("k", 63) + "\x00",
		"only whitespace": " ",
	}
	for name, key := range keys {
		t.Run(name, func(t *testing.T) {
			calls := map[string]func() error{
				"deposit": func() error {
					_, err := e.Deposit(ctx, kaquan.Deposit{Account: userAccount(u), Amount: 1, Key: key})
					return err
				},
				"withdraw": func() error {
					_, err := e.Withdraw(ctx, kaquan.Withdrawal{Account: userAccount(u), Amount: 1, Key: key})
					return err
				},
				"pay": func() error { _, err := w.pay(e, code, 100, key); return err },
				"refund": func() error {
					_, err := e.Refund(ctx, kaquan.Refund{Merchant: w.merchant, Key: key})
					return err
				},
				"payment": func() error { _, err := e.Payment(ctx, w.merchant, key); return err },
			}
			for call, fn := range calls {
				wantErr(t, call, kaquan.ErrInvalidArgument, fn)
			}
		})
	}
	t.Run("nothing changed, and a 64-byte key works", func(t *testing.T) {
		unchanged(t, e, before)
		key := strings.Repeat("k", actors.IdempotencyKeyBytesMax)
		if _, err := w.pay(e, code, 100, key); err != nil {
			t.Errorf("pay with a 64-byte key: got %v, want success", err)
		}
		mustAudit(t, e)
	})
}

func TestBadInput_UnknownIDs(t *testing.T) {
	e := MustOpenEngine(t)
	ctx := ctxTimeout(t)
	w := mustBadWorld(t, e)
	u := w.users[0]
	const (
		noParty    = 999
		noAccount  = 999_999
		noTemplate = 99
	)
	noCard := w.template<<32 | 99
	validTemplate := func(id, merchant uint64) *messages.Template {
		return &messages.Template{Id: id, MerchantId: merchant, Kind: messages.TemplateKind_TEMPLATE_KIND_CASH,
			ReduceAmount: 100, StockTotal: 10, PerUserLimit: 1, ValidDays: 1}
	}
	before := readLedgers(t, e, w.accounts)
	calls := []struct {
		name string
		want error
		call func() error
	}{
		{"Party of an unknown id", kaquan.ErrUnknownEntity, func() error { _, err := e.Party(ctx, noParty); return err }},
		{"CreateAccount for an unknown owner", kaquan.ErrUnknownEntity, func() error {
			_, err := e.CreateAccount(ctx, kaquan.CreateAccount{ID: noAccount, Owner: noParty})
			return err
		}},
		{"CreateAccount for owner 0", kaquan.ErrUnknownEntity, func() error {
			_, err := e.CreateAccount(ctx, kaquan.CreateAccount{ID: noAccount, Owner: 0})
			return err
		}},
		{"Account of an unknown id", kaquan.ErrUnknownEntity, func() error { _, err := e.Account(ctx, noAccount); return err }},
		{"Account 0", kaquan.ErrUnknownEntity, func() error { _, err := e.Account(ctx, 0); return err }},
		{"Deposit to an unknown account", kaquan.ErrUnknownEntity, func() error {
			_, err := e.Deposit(ctx, kaquan.Deposit{Account: noAccount, Amount: 1, Key: "k"})
			return err
		}},
		{"Withdraw from an unknown account", kaquan.ErrUnknownEntity, func() error {
			_, err := e.Withdraw(ctx, kaquan.Withdrawal{Account: noAccount, Amount: 1, Key: "k"})
			return err
		}},
		{"SetAccountStatus of an unknown account", kaquan.ErrUnknownEntity, func() error {
			_, err := e.SetAccountStatus(ctx, kaquan.SetAccountStatus{Account: noAccount, Status: messages.AccountStatus_ACCOUNT_STATUS_FROZEN})
			return err
		}},
		{"IssuePaymentCode on an unknown account", kaquan.ErrUnknownEntity, func() error {
			_, err := e.IssuePaymentCode(ctx, kaquan.IssuePaymentCode{User: u, Account: noAccount})
			return err
		}},
		{"Template of an unknown id", kaquan.ErrUnknownEntity, func() error { _, err := e.Template(ctx, noTemplate); return err }},
		{"CreateTemplate for an unknown merchant", kaquan.ErrUnknownEntity, func() error {
			_, err := e.CreateTemplate(ctx, validTemplate(noTemplate, noParty))
			return err
		}},
		{"CreateTemplate for merchant 0", kaquan.ErrUnknownEntity, func() error {
			_, err := e.CreateTemplate(ctx, validTemplate(noTemplate, 0))
			return err
		}},
		{"Claim of an unknown template", kaquan.ErrUnknownEntity, func() error {
			_, err := e.Claim(ctx, kaquan.Claim{Template: noTemplate, User: u})
			return err
		}},
		{"Claim of template 0", kaquan.ErrUnknownEntity, func() error { _, err := e.Claim(ctx, kaquan.Claim{Template: 0, User: u}); return err }},
		{"Claim of template 2^32", kaquan.ErrUnknownEntity, func() error {
			_, err := e.Claim(ctx, kaquan.Claim{Template: 1 << 32, User: u})
			return err
		}},
		{"Claim by an unknown user", kaquan.ErrUnknownEntity, func() error {
			_, err := e.Claim(ctx, kaquan.Claim{Template: w.template, User: noParty})
			return err
		}},
		{"Card of an unknown id", kaquan.ErrUnknownEntity, func() error { _, err := e.Card(ctx, noCard); return err }},
		{"VoidCard of an unknown card", kaquan.ErrUnknownEntity, func() error {
			_, err := e.VoidCard(ctx, kaquan.VoidCard{Merchant: w.merchant, Card: noCard})
			return err
		}},
		{"ExpireCard of an unknown card", kaquan.ErrUnknownEntity, func() error { _, err := e.ExpireCard(ctx, kaquan.ExpireCard{Card: noCard}); return err }},
		{"Pay into an unknown merchant account", kaquan.ErrUnknownEntity, func() error {
			_, err := e.Pay(ctx, kaquan.Pay{Merchant: w.merchant, MerchantAccount: noAccount, Code: "123456789012345678", Amount: 1, Key: "k"})
			return err
		}},
		{"Refund of an unknown payment", kaquan.ErrUnknownEntity, func() error { _, err := e.Refund(ctx, kaquan.Refund{Merchant: w.merchant, Key: "nope"}); return err }},
		{"Payment of an unknown key", kaquan.ErrUnknownEntity, func() error { _, err := e.Payment(ctx, w.merchant, "nope"); return err }},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) { wantErr(t, c.name, c.want, c.call) })
	}
	t.Run("nothing was created", func(t *testing.T) {
		unchanged(t, e, before)
		wantErr(t, "party", kaquan.ErrUnknownEntity, func() error { _, err := e.Party(ctx, noParty); return err })
		wantErr(t, "account", kaquan.ErrUnknownEntity, func() error { _, err := e.Account(ctx, noAccount); return err })
		wantErr(t, "template", kaquan.ErrUnknownEntity, func() error { _, err := e.Template(ctx, noTemplate); return err })
		wantErr(t, "card", kaquan.ErrUnknownEntity, func() error { _, err := e.Card(ctx, noCard); return err })
		r := mustAudit(t, e)
		if got, want := r.Accounts, len(w.accounts); got != want {
			t.Errorf("audit: got %d accounts, want %d", got, want)
		}
		if got, want := r.Templates, 1; got != want {
			t.Errorf("audit: got %d templates, want %d", got, want)
		}
		if len(r.Payments) != 0 {
			t.Errorf("audit: got payments %v, want none", r.Payments)
		}
		if ids, err := e.Wallet(ctx, noParty); err != nil || len(ids) != 0 {
			t.Errorf("wallet of an unknown user: got %v, %v, want empty", ids, err)
		}
	})
}

func TestBadInput_Parties(t *testing.T) {
	e := MustOpenEngine(t)
	ctx := ctxTimeout(t)
	w := mustBadWorld(t, e)
	u := w.users[0]
	before := readLedgers(t, e, w.accounts)
	calls := []struct {
		name string
		want error
		call func() error
	}{
		{"Claim by a merchant", kaquan.ErrInvalidArgument, func() error {
			_, err := e.Claim(ctx, kaquan.Claim{Template: w.template, User: w.merchant})
			return err
		}},
		{"CreateParty with id 0", kaquan.ErrInvalidArgument, func() error {
			_, err := e.CreateParty(ctx, kaquan.CreateParty{ID: 0, Kind: messages.PartyKind_PARTY_KIND_USER})
			return err
		}},
		{"CreateParty without a kind", kaquan.ErrInvalidArgument, func() error {
			_, err := e.CreateParty(ctx, kaquan.CreateParty{ID: 5000})
			return err
		}},
		{"CreateParty with kind 99", kaquan.ErrInvalidArgument, func() error {
			_, err := e.CreateParty(ctx, kaquan.CreateParty{ID: 5000, Kind: 99})
			return err
		}},
		{"CreateParty with a 129-byte name", kaquan.ErrInvalidArgument, func() error {
			_, err := e.CreateParty(ctx, kaquan.CreateParty{ID: 5000, Kind: messages.PartyKind_PARTY_KIND_USER, Name: strings.Repeat("n", 129)})
			return err
		}},
		{"CreateParty again as a merchant", kaquan.ErrExists, func() error {
			_, err := e.CreateParty(ctx, kaquan.CreateParty{ID: u, Kind: messages.PartyKind_PARTY_KIND_MERCHANT, Name: "user0"})
			return err
		}},
		{"CreateAccount with id 0", kaquan.ErrInvalidArgument, func() error {
			_, err := e.CreateAccount(ctx, kaquan.CreateAccount{ID: 0, Owner: u})
			return err
		}},
		{"CreateAccount again for another owner", kaquan.ErrExists, func() error {
			_, err := e.CreateAccount(ctx, kaquan.CreateAccount{ID: userAccount(u), Owner: w.users[1]})
			return err
		}},
		{"CreateTemplate for a user", kaquan.ErrInvalidArgument, func() error {
			_, err := e.CreateTemplate(ctx, &messages.Template{Id: 50, MerchantId: u, Kind: messages.TemplateKind_TEMPLATE_KIND_CASH,
				ReduceAmount: 100, StockTotal: 10, PerUserLimit: 1, ValidDays: 1})
			return err
		}},
		{"IssuePaymentCode on another user's account", kaquan.ErrPermissionDenied, func() error {
			_, err := e.IssuePaymentCode(ctx, kaquan.IssuePaymentCode{User: w.users[1], Account: userAccount(u)})
			return err
		}},
		{"IssuePaymentCode by a merchant on a user's account", kaquan.ErrPermissionDenied, func() error {
			_, err := e.IssuePaymentCode(ctx, kaquan.IssuePaymentCode{User: w.merchant, Account: userAccount(u)})
			return err
		}},
		{"VoidCard by another merchant", kaquan.ErrPermissionDenied, func() error {
			c, err := e.Claim(ctx, kaquan.Claim{Template: w.template, User: u})
			if err != nil {
				return err
			}
			_, err = e.VoidCard(ctx, kaquan.VoidCard{Merchant: w.other, Card: c.Id})
			return err
		}},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) { wantErr(t, c.name, c.want, c.call) })
	}
	t.Run("nothing changed", func(t *testing.T) {
		unchanged(t, e, before)
		p := mustV(e.Party(ctx, u))(t)
		if p.Kind != messages.PartyKind_PARTY_KIND_USER {
			t.Errorf("party %d: got kind %s, want USER", u, p.Kind)
		}
		acc := mustV(e.Account(ctx, userAccount(u)))(t)
		if acc.Account.OwnerId != u {
			t.Errorf("account %d: got owner %d, want %d", userAccount(u), acc.Account.OwnerId, u)
		}
		wantErr(t, "party 5000", kaquan.ErrUnknownEntity, func() error { _, err := e.Party(ctx, 5000); return err })
		wantErr(t, "template 50", kaquan.ErrUnknownEntity, func() error { _, err := e.Template(ctx, 50); return err })
		tpl := mustV(e.Template(ctx, w.template))(t)
		if got, want := tpl.Issued, uint32(1); got != want { // the card of the VoidCard case
			t.Errorf("template issued %d, want %d", got, want)
		}
	})
}

func TestBadInput_PaymentCodes(t *testing.T) {
	e := MustOpenEngine(t)
	ctx := ctxTimeout(t)
	w := mustBadWorld(t, e)
	u := w.users[0]
	used := w.code(t, e, u, 0)
	must(t)(w.pay(e, used, 100, "first-use"))
	fresh := w.code(t, e, u, 0)
	before := readLedgers(t, e, w.accounts)

	t.Run("malformed codes", func(t *testing.T) {
		for _, code := range []string{"", "1", "12345678901234567", "1234567890123456789", "12345678901234567a",
			"abcdefghijklmnopqr", " 12345678901234567", "-12345678901234567", "+12345678901234567", "１２３４５６"} {
			wantErr(t, fmt.Sprintf("pay with code %q", code), kaquan.ErrInvalidArgument, func() error {
				_, err := w.pay(e, code, 100, "malformed")
				return err
			})
		}
		wantErr(t, "payment recorded under the key", kaquan.ErrUnknownEntity, func() error {
			_, err := e.Payment(ctx, w.merchant, "malformed")
			return err
		})
	})
	t.Run("an unknown 18-digit code", func(t *testing.T) {
		unknown := "000000000000000000"
		if unknown == fresh || unknown == used {
			unknown = "000000000000000001"
		}
		o, err := w.pay(e, unknown, 100, "unknown-code")
		if !errors.Is(err, kaquan.ErrCodeUnknown) {
			t.Errorf("pay: got %v, want ErrCodeUnknown", err)
		}
		wantFailedPayment(t, "pay", o, messages.PaymentResult_PAYMENT_RESULT_CODE_UNKNOWN)
	})
	t.Run("a used code", func(t *testing.T) {
		o, err := w.pay(e, used, 100, "second-use")
		if !errors.Is(err, kaquan.ErrCodeUsed) {
			t.Errorf("pay: got %v, want ErrCodeUsed", err)
		}
		wantFailedPayment(t, "pay", o, messages.PaymentResult_PAYMENT_RESULT_CODE_USED)
	})
	t.Run("a code presented by another merchant after its use", func(t *testing.T) {
		_, err := e.Pay(ctx, kaquan.Pay{Merchant: w.other, MerchantAccount: w.other, Code: used, Amount: 100, Key: "first-use"})
		if !errors.Is(err, kaquan.ErrCodeUsed) {
			t.Errorf("pay: got %v, want ErrCodeUsed", err)
		}
	})
	t.Run("a 17th active code", func(t *testing.T) {
		other := w.users[1]
		for i := range actors.PaymentCodesPerAccountMax {
			if _, err := e.IssuePaymentCode(ctx, kaquan.IssuePaymentCode{User: other, Account: userAccount(other)}); err != nil {
				t.Fatalf("code %d: %v", i+1, err)
			}
		}
		wantErr(t, "issue", kaquan.ErrCodeLimit, func() error {
			_, err := e.IssuePaymentCode(ctx, kaquan.IssuePaymentCode{User: other, Account: userAccount(other)})
			return err
		})
	})
	t.Run("nothing changed, and the fresh code still pays", func(t *testing.T) {
		unchanged(t, e, before)
		if _, err := w.pay(e, fresh, 100, "malformed"); err != nil {
			t.Errorf("pay with the fresh code: got %v, want success", err)
		}
		mustAudit(t, e)
	})
}

func TestBadInput_ExpiredCodesAndCards(t *testing.T) {
	clk := newFakeClock()
	e := MustOpenEngine(t, func(o *kaquan.Options) { o.Clock = clk.Now })
	ctx := ctxTimeout(t)
	w := mustBadWorld(t, e)
	u := w.users[0]
	ttl := kaquan.DefaultOptions().PaymentCodeTTL
	c := mustV(e.Claim(ctx, kaquan.Claim{Template: w.template, User: u}))(t)
	lastMoment := w.code(t, e, u, 0)
	expired := w.code(t, e, u, c.Id)
	clk.Advance(ttl - time.Nanosecond)
	must(t)(w.pay(e, lastMoment, 100, "last-moment"))
	before := readLedgers(t, e, w.accounts)

	t.Run("a payment code at its TTL", func(t *testing.T) {
		clk.Advance(time.Nanosecond)
		o, err := w.pay(e, expired, 3000, "expired")
		if !errors.Is(err, kaquan.ErrCodeExpired) {
			t.Errorf("pay: got %v, want ErrCodeExpired", err)
		}
		wantFailedPayment(t, "pay", o, messages.PaymentResult_PAYMENT_RESULT_CODE_EXPIRED)
		wantCardState(t, e, c.Id, messages.CardState_CARD_STATE_AVAILABLE)
		unchanged(t, e, before)
	})
	t.Run("a payment code long forgotten", func(t *testing.T) {
		clk.Advance(time.Hour)
		w.code(t, e, u, 0) // issuing prunes the expired codes from the account
		_, err := w.pay(e, expired, 3000, "expired-later")
		if !errors.Is(err, kaquan.ErrCodeExpired) {
			t.Errorf("pay: got %v, want ErrCodeExpired", err)
		}
		unchanged(t, e, before)
	})
	t.Run("a card past its validity", func(t *testing.T) {
		wantErr(t, "expire a valid card", kaquan.ErrInvalidArgument, func() error { _, err := e.ExpireCard(ctx, kaquan.ExpireCard{Card: c.Id}); return err })
		clk.Advance(30 * 24 * time.Hour)
		code := w.code(t, e, u, c.Id)
		o, err := w.pay(e, code, 3000, "expired-card")
		wantCardErr(t, "pay", err, messages.CardReason_CARD_REASON_EXPIRED)
		wantFailedPayment(t, "pay", o, messages.PaymentResult_PAYMENT_RESULT_CARD_NOT_USABLE)
		wantCardState(t, e, c.Id, messages.CardState_CARD_STATE_AVAILABLE)
		if _, err := e.ExpireCard(ctx, kaquan.ExpireCard{Card: c.Id}); err != nil {
			t.Errorf("expire: got %v, want success", err)
		}
		wantCardState(t, e, c.Id, messages.CardState_CARD_STATE_EXPIRED)
		unchanged(t, e, before)
	})
	t.Run("a template whose fixed validity ended", func(t *testing.T) {
		now := clk.Now().UnixNano()
		must(t)(e.CreateTemplate(ctx, &messages.Template{Id: 60, MerchantId: w.merchant, Kind: messages.TemplateKind_TEMPLATE_KIND_CASH,
			ReduceAmount: 100, StockTotal: 10, PerUserLimit: 1, ValidFrom: now, ValidUntil: now + int64(time.Hour)}))
		clk.Advance(time.Hour)
		wantErr(t, "claim", kaquan.ErrTemplateExpired, func() error {
			_, err := e.Claim(ctx, kaquan.Claim{Template: 60, User: u})
			return err
		})
		if tpl := mustV(e.Template(ctx, 60))(t); tpl.Issued != 0 {
			t.Errorf("template issued %d, want 0", tpl.Issued)
		}
		unchanged(t, e, before)
	})
}

func TestBadInput_Cards(t *testing.T) {
	e := MustOpenEngine(t)
	ctx := ctxTimeout(t)
	w := mustBadWorld(t, e)
	u, other := w.users[0], w.users[1]
	c := mustV(e.Claim(ctx, kaquan.Claim{Template: w.template, User: u}))(t)
	before := readLedgers(t, e, w.accounts)
	cases := []struct {
		name     string
		payer    uint64
		card     uint64
		merchant uint64
		amount   int64
		want     messages.CardReason
	}{
		{"a merchant the card does not accept", u, c.Id, w.other, 3000, messages.CardReason_CARD_REASON_MERCHANT_NOT_ACCEPTED},
		{"an amount below the least cost", u, c.Id, w.merchant, 1999, messages.CardReason_CARD_REASON_BELOW_LEAST_COST},
		{"someone else's card", other, c.Id, w.merchant, 3000, messages.CardReason_CARD_REASON_NOT_OWNER},
		{"an unknown card", u, w.template<<32 | 99, w.merchant, 3000, messages.CardReason_CARD_REASON_UNKNOWN_CARD},
		{"a card id of no template", u, 12345, w.merchant, 3000, messages.CardReason_CARD_REASON_UNKNOWN_CARD},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code := w.code(t, e, tc.payer, tc.card)
			o, err := e.Pay(ctx, kaquan.Pay{Merchant: tc.merchant, MerchantAccount: tc.merchant, Code: code, Amount: tc.amount, Key: fmt.Sprint("card-", i)})
			wantCardErr(t, "pay", err, tc.want)
			wantFailedPayment(t, "pay", o, messages.PaymentResult_PAYMENT_RESULT_CARD_NOT_USABLE)
			if got := o.Payment.GetCardReason(); got != tc.want {
				t.Errorf("recorded card reason: got %s, want %s", got, tc.want)
			}
			wantCardState(t, e, c.Id, messages.CardState_CARD_STATE_AVAILABLE)
			unchanged(t, e, before)
		})
	}
	t.Run("the card still pays exactly at its least cost", func(t *testing.T) {
		o, err := w.pay(e, w.code(t, e, u, c.Id), 2000, "least-cost")
		if err != nil || o.Payment.Charged != 1500 {
			t.Fatalf("pay: got %v, %v, want 1500 charged", o.Payment, err)
		}
		wantCardState(t, e, c.Id, messages.CardState_CARD_STATE_USED)
	})
	t.Run("a used card", func(t *testing.T) {
		before := readLedgers(t, e, w.accounts)
		_, err := w.pay(e, w.code(t, e, u, c.Id), 3000, "used-card")
		wantCardErr(t, "pay", err, messages.CardReason_CARD_REASON_NOT_AVAILABLE)
		wantErr(t, "void a used card", kaquan.ErrCardNotUsable, func() error { _, err := e.VoidCard(ctx, kaquan.VoidCard{Merchant: w.merchant, Card: c.Id}); return err })
		wantCardState(t, e, c.Id, messages.CardState_CARD_STATE_USED)
		unchanged(t, e, before)
	})
	t.Run("a voided card", func(t *testing.T) {
		v := mustV(e.Claim(ctx, kaquan.Claim{Template: w.template, User: u}))(t)
		must(t)(e.VoidCard(ctx, kaquan.VoidCard{Merchant: w.merchant, Card: v.Id}))
		before := readLedgers(t, e, w.accounts)
		_, err := w.pay(e, w.code(t, e, u, v.Id), 3000, "void-card")
		wantCardErr(t, "pay", err, messages.CardReason_CARD_REASON_NOT_AVAILABLE)
		wantCardState(t, e, v.Id, messages.CardState_CARD_STATE_VOID)
		unchanged(t, e, before)
	})
}

func TestBadInput_MerchantAccount(t *testing.T) {
	e := MustOpenEngine(t)
	ctx := ctxTimeout(t)
	w := mustBadWorld(t, e)
	u := w.users[0]
	code := w.code(t, e, u, 0)
	before := readLedgers(t, e, w.accounts)
	cases := []struct {
		name              string
		merchant, account uint64
	}{
		{"a user's account", w.merchant, userAccount(w.users[1])},
		{"the payer's own account", w.merchant, userAccount(u)},
		{"another merchant's account", w.merchant, w.other},
		{"a user posing as merchant", u, userAccount(u)},
		{"an unknown merchant", 999, w.merchantAccount},
		{"merchant 0", 0, w.merchantAccount},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key := fmt.Sprint("wrong-account-", i)
			wantErr(t, "pay", kaquan.ErrPermissionDenied, func() error {
				_, err := e.Pay(ctx, kaquan.Pay{Merchant: tc.merchant, MerchantAccount: tc.account, Code: code, Amount: 100, Key: key})
				return err
			})
			wantErr(t, "payment recorded under the key", kaquan.ErrUnknownEntity, func() error {
				_, err := e.Payment(ctx, tc.merchant, key)
				return err
			})
		})
	}
	t.Run("nothing changed, and the code still pays the right account", func(t *testing.T) {
		unchanged(t, e, before)
		if _, err := w.pay(e, code, 100, "right-account"); err != nil {
			t.Errorf("pay: got %v, want success", err)
		}
		wantBalance(t, e, w.merchantAccount, 100, 1)
	})
}

func TestBadInput_Funds(t *testing.T) {
	e := MustOpenEngine(t)
	ctx := ctxTimeout(t)
	w := mustBadWorld(t, e)
	u := w.users[0]
	c := mustV(e.Claim(ctx, kaquan.Claim{Template: w.template, User: u}))(t)
	before := readLedgers(t, e, w.accounts)

	t.Run("a card payment beyond the balance", func(t *testing.T) {
		o, err := w.pay(e, w.code(t, e, u, c.Id), 10_501, "too-much") // 10,001 after the card's 500
		if !errors.Is(err, kaquan.ErrInsufficientFunds) {
			t.Errorf("pay: got %v, want ErrInsufficientFunds", err)
		}
		wantFailedPayment(t, "pay", o, messages.PaymentResult_PAYMENT_RESULT_INSUFFICIENT_FUNDS)
		wantCardState(t, e, c.Id, messages.CardState_CARD_STATE_AVAILABLE)
		unchanged(t, e, before)
	})
	t.Run("a plain payment beyond the balance", func(t *testing.T) {
		o, err := w.pay(e, w.code(t, e, u, 0), 10_001, "too-much-plain")
		if !errors.Is(err, kaquan.ErrInsufficientFunds) {
			t.Errorf("pay: got %v, want ErrInsufficientFunds", err)
		}
		wantFailedPayment(t, "pay", o, messages.PaymentResult_PAYMENT_RESULT_INSUFFICIENT_FUNDS)
		unchanged(t, e, before)
	})
	t.Run("a withdrawal beyond the balance", func(t *testing.T) {
		wantErr(t, "withdraw", kaquan.ErrInsufficientFunds, func() error {
			_, err := e.Withdraw(ctx, kaquan.Withdrawal{Account: userAccount(u), Amount: 10_001, Key: "too-much"})
			return err
		})
		wantErr(t, "withdraw from an empty account", kaquan.ErrInsufficientFunds, func() error {
			_, err := e.Withdraw(ctx, kaquan.Withdrawal{Account: w.other, Amount: 1, Key: "empty"})
			return err
		})
		unchanged(t, e, before)
	})
	t.Run("the whole balance is still payable", func(t *testing.T) {
		if _, err := w.pay(e, w.code(t, e, u, c.Id), 10_500, "all-of-it"); err != nil {
			t.Fatalf("pay: got %v, want success", err)
		}
		wantBalance(t, e, userAccount(u), 0, 2)
		mustAudit(t, e)
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

func TestBadInput_Refunds(t *testing.T) {
	e := MustOpenEngine(t)
	ctx := ctxTimeout(t)
	w := mustBadWorld(t, e)
	u := w.users[0]
	must(t)(w.pay(e, w.code(t, e, u, 0), 1000, "paid"))
	failedOutcome, err := w.pay(e, w.code(t, e, u, 0), 1_000_000, "failed")
	if !errors.Is(err, kaquan.ErrInsufficientFunds) {
		t.Fatalf("setup: got %v, want ErrInsufficientFunds", err)
	}
	wantFailedPayment(t, "setup", failedOutcome, messages.PaymentResult_PAYMENT_RESULT_INSUFFICIENT_FUNDS)
	before := readLedgers(t, e, w.accounts)

	t.Run("a refund by another merchant finds no payment under its keys", func(t *testing.T) {
		// Payments are named by merchant and key: another merchant cannot even address this one.
		wantErr(t, "refund", kaquan.ErrUnknownEntity, func() error { _, err := e.Refund(ctx, kaquan.Refund{Merchant: w.other, Key: "paid"}); return err })
		wantErr(t, "read", kaquan.ErrUnknownEntity, func() error { _, err := e.Payment(ctx, w.other, "paid"); return err })
		if p := mustV(e.Payment(ctx, w.merchant, "paid"))(t); p.State != messages.PaymentState_PAYMENT_STATE_COMPLETED {
			t.Errorf("payment: got state %s, want COMPLETED", p.State)
		}
		unchanged(t, e, before)
	})
	t.Run("a refund of a failed payment", func(t *testing.T) {
		wantErr(t, "refund", kaquan.ErrRefundNotAllowed, func() error { _, err := e.Refund(ctx, kaquan.Refund{Merchant: w.merchant, Key: "failed"}); return err })
		if p := mustV(e.Payment(ctx, w.merchant, "failed"))(t); p.State != messages.PaymentState_PAYMENT_STATE_FAILED {
			t.Errorf("payment: got state %s, want FAILED", p.State)
		}
		unchanged(t, e, before)
	})
	t.Run("a refund the merchant can no longer fund", func(t *testing.T) {
		must(t)(e.Withdraw(ctx, kaquan.Withdrawal{Account: w.merchantAccount, Amount: 1, Key: "take"}))
		before := readLedgers(t, e, w.accounts)
		o, err := e.Refund(ctx, kaquan.Refund{Merchant: w.merchant, Key: "paid"})
		if !errors.Is(err, kaquan.ErrInsufficientFunds) {
			t.Errorf("refund: got %v, want ErrInsufficientFunds", err)
		}
		if p := o.Payment; p == nil || p.State != messages.PaymentState_PAYMENT_STATE_COMPLETED ||
			p.RefundResult != messages.PaymentResult_PAYMENT_RESULT_INSUFFICIENT_FUNDS {
			t.Errorf("refund: got recorded payment %v, want COMPLETED with refund result INSUFFICIENT_FUNDS", p)
		}
		unchanged(t, e, before)
		must(t)(e.Deposit(ctx, kaquan.Deposit{Account: w.merchantAccount, Amount: 1, Key: "give-back"}))
	})
	t.Run("a second refund", func(t *testing.T) {
		if _, err := e.Refund(ctx, kaquan.Refund{Merchant: w.merchant, Key: "paid"}); err != nil {
			t.Fatalf("first refund: got %v, want success", err)
		}
		before := readLedgers(t, e, w.accounts)
		wantErr(t, "second refund", kaquan.ErrRefundNotAllowed, func() error { _, err := e.Refund(ctx, kaquan.Refund{Merchant: w.merchant, Key: "paid"}); return err })
		unchanged(t, e, before)
		wantBalance(t, e, userAccount(u), 10_000, 3)
	})
}

func TestBadInput_Templates(t *testing.T) {
	e := MustOpenEngine(t)
	ctx := ctxTimeout(t)
	w := mustBadWorld(t, e)
	now := time.Now().UnixNano()
	valid := func() *messages.Template {
		return &messages.Template{Id: 70, MerchantId: w.merchant, Kind: messages.TemplateKind_TEMPLATE_KIND_CASH,
			ReduceAmount: 500, LeastCost: 2000, StockTotal: 10, PerUserLimit: 1, ValidDays: 30}
	}
	discount := func() *messages.Template {
		t := valid()
		t.Kind, t.ReduceAmount, t.DiscountBp, t.DiscountCap = messages.TemplateKind_TEMPLATE_KIND_DISCOUNT, 0, 1000, 0
		return t
	}
	tooMany := make([]uint64, actors.AcceptedMerchantsMax+1)
	for i := range tooMany {
		tooMany[i] = uint64(i + 1)
	}
	cases := map[string]func(*messages.Template){
		"id 0":                             func(t *messages.Template) { t.Id = 0 },
		"id 2^32":                          func(t *messages.Template) { t.Id = 1 << 32 },
		"no kind":                          func(t *messages.Template) { t.Kind = messages.TemplateKind_TEMPLATE_KIND_UNSPECIFIED },
		"kind 99":                          func(t *messages.Template) { t.Kind = 99 },
		"stock 0":                          func(t *messages.Template) { t.StockTotal = 0 },
		"per-user limit 0":                 func(t *messages.Template) { t.PerUserLimit = 0 },
		"negative least cost":              func(t *messages.Template) { t.LeastCost = -1 },
		"least cost above AmountMax":       func(t *messages.Template) { t.LeastCost = actors.AmountMax + 1 },
		"CASH reducing 0":                  func(t *messages.Template) { t.ReduceAmount = 0 },
		"CASH reducing a negative amount":  func(t *messages.Template) { t.ReduceAmount = -500 },
		"CASH reducing math.MaxInt64":      func(t *messages.Template) { t.ReduceAmount = math.MaxInt64 },
		"CASH with a percentage":           func(t *messages.Template) { t.DiscountBp = 100 },
		"CASH with a cap":                  func(t *messages.Template) { t.DiscountCap = 100 },
		"no validity":                      func(t *messages.Template) { t.ValidDays = 0 },
		"3661 valid days":                  func(t *messages.Template) { t.ValidDays = actors.ValidDaysMax + 1 },
		"both days and a range":            func(t *messages.Template) { t.ValidFrom, t.ValidUntil = now, now+1 },
		"an empty range":                   func(t *messages.Template) { t.ValidDays, t.ValidFrom, t.ValidUntil = 0, now, now },
		"a reversed range":                 func(t *messages.Template) { t.ValidDays, t.ValidFrom, t.ValidUntil = 0, now, now-1 },
		"a range from before 1970":         func(t *messages.Template) { t.ValidDays, t.ValidFrom, t.ValidUntil = 0, -10, now },
		"a 129-byte title":                 func(t *messages.Template) { t.Title = strings.Repeat("t", actors.NameBytesMax+1) },
		"257 accepted merchants":           func(t *messages.Template) { t.AcceptedMerchants = tooMany },
		"DISCOUNT with 0 basis points":     func(t *messages.Template) { *t = *discount(); t.DiscountBp = 0 },
		"DISCOUNT with 10000 basis points": func(t *messages.Template) { *t = *discount(); t.DiscountBp = 10_000 },
		"DISCOUNT with negative bp":        func(t *messages.Template) { *t = *discount(); t.DiscountBp = -1 },
		"DISCOUNT with a negative cap":     func(t *messages.Template) { *t = *discount(); t.DiscountCap = -1 },
		"DISCOUNT with a fixed reduction":  func(t *messages.Template) { *t = *discount(); t.ReduceAmount = 1 },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			tpl := valid()
			mutate(tpl)
			wantErr(t, "create", kaquan.ErrInvalidArgument, func() error { _, err := e.CreateTemplate(ctx, tpl); return err })
		})
	}
	t.Run("no template", func(t *testing.T) {
		wantErr(t, "create", kaquan.ErrInvalidArgument, func() error { _, err := e.CreateTemplate(ctx, nil); return err })
	})
	t.Run("nothing was created", func(t *testing.T) {
		wantErr(t, "template 70", kaquan.ErrUnknownEntity, func() error { _, err := e.Template(ctx, 70); return err })
		mustEngineOK(t, e)
		if r := mustAudit(t, e); r.Templates != 1 {
			t.Errorf("audit: got %d templates, want 1", r.Templates)
		}
	})
	t.Run("the same id with other fields", func(t *testing.T) {
		must(t)(e.CreateTemplate(ctx, valid()))
		if _, err := e.CreateTemplate(ctx, valid()); err != nil {
			t.Errorf("create again with the same fields: got %v, want the template", err)
		}
		changed := valid()
		changed.StockTotal++
		wantErr(t, "create", kaquan.ErrExists, func() error { _, err := e.CreateTemplate(ctx, changed); return err })
		if tpl := mustV(e.Template(ctx, 70))(t); tpl.StockTotal != 10 {
			t.Errorf("template: got stock %d, want 10", tpl.StockTotal)
		}
		wantErr(t, "create the world's template id for another merchant", kaquan.ErrExists, func() error {
			tpl := valid()
			tpl.Id, tpl.MerchantId = w.template, w.other
			_, err := e.CreateTemplate(ctx, tpl)
			return err
		})
	})
}

func TestBadInput_AfterClose(t *testing.T) {
	e := MustOpenEngine(t)
	ctx := ctxTimeout(t)
	w := mustBadWorld(t, e)
	u := w.users[0]
	code := w.code(t, e, u, 0)
	c := mustV(e.Claim(ctx, kaquan.Claim{Template: w.template, User: u}))(t)
	must(t)(w.pay(e, w.code(t, e, u, 0), 100, "paid"))
	if err := e.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	calls := map[string]func() error{
		"CreateParty": func() error {
			_, err := e.CreateParty(ctx, kaquan.CreateParty{ID: 4000, Kind: messages.PartyKind_PARTY_KIND_USER})
			return err
		},
		"Party":         func() error { _, err := e.Party(ctx, u); return err },
		"CreateAccount": func() error { _, err := e.CreateAccount(ctx, kaquan.CreateAccount{ID: 4000, Owner: u}); return err },
		"Account":       func() error { _, err := e.Account(ctx, userAccount(u)); return err },
		"SetAccountStatus": func() error {
			_, err := e.SetAccountStatus(ctx, kaquan.SetAccountStatus{Account: userAccount(u), Status: messages.AccountStatus_ACCOUNT_STATUS_FROZEN})
			return err
		},
		"Deposit": func() error {
			_, err := e.Deposit(ctx, kaquan.Deposit{Account: userAccount(u), Amount: 1, Key: "late"})
			return err
		},
		"Withdraw": func() error {
			_, err := e.Withdraw(ctx, kaquan.Withdrawal{Account: userAccount(u), Amount: 1, Key: "late"})
			return err
		},
		"CreateTemplate": func() error {
			_, err := e.CreateTemplate(ctx, &messages.Template{Id: 80, MerchantId: w.merchant, Kind: messages.TemplateKind_TEMPLATE_KIND_CASH,
				ReduceAmount: 1, StockTotal: 1, PerUserLimit: 1, ValidDays: 1})
			return err
		},
		"Template":   func() error { _, err := e.Template(ctx, w.template); return err },
		"Claim":      func() error { _, err := e.Claim(ctx, kaquan.Claim{Template: w.template, User: u}); return err },
		"Card":       func() error { _, err := e.Card(ctx, c.Id); return err },
		"VoidCard":   func() error { _, err := e.VoidCard(ctx, kaquan.VoidCard{Merchant: w.merchant, Card: c.Id}); return err },
		"ExpireCard": func() error { _, err := e.ExpireCard(ctx, kaquan.ExpireCard{Card: c.Id}); return err },
		"Wallet":     func() error { _, err := e.Wallet(ctx, u); return err },
		"IssuePaymentCode": func() error {
			_, err := e.IssuePaymentCode(ctx, kaquan.IssuePaymentCode{User: u, Account: userAccount(u)})
			return err
		},
		"Pay":     func() error { _, err := w.pay(e, code, 100, "late"); return err },
		"Refund":  func() error { _, err := e.Refund(ctx, kaquan.Refund{Merchant: w.merchant, Key: "paid"}); return err },
		"Payment": func() error { _, err := e.Payment(ctx, w.merchant, "paid"); return err },
		"Audit":   func() error { _, err := e.Audit(ctx); return err },
		"CheckAcks": func() error {
			return e.CheckAcks(ctx, &kaquan.AuditReport{}, []string{kaquan.PaymentKey(w.merchant, "paid")})
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) { wantErr(t, name, kaquan.ErrEngineStopped, call) })
	}
	t.Run("Close again", func(t *testing.T) {
		if err := e.Close(); err != nil {
			t.Errorf("second close: got %v, want nil", err)
		}
	})
}

// Claims check their user's kind from memory after the first read: a merchant stays refused, and a
// user unknown at one claim can claim once created (an unknown id is never remembered).
func TestClaim_PartyKindRemembered(t *testing.T) {
	e := MustOpenEngine(t, inMemory)
	ctx := ctxTimeout(t)
	w := mustWorld(t, e, 1, 0, 10)
	for range 2 {
		if _, err := e.Claim(ctx, kaquan.Claim{Template: w.template, User: w.merchant}); !errors.Is(err, kaquan.ErrInvalidArgument) {
			t.Fatalf("claim by a merchant: %v, want ErrInvalidArgument", err)
		}
	}
	const late = 777
	if _, err := e.Claim(ctx, kaquan.Claim{Template: w.template, User: late}); !errors.Is(err, kaquan.ErrUnknownEntity) {
		t.Fatalf("claim by an unknown user: %v, want ErrUnknownEntity", err)
	}
	must(t)(e.CreateParty(ctx, kaquan.CreateParty{ID: late, Kind: messages.PartyKind_PARTY_KIND_USER, Name: "late"}))
	for range 2 {
		if _, err := e.Claim(ctx, kaquan.Claim{Template: w.template, User: late}); err != nil {
			t.Fatalf("claim once the user exists: %v", err)
		}
	}
}
