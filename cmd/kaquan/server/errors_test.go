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
