package payment

// Record layout: the payment record the saga's Effect.Persist writes, how Load reads it back, and
// the payment-code index a payment reads to find its payer.

import (
	"errors"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
	"google.golang.org/protobuf/proto"
)

// Load activates payment id from the store.
func Load(id actors.ID, h *actors.Host) (actors.Behavior, error) {
	p := &messages.Payment{}
	err := h.Store.GetProto(persistence.PaymentKey(id.Str), p)
	if errors.Is(err, persistence.ErrNotFound) {
		return &behavior{}, nil
	}
	if err != nil {
		return nil, err
	}
	return &behavior{s: Saga{P: p}}, nil
}

// paymentEntry is payment p's record.
func paymentEntry(p *messages.Payment) persistence.Entry {
	v, err := proto.Marshal(p)
	actors.Invariant(err == nil, "payment marshals")
	return persistence.Entry{Key: persistence.PaymentKey(p.Key), Value: v}
}

// readCodeRecord reads the index entry of a payment code (nil if none): the payer's account.
func readCodeRecord(store *persistence.Store, code string) (*messages.PaymentCode, error) {
	pc := &messages.PaymentCode{}
	err := store.GetProto(persistence.PaymentCodeKey(code), pc)
	if errors.Is(err, persistence.ErrNotFound) {
		return nil, nil
	}
	return pc, err
}
