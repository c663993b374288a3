package kaquan_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"fmt"
	"strings"

	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
	"google.golang.org/protobuf/proto"
)

func TestPayment_CardValidated(t *testing.T) {
	e := MustOpenEngine(t)
	ctx := ctxTimeout(t)
	w := mustWorld(t, e, 1, 10_000, 10)
	u := w.users[0]
	c, err := e.Claim(ctx, kaquan.Claim{Template: w.template, User: u})
	if err != nil {
		t.Fatal(err)
	}
	code, err := e.IssuePaymentCode(ctx, kaquan.IssuePaymentCode{User: u, Account: userAccount(u), Card: c.Id})
	if err != nil {
		t.Fatal(err)
	}
	o, err := e.Pay(ctx, kaquan.Pay{Merchant: w.merchant, MerchantAccount: w.merchantAccount, Code: code.Code, Amount: 3000, Key: "k1"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := o.Payment.Charged, int64(2500); got != want {
		t.Fatalf("charged %d, want %d", got, want)
	}
	payer, _ := e.Account(ctx, userAccount(u))
	merchant, _ := e.Account(ctx, w.merchantAccount)
	if payer.Balance != 7500 || merchant.Balance != 2500 {
		t.Fatalf("balances payer %d merchant %d, want 7500 2500", payer.Balance, merchant.Balance)
	}
	card, _ := e.Card(ctx, c.Id)
	if card.State != messages.CardState_CARD_STATE_USED {
		t.Fatalf("card %s, want USED", card.State)
	}
	again, err := e.Pay(ctx, kaquan.Pay{Merchant: w.merchant, MerchantAccount: w.merchantAccount, Code: code.Code, Amount: 3000, Key: "k1"})
	if err != nil || !again.Duplicate || again.Payment.Charged != 2500 {
		t.Fatalf("retry: %+v %v", again, err)
	}
	_, err = e.Pay(ctx, kaquan.Pay{Merchant: w.merchant, MerchantAccount: w.merchantAccount, Code: code.Code, Amount: 3000, Key: "k2"})
	if !errors.Is(err, kaquan.ErrCodeUsed) {
		t.Fatalf("reused code: %v, want ErrCodeUsed", err)
	}
	r, err := e.Refund(ctx, kaquan.Refund{Merchant: w.merchant, Key: "k1"})
	if err != nil || r.Payment.State != messages.PaymentState_PAYMENT_STATE_REFUNDED {
		t.Fatalf("refund: %+v %v", r, err)
	}
	payer, _ = e.Account(ctx, userAccount(u))
	card, _ = e.Card(ctx, c.Id)
	mustAudit(t, e)
	if payer.Balance != 10_000 || card.State != messages.CardState_CARD_STATE_AVAILABLE {
		t.Fatalf("after refund: balance %d card %s", payer.Balance, card.State)
	}
}

func mustAudit(t *testing.T, e *kaquan.Engine) *kaquan.AuditReport {
	t.Helper()
	r, err := e.Audit(ctxTimeout(t))
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() {
		t.Fatalf("%s\n%v", r, r.Problems)
	}
	return r
}

// TestPayment_MerchantPaysItself: payment codes are for users; a merchant's own code is refused, and
// a code record that routes to the merchant's own account (older data) is refused before anything
// is recorded. Both sides of one transfer on one account would be indistinguishable to recovery.
func TestPayment_MerchantPaysItself(t *testing.T) {
	dir := t.TempDir()
	e := mustOpenAt(t, dir)
	ctx := ctxTimeout(t)
	w := mustWorld(t, e, 1, 10_000, 10)
	must(t)(e.Deposit(ctx, kaquan.Deposit{Account: w.merchantAccount, Amount: 1000, Key: "float"}))
	_, err := e.IssuePaymentCode(ctx, kaquan.IssuePaymentCode{User: w.merchant, Account: w.merchantAccount})
	if !errors.Is(err, kaquan.ErrPermissionDenied) {
		t.Fatalf("merchant's payment code: %v, want ErrPermissionDenied", err)
	}
	const code = "123456789012345678"
	rec, err := proto.Marshal(&messages.PaymentCode{Code: code, AccountId: w.merchantAccount, ExpiresAt: time.Now().Add(time.Hour).UnixNano()})
	if err != nil {
		t.Fatal(err)
	}
	e = reopenWith(t, dir, e, persistence.Entry{Key: persistence.PaymentCodeKey(code), Value: rec})
	_, err = e.Pay(ctx, kaquan.Pay{Merchant: w.merchant, MerchantAccount: w.merchantAccount, Code: code, Amount: 300, Key: "self"})
	if !errors.Is(err, kaquan.ErrInvalidArgument) {
		t.Fatalf("payment into the payer's own account: %v, want ErrInvalidArgument", err)
	}
	if _, err := e.Payment(ctx, w.merchant, "self"); !errors.Is(err, kaquan.ErrUnknownEntity) {
		t.Fatalf("the refused payment was recorded: %v", err)
	}
	if b, _ := mustBalance(t, e, w.merchantAccount); b != 1000 {
		t.Fatalf("merchant balance %d, want 1000", b)
	}
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
		wantNoPayment(t, e, "pay", o, w.merchant, "unknown-code")
	})
	t.Run("a used code", func(t *testing.T) {
		o, err := w.pay(e, used, 100, "second-use")
		if !errors.Is(err, kaquan.ErrCodeUsed) {
			t.Errorf("pay: got %v, want ErrCodeUsed", err)
		}
		wantNoPayment(t, e, "pay", o, w.merchant, "second-use")
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
		wantNoPayment(t, e, "pay", o, w.merchant, "expired")
		wantCardState(t, e, c.Id, messages.CardState_CARD_STATE_AVAILABLE)
		unchanged(t, e, before)
	})
	t.Run("a payment code long forgotten", func(t *testing.T) {
		// Within its grace period: the code's record still says it expired.
		clk.Advance(kaquan.DefaultOptions().PaymentCodeGrace / 2)
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
		_, err := e.IssuePaymentCode(ctx, kaquan.IssuePaymentCode{User: u, Account: userAccount(u), Card: c.Id})
		wantCardErr(t, "issue a code", err, messages.CardReason_CARD_REASON_EXPIRED)
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

// TestPay_RefusalKeepsKey: a payment refused before it started (its code unknown, expired or used)
// records nothing, and its key pays later with a good code; a payment that started (the code was
// consumed, then the card refused) is recorded, and a retry gets its first outcome.
func TestPay_RefusalKeepsKey(t *testing.T) {
	clk := newFakeClock()
	e := MustOpenEngine(t, func(o *kaquan.Options) { o.Clock = clk.Now })
	ctx := ctxTimeout(t)
	w := mustBadWorld(t, e)
	u := w.users[0]
	used := w.code(t, e, u, 0)
	must(t)(w.pay(e, used, 100, "spent"))
	expired := w.code(t, e, u, 0)
	clk.Advance(kaquan.DefaultOptions().PaymentCodeTTL)
	refusals := []struct {
		name, code string
		want       error
	}{
		{"unknown", "000000000000000042", kaquan.ErrCodeUnknown},
		{"expired", expired, kaquan.ErrCodeExpired},
		{"used", used, kaquan.ErrCodeUsed},
	}
	for _, r := range refusals {
		t.Run(r.name, func(t *testing.T) {
			key := "order-" + r.name
			before := readLedgers(t, e, w.accounts)
			o, err := w.pay(e, r.code, 100, key)
			if !errors.Is(err, r.want) {
				t.Fatalf("pay: got %v, want %v", err, r.want)
			}
			wantNoPayment(t, e, "pay", o, w.merchant, key)
			unchanged(t, e, before)
			o, err = w.pay(e, w.code(t, e, u, 0), 100, key)
			if err != nil || o.Duplicate || o.Payment.State != messages.PaymentState_PAYMENT_STATE_COMPLETED {
				t.Fatalf("pay again under %q with a good code: got %v, %v, want a new COMPLETED payment", key, o, err)
			}
		})
	}
	t.Run("started, then the card refused", func(t *testing.T) {
		c := mustV(e.Claim(ctx, kaquan.Claim{Template: w.template, User: u}))(t)
		code := w.code(t, e, u, c.Id)
		o, err := w.pay(e, code, 100, "below-least-cost") // the template's least cost is 2000
		wantCardErr(t, "pay", err, messages.CardReason_CARD_REASON_BELOW_LEAST_COST)
		wantFailedPayment(t, "pay", o, messages.PaymentResult_PAYMENT_RESULT_CARD_NOT_USABLE)
		again, err := w.pay(e, code, 100, "below-least-cost")
		wantCardErr(t, "retry", err, messages.CardReason_CARD_REASON_BELOW_LEAST_COST)
		if !again.Duplicate || !proto.Equal(again.Payment, o.Payment) {
			t.Errorf("retry: got %v (duplicate %t), want the first outcome %v", again.Payment, again.Duplicate, o.Payment)
		}
		wantErr(t, "another code under the key", kaquan.ErrExists, func() error {
			_, err := w.pay(e, w.code(t, e, u, 0), 100, "below-least-cost")
			return err
		})
		mustAudit(t, e)
	})
}

// TestPay_RefusalDoesNotLeakUnderItsKey: a request refused before it started (a used code) and a
// good one race under one key, with a read beside them. The good one always completes (the
// refused one leaves the key free; it is never answered ErrExists for a payment that is not
// recorded), and the read answers the payment or ErrUnknownEntity, never the other's refusal.
func TestPay_RefusalDoesNotLeakUnderItsKey(t *testing.T) {
	e := MustOpenEngine(t)
	w := mustBadWorld(t, e)
	u := w.users[0]
	used := w.code(t, e, u, 0)
	must(t)(w.pay(e, used, 100, "spent"))
	for i := range 100 {
		key := fmt.Sprintf("race-%d", i)
		good := w.code(t, e, u, 0)
		var wg sync.WaitGroup
		var errUsed, errGood, errRead error
		wg.Go(func() { _, errUsed = w.pay(e, used, 100, key) })
		wg.Go(func() { _, errGood = w.pay(e, good, 10, key) })
		wg.Go(func() { _, errRead = e.Payment(ctxTimeout(t), w.merchant, key) })
		wg.Wait()
		if errGood != nil {
			t.Fatalf("%s: the good request: %v", key, errGood)
		}
		if !errors.Is(errUsed, kaquan.ErrCodeUsed) && !errors.Is(errUsed, kaquan.ErrExists) {
			t.Errorf("%s: the request with the used code: %v", key, errUsed)
		}
		if errRead != nil && !errors.Is(errRead, kaquan.ErrUnknownEntity) {
			t.Errorf("%s: the read: %v", key, errRead)
		}
	}
}
