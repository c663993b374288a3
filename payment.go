package kaquan

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"

	"strconv"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/actors/account"
	"github.com/kaquan/kaquan/actors/card"
	"github.com/kaquan/kaquan/actors/payment"
	"github.com/kaquan/kaquan/actors/slot"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
	"google.golang.org/protobuf/proto"
)

// PaymentState is where a payment is: under way (started, reserved, debited), completed, failed
// (everything undone), refunding or refunded.
type PaymentState = messages.PaymentState

// The payment states.
const (
	PaymentStarted   = messages.PaymentState_PAYMENT_STATE_STARTED
	PaymentReserved  = messages.PaymentState_PAYMENT_STATE_RESERVED
	PaymentDebited   = messages.PaymentState_PAYMENT_STATE_DEBITED
	PaymentCompleted = messages.PaymentState_PAYMENT_STATE_COMPLETED
	PaymentFailed    = messages.PaymentState_PAYMENT_STATE_FAILED
	PaymentRefunding = messages.PaymentState_PAYMENT_STATE_REFUNDING
	PaymentRefunded  = messages.PaymentState_PAYMENT_STATE_REFUNDED
)

// IssuePaymentCode asks for a payment code on a user's account, optionally naming a card.
type IssuePaymentCode struct {
	User    uint64
	Account uint64
	Card    uint64 // 0: a plain payment
}

// IssuePaymentCode issues an 18-digit, single-use payment code valid for Options.PaymentCodeTTL.
// Only a user's account pays with a code (ErrPermissionDenied otherwise). A code naming a card that
// does not exist, is not the user's or is past use (used, void, expired) is refused with the card's
// reason (a *CardError), and nothing is recorded.
func (e *Engine) IssuePaymentCode(ctx context.Context, req IssuePaymentCode) (*messages.PaymentCode, error) {
	if err := e.reach(actors.AccountID(req.Account)); err != nil {
		return nil, err
	}
	if req.Card != 0 {
		if err := e.checkCodeCard(ctx, req.User, req.Card); err != nil {
			return nil, err
		}
	}
	for range 3 { // a collision with a live code is astronomically rare; retry with a fresh code
		pc, err := ask[*messages.PaymentCode](ctx, e, actors.AccountID(req.Account), account.IssueCode{Owner: req.User, Code: e.newPaymentCode(req.Account), Card: req.Card, Now: e.now()})
		if err == nil {
			return pc, nil
		}
		if !isCollision(err) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("%w: payment code collisions", ErrOverloaded)
}

// checkCodeCard refuses a payment code naming a card that user cannot pay with (card.CodeRefusal).
func (e *Engine) checkCodeCard(ctx context.Context, user, id uint64) error {
	c, err := ask[*messages.Card](ctx, e, actors.CardID(id), card.Get{})
	if errors.Is(err, ErrUnknownEntity) {
		c, err = nil, nil
	}
	if err != nil {
		return err
	}
	if r := card.CodeRefusal(c, user, e.now()); r != messages.CardReason_CARD_REASON_UNSPECIFIED {
		return &CardError{Reason: r}
	}
	return nil
}

// PaymentCodeInfo reads a payment code's record: its account, card, expiry and use.
func (e *Engine) PaymentCodeInfo(ctx context.Context, code string) (*messages.PaymentCode, error) {
	if err := e.ownsPaymentCode(code); err != nil {
		return nil, err
	}
	end, err := e.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	return e.paymentCode(ctx, code)
}

// paymentCode reads a payment code's record, on the node of its slot.
func (e *Engine) paymentCode(ctx context.Context, code string) (*messages.PaymentCode, error) {
	s := e.codeSlot(code, slot.Layout.SlotOfPaymentCode)
	v, err := e.readRecord(ctx, s, persistence.PaymentCodeKey(code))
	if errors.Is(err, persistence.ErrNotFound) {
		return nil, fmt.Errorf("%w: payment code", ErrCodeUnknown)
	}
	if err != nil {
		return nil, err
	}
	pc := &messages.PaymentCode{}
	if err := proto.Unmarshal(v, pc); err != nil {
		return nil, fmt.Errorf("payment code record: %w", err)
	}
	return pc, nil
}

func isCollision(err error) bool { return err != nil && errorsIs(err, ErrExists) }

var codeSpace = new(big.Int).Exp(big.NewInt(10), big.NewInt(actors.PaymentCodeDigits), nil)

// paymentCode draws an 18-digit code uniformly from crypto/rand (about 60 bits).
func paymentCode() string {
	n, err := rand.Int(rand.Reader, codeSpace)
	if err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return fmt.Sprintf("%0*d", actors.PaymentCodeDigits, n)
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

// Pay is a merchant's payment request: the consumer's payment code and the amount, under the
// merchant's idempotency key.
type Pay struct {
	Merchant        uint64
	MerchantAccount uint64 // the merchant's account to credit
	Code            string
	Amount          int64
	Key             string
}

// PaymentOutcome is the recorded payment; Duplicate marks the answer to a retry.
type PaymentOutcome = payment.Outcome

// PaymentKey names a payment: the merchant and its idempotency key.
func PaymentKey(merchant uint64, key string) string {
	return strconv.FormatUint(merchant, 10) + "/" + key
}

// Pay runs a card-validated payment: the card named by the code validates itself and grants its
// discount, then the payer is debited and the merchant credited, then the card is used; all or
// nothing. A retry with the same key returns the first outcome (Duplicate set) and never charges
// twice. The error, when the payment failed, tells why (errors.Is); the outcome is still returned
// for a recorded failure.
func (e *Engine) Pay(ctx context.Context, req Pay) (PaymentOutcome, error) {
	if err := e.ownsPay(req); err != nil {
		return PaymentOutcome{}, err
	}
	if err := checkAmount(req.Amount); err != nil {
		return PaymentOutcome{}, err
	}
	if err := checkKey(req.Key); err != nil {
		return PaymentOutcome{}, err
	}
	if !actors.IsPaymentCode(req.Code) {
		return PaymentOutcome{}, fmt.Errorf("%w: payment code must be %d digits", ErrInvalidArgument, actors.PaymentCodeDigits)
	}
	m := payment.Pay{Merchant: req.Merchant, MerchantAccount: req.MerchantAccount, Code: req.Code, Amount: req.Amount, Now: e.now()}
	if e.link != nil {
		payer, err := e.payerOf(ctx, req)
		if err != nil {
			return PaymentOutcome{}, err
		}
		m.PayerAccount = payer
	}
	o, err := ask[payment.Outcome](ctx, e, actors.PaymentID(PaymentKey(req.Merchant, req.Key)), m)
	return outcome(o, err)
}

// Refund names a completed payment to refund: its merchant and the idempotency key it was paid
// under.
type Refund struct {
	Merchant uint64
	Key      string
}

// Refund refunds a completed payment in full: money back to the payer, the card AVAILABLE again if
// still valid. Only the payment's merchant may.
func (e *Engine) Refund(ctx context.Context, req Refund) (PaymentOutcome, error) {
	if err := checkKey(req.Key); err != nil {
		return PaymentOutcome{}, err
	}
	o, err := outcome(ask[payment.Outcome](ctx, e, actors.PaymentID(PaymentKey(req.Merchant, req.Key)), payment.Refund{Merchant: req.Merchant, Now: e.now()}))
	if err == nil && o.Payment.State != messages.PaymentState_PAYMENT_STATE_REFUNDED {
		err = fmt.Errorf("%w: %s", ErrRefundNotAllowed, o.Payment.RefundResult)
		if o.Payment.RefundResult == messages.PaymentResult_PAYMENT_RESULT_INSUFFICIENT_FUNDS {
			err = fmt.Errorf("refund: %w", ErrInsufficientFunds)
		}
	}
	return o, err
}

// Payment reads a payment.
func (e *Engine) Payment(ctx context.Context, merchant uint64, key string) (*messages.Payment, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	o, err := ask[payment.Outcome](ctx, e, actors.PaymentID(PaymentKey(merchant, key)), payment.Get{})
	return o.Payment, err
}

// outcome turns a recorded failure into its typed error; the outcome is returned with it.
func outcome(o PaymentOutcome, err error) (PaymentOutcome, error) {
	if err != nil {
		return PaymentOutcome{}, err
	}
	if o.Payment.State == messages.PaymentState_PAYMENT_STATE_FAILED {
		return o, actors.PaymentError(o.Payment)
	}
	return o, nil
}

// payerOf finds, on a cluster node, the payer account behind a payment's code (on the code's
// node) and checks the merchant's account (on its node) before the payment starts, as the
// payment itself does on one node: a refusal here records nothing.
func (e *Engine) payerOf(ctx context.Context, req Pay) (uint64, error) {
	snap, err := ask[account.Snapshot](ctx, e, actors.AccountID(req.MerchantAccount), account.Get{})
	if err != nil {
		return 0, fmt.Errorf("merchant account: %w", err)
	}
	if snap.Account == nil {
		return 0, fmt.Errorf("merchant account: %w: account %d", ErrUnknownEntity, req.MerchantAccount)
	}
	if a := snap.Account; a.OwnerId != req.Merchant || a.OwnerKind != PartyMerchant {
		return 0, fmt.Errorf("%w: account %d is not merchant %d's", ErrPermissionDenied, req.MerchantAccount, req.Merchant)
	}
	pc, err := e.paymentCode(ctx, req.Code)
	if err != nil {
		return 0, err
	}
	if pc.AccountId == req.MerchantAccount {
		return 0, fmt.Errorf("%w: the payer's account %d is the merchant's", ErrInvalidArgument, pc.AccountId)
	}
	return pc.AccountId, nil
}
