package kaquan

import (
	"context"
	"errors"
)

// reasons name the engine's typed errors, most specific first (several wrap a broader one). The
// network API carries the name in an error's details and clients turn it back into the error;
// benchmarks count errors by it.
var reasons = []struct {
	err  error
	name string
}{
	{ErrDuplicateNotification, "duplicate_notification"},
	{ErrImageTooLarge, "image_too_large"},
	{ErrImageInvalid, "image_invalid"},
	{ErrMessageTooLong, "message_too_long"},
	{ErrStaleNotification, "stale_notification"},
	{ErrNotShared, "not_shared"},
	{ErrNotContact, "not_contact"},
	{ErrBadSignature, "bad_signature"},
	{ErrInvalidArgument, "invalid_argument"},
	{ErrUnknownEntity, "unknown_entity"},
	{ErrExists, "exists"},
	{ErrPermissionDenied, "permission_denied"},
	{ErrInsufficientFunds, "insufficient_funds"},
	{ErrBalanceLimit, "balance_limit"},
	{ErrAccountNotActive, "account_not_active"},
	{ErrCardNotUsable, "card_not_usable"},
	{ErrStockExhausted, "stock_exhausted"},
	{ErrLimitReached, "limit_reached"},
	{ErrCodeUnknown, "code_unknown"},
	{ErrCodeExpired, "code_expired"},
	{ErrCodeUsed, "code_used"},
	{ErrCodeLimit, "code_limit"},
	{ErrTemplateExpired, "template_expired"},
	{ErrRefundNotAllowed, "refund_not_allowed"},
	{ErrInterrupted, "interrupted"},
	{ErrGiftNotAllowed, "gift_not_allowed"},
	{ErrGiftNotPending, "gift_not_pending"},
	{ErrNotInPool, "not_in_pool"},
	{ErrPoolFull, "pool_full"},
	{ErrOverloaded, "overloaded"},
	{ErrEngineStopped, "engine_stopped"},
	{context.DeadlineExceeded, "deadline_exceeded"},
	{context.Canceled, "canceled"},
}

// Reason names err by the typed error it matches: "" for nil, "other" for none.
func Reason(err error) string {
	if err == nil {
		return ""
	}
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.name
		}
	}
	return "other"
}

// ReasonError is the typed error a reason names, or nil.
func ReasonError(name string) error {
	for _, r := range reasons {
		if r.name == name {
			return r.err
		}
	}
	return nil
}

// Reasons lists every reason name.
func Reasons() []string {
	names := make([]string, len(reasons))
	for i, r := range reasons {
		names[i] = r.name
	}
	return names
}
