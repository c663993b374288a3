package actors

import (
	"context"
	"errors"
	"fmt"

	"github.com/kaquan/kaquan/messages"
)

// Class is the kind of refusal an error is: what a caller can do about it. The network API maps
// each class to one status code.
type Class uint8

// The classes.
const (
	ClassInvalid         Class = iota + 1 // malformed or out of range: fix the request
	ClassNotFound                         // no such entity
	ClassExists                           // done before, or the id or key is taken
	ClassDenied                           // not the caller's to do
	ClassUnauthenticated                  // the caller's proof (a notification's signature) does not hold
	ClassPrecondition                     // not possible in the entity's present state
	ClassExhausted                        // a stock or a limit ran out
	ClassUnavailable                      // the engine cannot take it now: retry later
	ClassAborted                          // started, then undone
	ClassDeadline                         // the caller's deadline passed; the operation may still complete
	ClassCanceled                         // the caller gave up; the operation may still complete
)

var classNames = [...]string{"", "invalid", "not_found", "exists", "denied", "unauthenticated",
	"precondition", "exhausted", "unavailable", "aborted", "deadline", "canceled"}

func (c Class) String() string {
	if int(c) < len(classNames) && c != 0 {
		return classNames[c]
	}
	return fmt.Sprintf("class(%d)", uint8(c))
}

// Error is one of the engine's typed errors, a sentinel declared once below with its reason (its
// name on the wire, in metrics and in logs) and its class. One declared from a broader one also
// matches it with errors.Is.
type Error struct {
	reason string
	class  Class
	text   string
	broad  *Error // the broader error this one narrows, or nil
}

func (e *Error) Error() string {
	if e.broad != nil {
		return e.broad.Error() + ": " + e.text
	}
	return e.text
}

// Unwrap makes errors.Is(err, broader) hold for a narrower error.
func (e *Error) Unwrap() error {
	if e.broad == nil {
		return nil
	}
	return e.broad
}

// Reason is the error's name: lower case, words joined by underscores.
func (e *Error) Reason() string { return e.reason }

// Class is the kind of refusal the error is.
func (e *Error) Class() Class { return e.class }

// Errors is the table of every typed error, in declaration order; it also holds the context
// errors an engine call answers (deadline_exceeded, canceled).
var Errors []*Error

func declare(reason string, class Class, text string) *Error {
	e := &Error{reason: reason, class: class, text: text}
	Errors = append(Errors, e)
	return e
}

// narrow declares an error that also matches e.
func (e *Error) narrow(reason string, class Class, text string) *Error {
	n := declare(reason, class, text)
	n.broad = e
	return n
}

// Domain errors. Callers test them with errors.Is; the engine re-exports them.
var (
	ErrInvalidArgument   = declare("invalid_argument", ClassInvalid, "invalid argument")          // malformed or out-of-range input
	ErrUnknownEntity     = declare("unknown_entity", ClassNotFound, "unknown entity")             // no such party, account, template, card or payment
	ErrExists            = declare("exists", ClassExists, "already exists")                       // an id or key already used, with different fields
	ErrInsufficientFunds = declare("insufficient_funds", ClassPrecondition, "insufficient funds") // a debit larger than the balance
	ErrBalanceLimit      = declare("balance_limit", ClassPrecondition, "balance limit")           // a credit beyond BalanceMax
	ErrAccountNotActive  = declare("account_not_active", ClassPrecondition, "account not active") // frozen or closed
	ErrCardNotUsable     = declare("card_not_usable", ClassPrecondition, "card not usable")       // see CardError for the reason
	ErrStockExhausted    = declare("stock_exhausted", ClassExhausted, "stock exhausted")          // template has no cards left
	ErrLimitReached      = declare("limit_reached", ClassExhausted, "claim limit reached")        // per-user claim limit
	ErrCodeUnknown       = declare("code_unknown", ClassNotFound, "payment code unknown")         // never issued (or mistyped)
	ErrCodeExpired       = declare("code_expired", ClassPrecondition, "payment code expired")     // past its time to live
	ErrCodeUsed          = declare("code_used", ClassPrecondition, "payment code used")           // single use
	ErrCodeLimit         = declare("code_limit", ClassExhausted, "too many payment codes")        // PaymentCodesPerAccountMax active
	ErrTemplateExpired   = declare("template_expired", ClassPrecondition, "template expired")     // claiming after a fixed validity range
	ErrRefundNotAllowed  = declare("refund_not_allowed", ClassPrecondition, "refund not allowed") // not a completed payment, or wrong merchant
	ErrInterrupted       = declare("interrupted", ClassAborted, "payment interrupted")            // the engine stopped mid-way; recovery undid it
	ErrPermissionDenied  = declare("permission_denied", ClassDenied, "permission denied")         // acting on another party's entity
	ErrEngineStopped     = declare("engine_stopped", ClassUnavailable, "engine stopped")          // closed, or stopped by a failed write
	ErrOverloaded        = declare("overloaded", ClassUnavailable, "engine overloaded")           // too many requests in flight
	ErrGiftNotAllowed    = declare("gift_not_allowed", ClassPrecondition, "gift not allowed")     // template forbids gifting, or the card's gift limit is reached
	ErrGiftNotPending    = declare("gift_not_pending", ClassPrecondition, "no gift pending")      // accept or decline of a card not offered to the caller (or the offer timed out)
	ErrNotInPool         = declare("not_in_pool", ClassPrecondition, "not in the pool")           // claimed by another contact first, taken back, or never shared
	ErrPoolFull          = declare("pool_full", ClassExhausted, "pool full")                      // PoolCardsMax cards shared
	ErrBadSignature      = declare("bad_signature", ClassUnauthenticated, "bad signature")        // a notification not signed with its merchant's secret

	// Cluster mode: a misrouted call, a data folder opened with another layout, an operation not yet
	// available across nodes.
	ErrWrongNode     = declare("wrong_node", ClassUnavailable, "entity owned by another node")       // the entity's slot is another node's; nothing was done
	ErrUnavailable   = declare("unavailable", ClassUnavailable, "node unavailable")                  // the node owning the entity is down or did not answer in time: retry with the same key
	ErrClusterLayout = declare("cluster_layout", ClassPrecondition, "cluster layout mismatch")       // the folder was recorded for another node, node count or slot count, or for no cluster
	ErrNotInCluster  = declare("not_in_cluster", ClassPrecondition, "not available in cluster mode") // gifts, pools, contacts, rewards and bulk import: single node only, for now

	ErrNotContact            = ErrPermissionDenied.narrow("not_contact", ClassDenied, "not a contact")                               // a pool seen or claimed by a non-contact
	ErrNotShared             = ErrInvalidArgument.narrow("not_shared", ClassPrecondition, "card not shared")                         // a notification for a card that did not come from a pool
	ErrStaleNotification     = ErrInvalidArgument.narrow("stale_notification", ClassInvalid, "notification time outside the window") // sent more than NotificationWindow from the engine's clock
	ErrDuplicateNotification = ErrExists.narrow("duplicate_notification", ClassExists, "duplicate notification")                     // a notification already accepted (its reward is returned too)

	// Bad images and messages are invalid arguments too: errors.Is(err, ErrInvalidArgument) holds.
	ErrImageInvalid   = ErrInvalidArgument.narrow("image_invalid", ClassInvalid, "image invalid")       // not PNG, JPEG, GIF or WebP, or truncated or corrupt
	ErrImageTooLarge  = ErrInvalidArgument.narrow("image_too_large", ClassInvalid, "image too large")   // over ImageBytesMax or ImageSideMax pixels a side
	ErrMessageTooLong = ErrInvalidArgument.narrow("message_too_long", ClassInvalid, "message too long") // over GiftMessageRunesMax characters, or not UTF-8

	// A call's context ending first: the engine answers ctx.Err(), which these match.
	errDeadline = declare("deadline_exceeded", ClassDeadline, "deadline exceeded")
	errCanceled = declare("canceled", ClassCanceled, "canceled")
)

// Lookup is the typed error err is (the most specific one it wraps), or nil for an error that is
// none of them (an operating failure, or a bug).
func Lookup(err error) *Error {
	var e *Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &e):
		return e
	case errors.Is(err, context.DeadlineExceeded):
		return errDeadline
	case errors.Is(err, context.Canceled):
		return errCanceled
	}
	return nil
}

// ByReason is the typed error a reason names, or nil; the context errors' reasons name the context
// errors themselves.
func ByReason(reason string) error {
	switch reason {
	case errDeadline.reason:
		return context.DeadlineExceeded
	case errCanceled.reason:
		return context.Canceled
	}
	for _, e := range Errors {
		if e.reason == reason {
			return e
		}
	}
	return nil
}

// CardError is ErrCardNotUsable with its reason.
type CardError struct{ Reason messages.CardReason }

func (e *CardError) Error() string {
	return fmt.Sprintf("card not usable: %s", e.Reason.String())
}

// Unwrap makes errors.Is(err, ErrCardNotUsable) hold.
func (e *CardError) Unwrap() error { return ErrCardNotUsable }

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
	case messages.PaymentResult_PAYMENT_RESULT_CONFLICT:
		return fmt.Errorf("%w: a participant's answer did not match the step", ErrInterrupted)
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
