package kaquan

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/actors/payment"
	"github.com/kaquan/kaquan/messages"
)

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
	if err := checkAmount(req.Amount); err != nil {
		return PaymentOutcome{}, err
	}
	if err := checkKey(req.Key); err != nil {
		return PaymentOutcome{}, err
	}
	if !actors.IsPaymentCode(req.Code) {
		return PaymentOutcome{}, fmt.Errorf("%w: payment code must be %d digits", ErrInvalidArgument, actors.PaymentCodeDigits)
	}
	r, err := e.call(ctx, actors.PaymentID(PaymentKey(req.Merchant, req.Key)), payment.Pay{
		Merchant: req.Merchant, MerchantAccount: req.MerchantAccount, Code: req.Code, Amount: req.Amount, Now: e.now()})
	return outcome(r, err)
}

// Refund refunds a completed payment in full: money back to the payer, the card AVAILABLE again if
// still valid. Only the payment's merchant may.
func (e *Engine) Refund(ctx context.Context, merchant uint64, key string) (PaymentOutcome, error) {
	if err := checkKey(key); err != nil {
		return PaymentOutcome{}, err
	}
	r, err := e.call(ctx, actors.PaymentID(PaymentKey(merchant, key)), payment.Refund{Merchant: merchant, Now: e.now()})
	o, err := outcome(r, err)
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
	r, err := e.call(ctx, actors.PaymentID(PaymentKey(merchant, key)), payment.Get{})
	if err != nil {
		return nil, err
	}
	return r.(payment.Outcome).Payment, nil
}

func outcome(r any, err error) (PaymentOutcome, error) {
	if err != nil {
		return PaymentOutcome{}, err
	}
	o := r.(payment.Outcome)
	if o.Payment.State == messages.PaymentState_PAYMENT_STATE_FAILED {
		return o, actors.PaymentError(o.Payment)
	}
	return o, nil
}
