package kaquan_test

import (
	"errors"
	"testing"
	"time"

	"github.com/kaquan/kaquan"
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
