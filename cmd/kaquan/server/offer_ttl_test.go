package server_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/messages"
)

// TestGift_OfferTTLOutOfRange: offer time-outs outside the engine's bound are refused as invalid
// input, including those whose nanoseconds overflow (2^55+3600 s used to wrap to exactly one hour
// and pass); the bound itself is accepted.
func TestGift_OfferTTLOutOfRange(t *testing.T) {
	s := startServer(t)
	f := setupFlow(t, s, true)
	ctx := context.Background()
	r, err := f.user.Claim(ctx, connect.NewRequest(&messages.ClaimRequest{Template: 7, User: 100}))
	card := ok(t, r, err)
	gift := func(ttl int64) error {
		_, err := f.user.Gift(ctx, connect.NewRequest(&messages.GiftRequest{From: 100, To: 101, Card: card.Id, Offer: true, OfferTtlSeconds: ttl}))
		return err
	}
	maxSeconds := int64(actors.GiftOfferTTLMax / time.Second)
	for _, ttl := range []int64{1<<55 + 3600, maxSeconds + 1, -1, -(1 << 55) + 3600, 1 << 62} {
		err := gift(ttl)
		if connect.CodeOf(err) != connect.CodeInvalidArgument || errorReason(err) != "invalid_argument" {
			t.Errorf("offer ttl %d s: got %v (reason %q), want InvalidArgument (invalid_argument)", ttl, err, errorReason(err))
		}
	}
	if err := gift(maxSeconds); err != nil {
		t.Errorf("offer ttl %d s (the maximum): got %v, want it accepted", maxSeconds, err)
	}
}

// errorReason is the typed reason in a status's details ("" for none).
func errorReason(err error) string {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return ""
	}
	for _, d := range ce.Details() {
		if m, e := d.Value(); e == nil {
			if r, ok := m.(*messages.ErrorReason); ok {
				return r.Reason
			}
		}
	}
	return ""
}
