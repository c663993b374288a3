package kaquan_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
	"google.golang.org/protobuf/proto"
)

// acceptanceWorld is badWorld with a template of merchant 1 that merchant 2 (w.other) is listed to
// accept too, and one that lists merchant 2 alone: 5000 off, no minimum (the review's case).
type acceptanceWorld struct {
	badWorld
	shared, foreignOnly uint64 // templates
}

func mustAcceptanceWorld(t *testing.T, e *kaquan.Engine) acceptanceWorld {
	t.Helper()
	ctx := ctxTimeout(t)
	w := acceptanceWorld{badWorld: mustBadWorld(t, e), shared: 70, foreignOnly: 71}
	must(t)(e.CreateTemplate(ctx, &messages.Template{Id: w.shared, MerchantId: w.merchant, Kind: messages.TemplateKind_TEMPLATE_KIND_CASH,
		ReduceAmount: 500, StockTotal: 100, PerUserLimit: 100, ValidDays: 30, AcceptedMerchants: []uint64{w.merchant, w.other}}))
	must(t)(e.CreateTemplate(ctx, &messages.Template{Id: w.foreignOnly, MerchantId: w.merchant, Kind: messages.TemplateKind_TEMPLATE_KIND_CASH,
		ReduceAmount: 5000, StockTotal: 100, PerUserLimit: 100, ValidDays: 30, AcceptedMerchants: []uint64{w.other}}))
	return w
}

// payAt has user u pay amount at merchant m (whose account has its id) with a card of template.
func (w acceptanceWorld) payAt(t *testing.T, e *kaquan.Engine, m, template uint64, amount int64, key string) (*messages.Card, kaquan.PaymentOutcome, error) {
	t.Helper()
	u := w.users[0]
	c := mustV(e.Claim(ctxTimeout(t), kaquan.Claim{Template: template, User: u}))(t)
	o, err := e.Pay(ctxTimeout(t), kaquan.Pay{Merchant: m, MerchantAccount: m, Code: w.code(t, e, u, c.Id), Amount: amount, Key: key})
	return c, o, err
}

// wantRefusedAt checks that a card refused at merchant m with reason: the payment recorded FAILED
// (its code was consumed), nothing moved, the card still AVAILABLE.
func (w acceptanceWorld) wantRefusedAt(t *testing.T, e *kaquan.Engine, m, template uint64, key string, reason messages.CardReason) {
	t.Helper()
	before := readLedgers(t, e, w.accounts)
	c, o, err := w.payAt(t, e, m, template, 5000, key)
	wantCardErr(t, "pay", err, reason)
	wantFailedPayment(t, "pay", o, messages.PaymentResult_PAYMENT_RESULT_CARD_NOT_USABLE)
	wantCardState(t, e, c.Id, messages.CardState_CARD_STATE_AVAILABLE)
	unchanged(t, e, before)
}

// wantPaidAt checks that a payment of amount at merchant m with a card of template completes with
// discount.
func (w acceptanceWorld) wantPaidAt(t *testing.T, e *kaquan.Engine, m, template uint64, key string, amount, discount int64) {
	t.Helper()
	c, o, err := w.payAt(t, e, m, template, amount, key)
	if err != nil || o.Payment.Discount != discount || o.Payment.Charged != amount-discount {
		t.Fatalf("pay at %d: got %v, %v, want discount %d", m, o.Payment, err, discount)
	}
	wantCardState(t, e, c.Id, messages.CardState_CARD_STATE_USED)
}

// TestAcceptance_Payments: a card pays at a merchant other than its issuer only while that
// merchant's acceptance of the issuer stands; the issuer's own cards are unchanged.
func TestAcceptance_Payments(t *testing.T) {
	top, dir := t, t.TempDir()
	e := mustOpenAt(t, dir)
	ctx := ctxTimeout(t)
	w := mustAcceptanceWorld(t, e)
	issuer, acceptor := w.merchant, w.other

	t.Run("not granted", func(t *testing.T) {
		w.wantRefusedAt(t, e, acceptor, w.shared, "not-granted", messages.CardReason_CARD_REASON_ACCEPTANCE_NOT_GRANTED)
		w.wantRefusedAt(t, e, acceptor, w.foreignOnly, "not-granted-5000", messages.CardReason_CARD_REASON_ACCEPTANCE_NOT_GRANTED)
	})
	t.Run("the issuer's own cards need none", func(t *testing.T) {
		w.wantPaidAt(t, e, issuer, w.shared, "issuer-1", 1000, 500)
		w.wantPaidAt(t, e, issuer, w.template, "issuer-2", 3000, 500)
		w.wantRefusedAt(t, e, issuer, w.foreignOnly, "issuer-unlisted", messages.CardReason_CARD_REASON_MERCHANT_NOT_ACCEPTED)
	})
	t.Run("granted", func(t *testing.T) {
		a, err := e.GrantAcceptance(ctx, kaquan.GrantAcceptance{Acceptor: acceptor, Issuer: issuer})
		if err != nil || a.State != kaquan.AcceptanceGranted || a.Acceptor != acceptor || a.Issuer != issuer || a.GrantedAt == 0 {
			t.Fatalf("grant: got %v, %v", a, err)
		}
		again := mustV(e.GrantAcceptance(ctx, kaquan.GrantAcceptance{Acceptor: acceptor, Issuer: issuer}))(t)
		if again.GrantedAt != a.GrantedAt {
			t.Errorf("grant again: got granted at %d, want %d unchanged", again.GrantedAt, a.GrantedAt)
		}
		w.wantPaidAt(t, e, acceptor, w.shared, "granted-1", 1000, 500)
		w.wantPaidAt(t, e, acceptor, w.foreignOnly, "granted-5000", 5000, 5000)
		// The consent is the acceptor's of this issuer: it gives the issuer nothing at the acceptor's
		// own template, and the issuer nothing at anyone else.
		w.wantRefusedAt(t, e, issuer, w.foreignOnly, "still-unlisted", messages.CardReason_CARD_REASON_MERCHANT_NOT_ACCEPTED)
	})
	t.Run("revoked", func(t *testing.T) {
		// A card already active (its consent cached) and a new one both see the revocation at once.
		u := w.users[0]
		active := mustV(e.Claim(ctx, kaquan.Claim{Template: w.shared, User: u}))(t)
		code := w.code(t, e, u, active.Id)
		a := mustV(e.RevokeAcceptance(ctx, kaquan.RevokeAcceptance{Acceptor: acceptor, Issuer: issuer}))(t)
		if a.State != kaquan.AcceptanceRevoked || a.RevokedAt == 0 || a.GrantedAt == 0 {
			t.Fatalf("revoke: got %v", a)
		}
		again := mustV(e.RevokeAcceptance(ctx, kaquan.RevokeAcceptance{Acceptor: acceptor, Issuer: issuer}))(t)
		if again.RevokedAt != a.RevokedAt {
			t.Errorf("revoke again: got revoked at %d, want %d unchanged", again.RevokedAt, a.RevokedAt)
		}
		_, err := e.Pay(ctx, kaquan.Pay{Merchant: acceptor, MerchantAccount: acceptor, Code: code, Amount: 5000, Key: "revoked-active"})
		wantCardErr(t, "pay with an active card", err, messages.CardReason_CARD_REASON_ACCEPTANCE_REVOKED)
		w.wantRefusedAt(t, e, acceptor, w.shared, "revoked-1", messages.CardReason_CARD_REASON_ACCEPTANCE_REVOKED)
		w.wantPaidAt(t, e, issuer, w.shared, "issuer-after-revoke", 1000, 500)
	})
	t.Run("kept across a restart", func(t *testing.T) {
		e = reopen(top, dir, e)
		w.wantRefusedAt(t, e, acceptor, w.shared, "revoked-after-restart", messages.CardReason_CARD_REASON_ACCEPTANCE_REVOKED)
		mustV(e.GrantAcceptance(ctx, kaquan.GrantAcceptance{Acceptor: acceptor, Issuer: issuer}))(t)
		e = reopen(top, dir, e)
		w.wantPaidAt(t, e, acceptor, w.shared, "granted-after-restart", 1000, 500)
		list := mustV(e.Acceptances(ctx, acceptor))(t)
		if len(list) != 1 || list[0].State != kaquan.AcceptanceGranted || list[0].RevokedAt == 0 {
			t.Errorf("acceptances of %d: got %v, want one granted after a revocation", acceptor, list)
		}
		if got := mustV(e.Acceptances(ctx, issuer))(t); len(got) != 0 {
			t.Errorf("acceptances of %d: got %v, want none", issuer, got)
		}
		mustAudit(t, e)
	})
}

// TestAcceptance_BadInput: only two distinct merchants make an acceptance; a revocation needs a
// grant; the reads answer what is recorded.
func TestAcceptance_BadInput(t *testing.T) {
	e := MustOpenEngine(t)
	ctx := ctxTimeout(t)
	w := mustAcceptanceWorld(t, e)
	user := w.users[0]
	grant := func(acceptor, issuer uint64) func() error {
		return func() error {
			_, err := e.GrantAcceptance(ctx, kaquan.GrantAcceptance{Acceptor: acceptor, Issuer: issuer})
			return err
		}
	}
	wantErr(t, "a merchant and itself", kaquan.ErrInvalidArgument, grant(w.merchant, w.merchant))
	wantErr(t, "a user accepting", kaquan.ErrInvalidArgument, grant(user, w.merchant))
	wantErr(t, "a user issuing", kaquan.ErrInvalidArgument, grant(w.other, user))
	wantErr(t, "an unknown acceptor", kaquan.ErrUnknownEntity, grant(999, w.merchant))
	wantErr(t, "an unknown issuer", kaquan.ErrUnknownEntity, grant(w.other, 999))
	wantErr(t, "revoke what was never granted", kaquan.ErrUnknownEntity, func() error {
		_, err := e.RevokeAcceptance(ctx, kaquan.RevokeAcceptance{Acceptor: w.other, Issuer: w.merchant})
		return err
	})
	wantErr(t, "read what was never granted", kaquan.ErrUnknownEntity, func() error {
		_, err := e.Acceptance(ctx, w.other, w.merchant)
		return err
	})
	if list := mustV(e.Acceptances(ctx, w.other))(t); len(list) != 0 {
		t.Errorf("acceptances after refusals: got %v, want none", list)
	}
	mustV(e.GrantAcceptance(ctx, kaquan.GrantAcceptance{Acceptor: w.other, Issuer: w.merchant}))(t)
	if a, err := e.Acceptance(ctx, w.other, w.merchant); err != nil || a.State != kaquan.AcceptanceGranted {
		t.Errorf("read: got %v, %v, want GRANTED", a, err)
	}
	wantErr(t, "the other direction", kaquan.ErrUnknownEntity, func() error {
		_, err := e.Acceptance(ctx, w.merchant, w.other)
		return err
	})
	mustAudit(t, e)
}

// TestAcceptance_Concurrent: payments at the acceptor racing with revocations and grants either
// complete or are refused for the acceptance, never anything else, and the books balance.
func TestAcceptance_Concurrent(t *testing.T) {
	e := MustOpenEngine(t, inMemory)
	ctx := ctxTimeout(t)
	w := mustAcceptanceWorld(t, e)
	const payments = 30 // 15 codes on each user's account, of the 16 allowed
	codes := make([]string, payments)
	for i := range codes {
		c := mustV(e.Claim(ctx, kaquan.Claim{Template: w.shared, User: w.users[i%2]}))(t)
		codes[i] = w.code(t, e, w.users[i%2], c.Id)
	}
	errs := make([]error, payments)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 20 {
			var err error
			if i%2 == 0 {
				_, err = e.GrantAcceptance(context.Background(), kaquan.GrantAcceptance{Acceptor: w.other, Issuer: w.merchant})
			} else {
				_, err = e.RevokeAcceptance(context.Background(), kaquan.RevokeAcceptance{Acceptor: w.other, Issuer: w.merchant})
			}
			if err != nil {
				t.Errorf("change %d: %v", i, err)
			}
		}
	}()
	parallel(payments, 0, func(i int) {
		_, errs[i] = e.Pay(ctx, kaquan.Pay{Merchant: w.other, MerchantAccount: w.other, Code: codes[i], Amount: 1000, Key: fmt.Sprint("race-", i)})
	})
	<-done
	for i, err := range errs {
		var ce *kaquan.CardError
		if err != nil && !(errors.As(err, &ce) && (ce.Reason == messages.CardReason_CARD_REASON_ACCEPTANCE_NOT_GRANTED ||
			ce.Reason == messages.CardReason_CARD_REASON_ACCEPTANCE_REVOKED)) {
			t.Errorf("payment %d: got %v, want success or an acceptance refusal", i, err)
		}
	}
	mustAudit(t, e)
}

// TestAcceptance_Audit: the audit finds a card taken at a merchant without its acceptance on
// record, and malformed acceptance records.
func TestAcceptance_Audit(t *testing.T) {
	record := func(t *testing.T, a *messages.Acceptance) persistence.Entry {
		v, err := proto.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		return persistence.Entry{Key: persistence.AcceptanceKey(a.Acceptor, a.Issuer), Value: v}
	}
	granted := messages.AcceptanceState_ACCEPTANCE_STATE_GRANTED
	tamper := map[string]struct {
		entries func(t *testing.T) []persistence.Entry
		want    string
	}{
		"ConsentLost": {func(*testing.T) []persistence.Entry {
			return []persistence.Entry{{Key: persistence.AcceptanceKey(2, 1), Delete: true}}
		}, "which never accepted its cards"},
		"ItselfOnly": {func(t *testing.T) []persistence.Entry {
			return []persistence.Entry{record(t, &messages.Acceptance{Acceptor: 1, Issuer: 1, State: granted, GrantedAt: 1})}
		}, "by itself"},
		"OfAUser": {func(t *testing.T) []persistence.Entry {
			return []persistence.Entry{record(t, &messages.Acceptance{Acceptor: 100, Issuer: 1, State: granted, GrantedAt: 1})}
		}, "names party 100, a PARTY_KIND_USER"},
		"NoState": {func(t *testing.T) []persistence.Entry {
			return []persistence.Entry{record(t, &messages.Acceptance{Acceptor: 1, Issuer: 2, GrantedAt: 1})}
		}, "ACCEPTANCE_STATE_UNSPECIFIED"},
		"UnderAnotherKey": {func(t *testing.T) []persistence.Entry {
			en := record(t, &messages.Acceptance{Acceptor: 1, Issuer: 2, State: granted, GrantedAt: 1})
			en.Key = persistence.AcceptanceKey(2, 9)
			return []persistence.Entry{en}
		}, "holds the acceptance of 2 by 1"},
	}
	for name, tc := range tamper {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			e := mustOpenAt(t, dir)
			w := mustAcceptanceWorld(t, e)
			mustV(e.GrantAcceptance(ctxTimeout(t), kaquan.GrantAcceptance{Acceptor: w.other, Issuer: w.merchant}))(t)
			w.wantPaidAt(t, e, w.other, w.shared, "k1", 1000, 500)
			mustAudit(t, e)
			e = reopenWith(t, dir, e, tc.entries(t)...)
			r := mustV(e.Audit(ctxTimeout(t)))(t)
			if r.OK() || !strings.Contains(strings.Join(r.Problems, "\n"), tc.want) {
				t.Fatalf("audit of a tampered store: %s %q, want a problem with %q", r, r.Problems, tc.want)
			}
		})
	}
}
