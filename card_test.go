package kaquan_test

import (
	"fmt"
	"testing"

	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/messages"
)

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
