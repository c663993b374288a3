package server

import (
	"errors"

	"connectrpc.com/connect"
	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/messages"
)

// codes maps the engine's typed errors (by kaquan.Reason) to status codes.
var codes = map[string]connect.Code{
	"duplicate_notification": connect.CodeAlreadyExists,
	"image_too_large":        connect.CodeInvalidArgument,
	"image_invalid":          connect.CodeInvalidArgument,
	"message_too_long":       connect.CodeInvalidArgument,
	"stale_notification":     connect.CodeInvalidArgument,
	"not_shared":             connect.CodeFailedPrecondition,
	"not_contact":            connect.CodePermissionDenied,
	"bad_signature":          connect.CodeUnauthenticated,
	"invalid_argument":       connect.CodeInvalidArgument,
	"unknown_entity":         connect.CodeNotFound,
	"exists":                 connect.CodeAlreadyExists,
	"permission_denied":      connect.CodePermissionDenied,
	"insufficient_funds":     connect.CodeFailedPrecondition,
	"balance_limit":          connect.CodeFailedPrecondition,
	"account_not_active":     connect.CodeFailedPrecondition,
	"card_not_usable":        connect.CodeFailedPrecondition,
	"stock_exhausted":        connect.CodeResourceExhausted,
	"limit_reached":          connect.CodeResourceExhausted,
	"code_unknown":           connect.CodeNotFound,
	"code_expired":           connect.CodeFailedPrecondition,
	"code_used":              connect.CodeFailedPrecondition,
	"code_limit":             connect.CodeResourceExhausted,
	"template_expired":       connect.CodeFailedPrecondition,
	"refund_not_allowed":     connect.CodeFailedPrecondition,
	"interrupted":            connect.CodeAborted,
	"gift_not_allowed":       connect.CodeFailedPrecondition,
	"gift_not_pending":       connect.CodeFailedPrecondition,
	"not_in_pool":            connect.CodeFailedPrecondition,
	"pool_full":              connect.CodeResourceExhausted,
	"overloaded":             connect.CodeUnavailable,
	"engine_stopped":         connect.CodeUnavailable,
	"deadline_exceeded":      connect.CodeDeadlineExceeded,
	"canceled":               connect.CodeCanceled,
}

// engineError turns an engine error into a status with the typed reason in its details.
func engineError(err error) error {
	var ce *connect.Error
	if errors.As(err, &ce) {
		return err
	}
	name := kaquan.Reason(err)
	code, ok := codes[name]
	if !ok {
		return connect.NewError(connect.CodeInternal, err)
	}
	e := connect.NewError(code, err)
	reason := &messages.ErrorReason{Reason: name}
	var card *kaquan.CardError
	if errors.As(err, &card) {
		reason.CardReason = card.Reason
	}
	if d, derr := connect.NewErrorDetail(reason); derr == nil {
		e.AddDetail(d)
	}
	return e
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
