package server

import (
	"context"
	"errors"

	"connectrpc.com/connect"
	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/messages"
)

// errorKinds maps the engine's typed errors to status codes and reason names, most specific first.
var errorKinds = []struct {
	err    error
	code   connect.Code
	reason string
}{
	{kaquan.ErrDuplicateNotification, connect.CodeAlreadyExists, "duplicate_notification"},
	{kaquan.ErrImageTooLarge, connect.CodeInvalidArgument, "image_too_large"},
	{kaquan.ErrImageInvalid, connect.CodeInvalidArgument, "image_invalid"},
	{kaquan.ErrMessageTooLong, connect.CodeInvalidArgument, "message_too_long"},
	{kaquan.ErrStaleNotification, connect.CodeInvalidArgument, "stale_notification"},
	{kaquan.ErrNotShared, connect.CodeFailedPrecondition, "not_shared"},
	{kaquan.ErrNotContact, connect.CodePermissionDenied, "not_contact"},
	{kaquan.ErrBadSignature, connect.CodeUnauthenticated, "bad_signature"},
	{kaquan.ErrInvalidArgument, connect.CodeInvalidArgument, "invalid_argument"},
	{kaquan.ErrUnknownEntity, connect.CodeNotFound, "unknown_entity"},
	{kaquan.ErrExists, connect.CodeAlreadyExists, "exists"},
	{kaquan.ErrPermissionDenied, connect.CodePermissionDenied, "permission_denied"},
	{kaquan.ErrInsufficientFunds, connect.CodeFailedPrecondition, "insufficient_funds"},
	{kaquan.ErrBalanceLimit, connect.CodeFailedPrecondition, "balance_limit"},
	{kaquan.ErrAccountNotActive, connect.CodeFailedPrecondition, "account_not_active"},
	{kaquan.ErrCardNotUsable, connect.CodeFailedPrecondition, "card_not_usable"},
	{kaquan.ErrStockExhausted, connect.CodeResourceExhausted, "stock_exhausted"},
	{kaquan.ErrLimitReached, connect.CodeResourceExhausted, "limit_reached"},
	{kaquan.ErrCodeUnknown, connect.CodeNotFound, "code_unknown"},
	{kaquan.ErrCodeExpired, connect.CodeFailedPrecondition, "code_expired"},
	{kaquan.ErrCodeUsed, connect.CodeFailedPrecondition, "code_used"},
	{kaquan.ErrCodeLimit, connect.CodeResourceExhausted, "code_limit"},
	{kaquan.ErrTemplateExpired, connect.CodeFailedPrecondition, "template_expired"},
	{kaquan.ErrRefundNotAllowed, connect.CodeFailedPrecondition, "refund_not_allowed"},
	{kaquan.ErrInterrupted, connect.CodeAborted, "interrupted"},
	{kaquan.ErrGiftNotAllowed, connect.CodeFailedPrecondition, "gift_not_allowed"},
	{kaquan.ErrGiftNotPending, connect.CodeFailedPrecondition, "gift_not_pending"},
	{kaquan.ErrNotInPool, connect.CodeFailedPrecondition, "not_in_pool"},
	{kaquan.ErrPoolFull, connect.CodeResourceExhausted, "pool_full"},
	{kaquan.ErrOverloaded, connect.CodeUnavailable, "overloaded"},
	{kaquan.ErrEngineStopped, connect.CodeUnavailable, "engine_stopped"},
	{context.DeadlineExceeded, connect.CodeDeadlineExceeded, "deadline_exceeded"},
	{context.Canceled, connect.CodeCanceled, "canceled"},
}

// ReasonError is the engine error a reason names (nil for none): how a client gets typed errors back.
func ReasonError(reason string) error {
	for _, k := range errorKinds {
		if k.reason == reason {
			return k.err
		}
	}
	return nil
}

// engineError turns an engine error into a status with the typed reason in its details.
func engineError(err error) error {
	var ce *connect.Error
	if errors.As(err, &ce) {
		return err
	}
	for _, k := range errorKinds {
		if errors.Is(err, k.err) {
			e := connect.NewError(k.code, err)
			reason := &messages.ErrorReason{Reason: k.reason}
			var card *kaquan.CardError
			if errors.As(err, &card) {
				reason.CardReason = card.Reason
			}
			if d, derr := connect.NewErrorDetail(reason); derr == nil {
				e.AddDetail(d)
			}
			return e
		}
	}
	return connect.NewError(connect.CodeInternal, err)
}

// reasonOf names an error for metrics.
func reasonOf(err error) string {
	if err == nil {
		return "ok"
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		for _, d := range ce.Details() {
			if m, e := d.Value(); e == nil {
				if r, ok := m.(*messages.ErrorReason); ok {
					return r.Reason
				}
			}
		}
		return ce.Code().String()
	}
	return "internal"
}
