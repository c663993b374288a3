// Package card is the card (coupon) entity. state.go is the pure state machine; actor.go its shell.
//
//	AVAILABLE -> RESERVED (for one payment) -> USED
//	RESERVED  -> AVAILABLE (payment failed) or EXPIRED (failed after the validity window closed)
//	USED      -> AVAILABLE or EXPIRED (refund)
//	AVAILABLE -> EXPIRED (validity over) or VOID (withdrawn by the merchant)
package card

import (
	"fmt"
	"math/bits"
	"slices"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/messages"
	"google.golang.org/protobuf/proto"
)

// Discount is what card c takes off amount, ignoring its state (the template's rule alone).
func Discount(c *messages.Card, amount int64) int64 {
	switch c.Kind {
	case messages.TemplateKind_TEMPLATE_KIND_CASH:
		return min(c.ReduceAmount, amount)
	case messages.TemplateKind_TEMPLATE_KIND_DISCOUNT:
		hi, lo := bits.Mul64(uint64(amount), uint64(c.DiscountBp))
		q, _ := bits.Div64(hi, lo, 10_000)
		d := int64(q) // amount <= AmountMax and bp < 10000, so q < amount fits
		if c.DiscountCap > 0 {
			d = min(d, c.DiscountCap)
		}
		return d
	}
	return 0
}

// DecideReserve checks card c for payment cmd at cmd.Now. It returns the discount, or a reason the
// card cannot be used.
func DecideReserve(c *messages.Card, cmd *messages.ReserveCard) (int64, messages.CardReason) {
	switch {
	case c == nil:
		return 0, messages.CardReason_CARD_REASON_UNKNOWN_CARD
	case c.OwnerId != cmd.PayerId:
		return 0, messages.CardReason_CARD_REASON_NOT_OWNER
	case c.State == messages.CardState_CARD_STATE_RESERVED && c.Payment == cmd.Payment:
		return c.Discount, messages.CardReason_CARD_REASON_UNSPECIFIED // same payment asking again
	case c.State != messages.CardState_CARD_STATE_AVAILABLE:
		return 0, messages.CardReason_CARD_REASON_NOT_AVAILABLE
	case cmd.Now < c.ValidFrom:
		return 0, messages.CardReason_CARD_REASON_NOT_YET_VALID
	case cmd.Now >= c.ValidUntil:
		return 0, messages.CardReason_CARD_REASON_EXPIRED
	case !slices.Contains(c.AcceptedMerchants, cmd.MerchantId):
		return 0, messages.CardReason_CARD_REASON_MERCHANT_NOT_ACCEPTED
	case cmd.Amount < c.LeastCost:
		return 0, messages.CardReason_CARD_REASON_BELOW_LEAST_COST
	}
	return Discount(c, cmd.Amount), messages.CardReason_CARD_REASON_UNSPECIFIED
}

// Reserve returns c held for payment with discount.
func Reserve(c *messages.Card, payment string, discount int64) *messages.Card {
	n := clone(c)
	n.State, n.Payment, n.Discount = messages.CardState_CARD_STATE_RESERVED, payment, discount
	return n
}

// Use returns c used by payment, or nil when c is already used by it. Only the payment that
// reserved the card can use it.
func Use(c *messages.Card, payment string) *messages.Card {
	if c.State == messages.CardState_CARD_STATE_USED && c.Payment == payment {
		return nil
	}
	actors.Invariant(c.State == messages.CardState_CARD_STATE_RESERVED && c.Payment == payment,
		"a card is used only by the payment that reserved it")
	n := clone(c)
	n.State = messages.CardState_CARD_STATE_USED
	return n
}

// Release returns c back from payment (failed or refunded): AVAILABLE if still valid at now, else
// EXPIRED. It returns nil when payment does not hold the card (already released: idempotent).
func Release(c *messages.Card, payment string, now int64) *messages.Card {
	if c == nil || c.Payment != payment ||
		(c.State != messages.CardState_CARD_STATE_RESERVED && c.State != messages.CardState_CARD_STATE_USED) {
		return nil
	}
	n := clone(c)
	n.State, n.Payment, n.Discount = messages.CardState_CARD_STATE_AVAILABLE, "", 0
	if now >= c.ValidUntil {
		n.State = messages.CardState_CARD_STATE_EXPIRED
	}
	return n
}

// DecideExpire moves an AVAILABLE card past its validity to EXPIRED.
func DecideExpire(c *messages.Card, now int64) (*messages.Card, error) {
	switch {
	case c == nil:
		return nil, fmt.Errorf("%w: card", actors.ErrUnknownEntity)
	case c.State != messages.CardState_CARD_STATE_AVAILABLE:
		return nil, &actors.CardError{Reason: messages.CardReason_CARD_REASON_NOT_AVAILABLE}
	case now < c.ValidUntil:
		return nil, fmt.Errorf("%w: card valid until %d", actors.ErrInvalidArgument, c.ValidUntil)
	}
	n := clone(c)
	n.State = messages.CardState_CARD_STATE_EXPIRED
	return n, nil
}

// DecideVoid withdraws an AVAILABLE card; only the template's merchant may.
func DecideVoid(c *messages.Card, merchant uint64) (*messages.Card, error) {
	switch {
	case c == nil:
		return nil, fmt.Errorf("%w: card", actors.ErrUnknownEntity)
	case merchant != c.MerchantId:
		return nil, fmt.Errorf("%w: only the issuing merchant voids a card", actors.ErrPermissionDenied)
	case c.State != messages.CardState_CARD_STATE_AVAILABLE:
		return nil, &actors.CardError{Reason: messages.CardReason_CARD_REASON_NOT_AVAILABLE}
	}
	n := clone(c)
	n.State = messages.CardState_CARD_STATE_VOID
	return n, nil
}

func clone(c *messages.Card) *messages.Card { return proto.Clone(c).(*messages.Card) }
