// Package actors holds what every entity kind shares: the typed errors of the domain, entity
// addressing and routing, and the actor shell that activates, persists and passivates an entity.
// Each entity kind lives in its own sub-package: a pure state machine (state.go) and a thin
// protoactor shell around it (actor.go).
package actors

import (
	"errors"
	"fmt"

	"github.com/kaquan/kaquan/messages"
)

// Domain errors. Callers test them with errors.Is; the engine re-exports them.
var (
	ErrInvalidArgument       = errors.New("invalid argument")                        // malformed or out-of-range input
	ErrUnknownEntity         = errors.New("unknown entity")                          // no such party, account, template, card or payment
	ErrExists                = errors.New("already exists")                          // an id or key already used, with different fields
	ErrInsufficientFunds     = errors.New("insufficient funds")                      // a debit larger than the balance
	ErrBalanceLimit          = errors.New("balance limit")                           // a credit beyond BalanceMax
	ErrAccountNotActive      = errors.New("account not active")                      // frozen or closed
	ErrCardNotUsable         = errors.New("card not usable")                         // see CardError for the reason
	ErrStockExhausted        = errors.New("stock exhausted")                         // template has no cards left
	ErrLimitReached          = errors.New("claim limit reached")                     // per-user claim limit
	ErrCodeUnknown           = errors.New("payment code unknown")                    // never issued (or mistyped)
	ErrCodeExpired           = errors.New("payment code expired")                    // past its time to live
	ErrCodeUsed              = errors.New("payment code used")                       // single use
	ErrCodeLimit             = errors.New("too many payment codes")                  // PaymentCodesPerAccountMax active
	ErrTemplateExpired       = errors.New("template expired")                        // claiming after a fixed validity range
	ErrRefundNotAllowed      = errors.New("refund not allowed")                      // not a completed payment, or wrong merchant
	ErrInterrupted           = errors.New("payment interrupted")                     // the engine stopped mid-way; recovery undid it
	ErrPermissionDenied      = errors.New("permission denied")                       // acting on another party's entity
	ErrEngineStopped         = errors.New("engine stopped")                          // closed, or stopped by a failed write
	ErrOverloaded            = errors.New("engine overloaded")                       // too many requests in flight
	ErrGiftNotAllowed        = errors.New("gift not allowed")                        // template forbids gifting, or the card's gift limit is reached
	ErrGiftNotPending        = errors.New("no gift pending")                         // accept or decline of a card not offered to the caller (or the offer timed out)
	ErrNotInPool             = errors.New("not in the pool")                         // claimed by another contact first, taken back, or never shared
	ErrPoolFull              = errors.New("pool full")                               // PoolCardsMax cards shared
	ErrBadSignature          = errors.New("bad signature")                           // a notification not signed with its merchant's secret
	ErrNotContact            = fmt.Errorf("%w: not a contact", ErrPermissionDenied)  // a pool seen or claimed by a non-contact
	ErrNotShared             = fmt.Errorf("%w: card not shared", ErrInvalidArgument) // a notification for a card that did not come from a pool
	ErrStaleNotification     = fmt.Errorf("%w: notification time outside the window", ErrInvalidArgument)
	ErrDuplicateNotification = fmt.Errorf("%w: duplicate notification", ErrExists) // a notification already accepted (its reward is returned too)

	// Bad images and messages are invalid arguments too: errors.Is(err, ErrInvalidArgument) holds.
	ErrImageInvalid   = fmt.Errorf("%w: image invalid", ErrInvalidArgument)    // not PNG, JPEG, GIF or WebP, or truncated or corrupt
	ErrImageTooLarge  = fmt.Errorf("%w: image too large", ErrInvalidArgument)  // over ImageBytesMax or ImageSideMax pixels a side
	ErrMessageTooLong = fmt.Errorf("%w: message too long", ErrInvalidArgument) // over GiftMessageRunesMax characters, or not UTF-8
)

// CardError is ErrCardNotUsable with its reason.
type CardError struct{ Reason messages.CardReason }

func (e *CardError) Error() string {
	return fmt.Sprintf("card not usable: %s", e.Reason.String())
}

// Is makes errors.Is(err, ErrCardNotUsable) hold.
func (e *CardError) Is(target error) bool { return target == ErrCardNotUsable }

// PaymentError turns a payment's recorded result into an error; nil for OK.
func PaymentError(p *messages.Payment) error {
	switch p.GetResult() {
	case messages.PaymentResult_PAYMENT_RESULT_OK:
		return nil
	case messages.PaymentResult_PAYMENT_RESULT_CODE_UNKNOWN:
		return ErrCodeUnknown
	case messages.PaymentResult_PAYMENT_RESULT_CODE_EXPIRED:
		return ErrCodeExpired
	case messages.PaymentResult_PAYMENT_RESULT_CODE_USED:
		return ErrCodeUsed
	case messages.PaymentResult_PAYMENT_RESULT_CARD_NOT_USABLE:
		return &CardError{Reason: p.GetCardReason()}
	case messages.PaymentResult_PAYMENT_RESULT_INSUFFICIENT_FUNDS:
		return ErrInsufficientFunds
	case messages.PaymentResult_PAYMENT_RESULT_ACCOUNT_NOT_ACTIVE:
		return ErrAccountNotActive
	case messages.PaymentResult_PAYMENT_RESULT_UNKNOWN_ACCOUNT:
		return fmt.Errorf("%w: account", ErrUnknownEntity)
	case messages.PaymentResult_PAYMENT_RESULT_BALANCE_LIMIT:
		return ErrBalanceLimit
	case messages.PaymentResult_PAYMENT_RESULT_REFUND_NOT_ALLOWED:
		return ErrRefundNotAllowed
	case messages.PaymentResult_PAYMENT_RESULT_INTERRUPTED:
		return ErrInterrupted
	}
	return fmt.Errorf("payment %s: unexpected result %s", p.GetKey(), p.GetResult())
}

// ResultOf maps an account or code error to the payment result recorded for it.
func ResultOf(err error) messages.PaymentResult {
	switch {
	case err == nil:
		return messages.PaymentResult_PAYMENT_RESULT_OK
	case errors.Is(err, ErrInsufficientFunds):
		return messages.PaymentResult_PAYMENT_RESULT_INSUFFICIENT_FUNDS
	case errors.Is(err, ErrAccountNotActive):
		return messages.PaymentResult_PAYMENT_RESULT_ACCOUNT_NOT_ACTIVE
	case errors.Is(err, ErrBalanceLimit):
		return messages.PaymentResult_PAYMENT_RESULT_BALANCE_LIMIT
	case errors.Is(err, ErrCodeUnknown):
		return messages.PaymentResult_PAYMENT_RESULT_CODE_UNKNOWN
	case errors.Is(err, ErrCodeExpired):
		return messages.PaymentResult_PAYMENT_RESULT_CODE_EXPIRED
	case errors.Is(err, ErrCodeUsed):
		return messages.PaymentResult_PAYMENT_RESULT_CODE_USED
	case errors.Is(err, ErrUnknownEntity):
		return messages.PaymentResult_PAYMENT_RESULT_UNKNOWN_ACCOUNT
	}
	return messages.PaymentResult_PAYMENT_RESULT_UNSPECIFIED
}

// Invariant panics when cond is false: a broken invariant is a bug, never an operating error.
func Invariant(cond bool, why string) {
	if !cond {
		panic("kaquan invariant broken: " + why)
	}
}
