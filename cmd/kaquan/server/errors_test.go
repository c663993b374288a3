package server

import (
	"errors"
	"fmt"
	"testing"

	"connectrpc.com/connect"
	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/messages"
)

// TestErrors_EveryReasonHasACode: every typed error of the engine leaves the server as a status
// (never Internal) carrying its reason, and the reason names the error back.
func TestErrors_EveryReasonHasACode(t *testing.T) {
	for _, name := range kaquan.Reasons() {
		sentinel := kaquan.ReasonError(name)
		err := engineError(fmt.Errorf("context: %w", sentinel))
		var ce *connect.Error
		if !errors.As(err, &ce) || ce.Code() == connect.CodeInternal {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got := reasonOf(err); got != name {
			t.Errorf("%s: reason in details %q", name, got)
		}
	}
	card := engineError(&kaquan.CardError{Reason: messages.CardReason_CARD_REASON_EXPIRED})
	d, _ := card.(*connect.Error).Details()[0].Value()
	if r := d.(*messages.ErrorReason); r.CardReason != messages.CardReason_CARD_REASON_EXPIRED {
		t.Errorf("card reason: %v", r)
	}
	if code := connect.CodeOf(engineError(errors.New("disk on fire"))); code != connect.CodeInternal {
		t.Errorf("an unknown error: %s", code)
	}
}

// TestErrors_CodesAreAContract: the status code each reason leaves the server with is what clients
// script against; a class change that moves one fails here.
func TestErrors_CodesAreAContract(t *testing.T) {
	want := map[string]connect.Code{
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
		"wrong_node":             connect.CodeUnavailable,
		"unavailable":            connect.CodeUnavailable,
		"cluster_layout":         connect.CodeFailedPrecondition,
		"not_in_cluster":         connect.CodeFailedPrecondition,
		"deadline_exceeded":      connect.CodeDeadlineExceeded,
		"canceled":               connect.CodeCanceled,
	}
	names := kaquan.Reasons()
	if len(names) != len(want) {
		t.Errorf("%d reasons, %d with a known code: add the new reason's code here", len(names), len(want))
	}
	for _, name := range names {
		got := connect.CodeOf(engineError(fmt.Errorf("context: %w", kaquan.ReasonError(name))))
		if w, ok := want[name]; !ok || got != w {
			t.Errorf("%s: code %s, want %s", name, got, w)
		}
	}
}
