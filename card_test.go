package kaquan_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/messages"
)

func TestBadInput_Cards(t *testing.T) {
	e := MustOpenEngine(t)
	ctx := ctxTimeout(t)
	w := mustBadWorld(t, e)
	u := w.users[0]
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
		_, err := e.IssuePaymentCode(ctx, kaquan.IssuePaymentCode{User: u, Account: userAccount(u), Card: c.Id})
		wantCardErr(t, "issue a code", err, messages.CardReason_CARD_REASON_NOT_AVAILABLE)
		wantErr(t, "void a used card", kaquan.ErrCardNotUsable, func() error { _, err := e.VoidCard(ctx, kaquan.VoidCard{Merchant: w.merchant, Card: c.Id}); return err })
		wantCardState(t, e, c.Id, messages.CardState_CARD_STATE_USED)
		unchanged(t, e, before)
	})
	t.Run("a voided card", func(t *testing.T) {
		v := mustV(e.Claim(ctx, kaquan.Claim{Template: w.template, User: u}))(t)
		must(t)(e.VoidCard(ctx, kaquan.VoidCard{Merchant: w.merchant, Card: v.Id}))
		before := readLedgers(t, e, w.accounts)
		_, err := e.IssuePaymentCode(ctx, kaquan.IssuePaymentCode{User: u, Account: userAccount(u), Card: v.Id})
		wantCardErr(t, "issue a code", err, messages.CardReason_CARD_REASON_NOT_AVAILABLE)
		wantCardState(t, e, v.Id, messages.CardState_CARD_STATE_VOID)
		unchanged(t, e, before)
	})
}

// TestIssuePaymentCode_CardRefused: a code naming a card the user cannot pay with is refused at
// issue time with the card's reason, and nothing is recorded: no code, no code slot taken.
func TestIssuePaymentCode_CardRefused(t *testing.T) {
	clk := newFakeClock()
	e := MustOpenEngine(t, func(o *kaquan.Options) { o.Clock = clk.Now })
	ctx := ctxTimeout(t)
	w := mustBadWorld(t, e)
	u, other := w.users[0], w.users[1]
	mine := mustV(e.Claim(ctx, kaquan.Claim{Template: w.template, User: u}))(t)
	theirs := mustV(e.Claim(ctx, kaquan.Claim{Template: w.template, User: other}))(t)
	spent := mustV(e.Claim(ctx, kaquan.Claim{Template: w.template, User: u}))(t)
	must(t)(w.pay(e, w.code(t, e, u, spent.Id), 3000, "spend"))
	voided := mustV(e.Claim(ctx, kaquan.Claim{Template: w.template, User: u}))(t)
	must(t)(e.VoidCard(ctx, kaquan.VoidCard{Merchant: w.merchant, Card: voided.Id}))
	refusals := []struct {
		name string
		card uint64
		want messages.CardReason
	}{
		{"someone else's card", theirs.Id, messages.CardReason_CARD_REASON_NOT_OWNER},
		{"an unknown card", w.template<<32 | 99, messages.CardReason_CARD_REASON_UNKNOWN_CARD},
		{"a card id of no template", 12345, messages.CardReason_CARD_REASON_UNKNOWN_CARD},
		{"a used card", spent.Id, messages.CardReason_CARD_REASON_NOT_AVAILABLE},
		{"a voided card", voided.Id, messages.CardReason_CARD_REASON_NOT_AVAILABLE},
	}
	codes := func() int { return len(mustV(e.Account(ctx, userAccount(u)))(t).Account.GetCodes()) }
	issue := func(card uint64) (*messages.PaymentCode, error) {
		return e.IssuePaymentCode(ctx, kaquan.IssuePaymentCode{User: u, Account: userAccount(u), Card: card})
	}
	check := func(t *testing.T, card uint64, want messages.CardReason) {
		t.Helper()
		held := codes()
		for range actors.PaymentCodesPerAccountMax + 1 { // more than the slots: none is taken
			pc, err := issue(card)
			wantCardErr(t, "issue", err, want)
			if pc != nil {
				t.Fatalf("issue: got code %v, want none", pc)
			}
		}
		if got := codes(); got != held {
			t.Errorf("codes held: got %d, want %d", got, held)
		}
	}
	for _, r := range refusals {
		t.Run(r.name, func(t *testing.T) { check(t, r.card, r.want) })
	}
	t.Run("a card past its validity", func(t *testing.T) {
		clk.Advance(31 * 24 * time.Hour)
		check(t, mine.Id, messages.CardReason_CARD_REASON_EXPIRED)
		wantCardState(t, e, mine.Id, messages.CardState_CARD_STATE_AVAILABLE)
	})
	t.Run("every slot still free", func(t *testing.T) {
		for i := range actors.PaymentCodesPerAccountMax {
			if _, err := issue(0); err != nil {
				t.Fatalf("code %d: %v", i+1, err)
			}
		}
		mustAudit(t, e)
	})
}
