package card

import (
	"errors"
	"math/big"
	"testing"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/messages"
	"google.golang.org/protobuf/proto"
)

const (
	payment  = "10/k1"
	other    = "10/k2"
	owner    = uint64(7)
	merchant = uint64(10)
	from     = int64(1_000)
	until    = int64(2_000)
)

var (
	cashKind     = messages.TemplateKind_TEMPLATE_KIND_CASH
	discountKind = messages.TemplateKind_TEMPLATE_KIND_DISCOUNT
	available    = messages.CardState_CARD_STATE_AVAILABLE
	reserved     = messages.CardState_CARD_STATE_RESERVED
	used         = messages.CardState_CARD_STATE_USED
	expired      = messages.CardState_CARD_STATE_EXPIRED
	void         = messages.CardState_CARD_STATE_VOID
)

// newCard returns an AVAILABLE CASH card: 30 off from a spend of 50, valid [from, until), accepted by
// merchants 10 and 11, issued by merchant 10.
func newCard() *messages.Card {
	return &messages.Card{Id: 5<<32 | 1, TemplateId: 5, OwnerId: owner, Code: "card-code", State: available,
		ValidFrom: from, ValidUntil: until, ClaimedAt: from - 1, Kind: cashKind, ReduceAmount: 30, LeastCost: 50,
		AcceptedMerchants: []uint64{merchant, 11}, MerchantId: merchant}
}

var (
	granted = messages.AcceptanceState_ACCEPTANCE_STATE_GRANTED
	revoked = messages.AcceptanceState_ACCEPTANCE_STATE_REVOKED
)

// acceptance is merchant acceptor's acceptance of issuer's cards in state.
func acceptance(acceptor, issuer uint64, state messages.AcceptanceState) *messages.Acceptance {
	return &messages.Acceptance{Acceptor: acceptor, Issuer: issuer, State: state, GrantedAt: 1}
}

func withState(c *messages.Card, state messages.CardState, p string, discount int64) *messages.Card {
	c.State, c.Payment, c.Discount = state, p, discount
	return c
}

func clone0(c *messages.Card) *messages.Card {
	if c == nil {
		return nil
	}
	return proto.Clone(c).(*messages.Card)
}

func unchanged(t *testing.T, got, want *messages.Card) {
	t.Helper()
	if !proto.Equal(got, want) {
		t.Errorf("input card mutated: got %v, want %v", got, want)
	}
}

func mustPanic(t *testing.T, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("panic: got none, want a panic")
		}
	}()
	f()
}

// The transitions as Decide makes them, on a State holding card c: each returns the card after the
// change (nil: no change) and, where the command can be refused, the refusal.

func on(c *messages.Card) *State { return &State{Card: c} }

func cardOf(ch Change, err error) (*messages.Card, error) { return ch.Card, err }

func giftOf(ch Change, err error) (*messages.Card, *messages.GiftRecord, error) {
	return ch.Card, ch.Gift, err
}

// poolOf is a pool request's change as the pool is told it: the card, or the refusal's result.
func poolOf(ch Change, err error) (*messages.Card, messages.PoolResult) {
	var refusal *PoolRefusal
	switch {
	case err == nil:
		return ch.Card, messages.PoolResult_POOL_RESULT_OK
	case errors.As(err, &refusal):
		return nil, refusal.Result
	}
	panic(err)
}

func releaseOf(c *messages.Card, p string, at int64) *messages.Card {
	ch, _ := Decide(on(c), Release{Payment: p}, at)
	return ch.Card
}

func expire(c *messages.Card, at int64) (*messages.Card, error) {
	return cardOf(Decide(on(c), Expire{Now: at}, at))
}

func voidOf(c *messages.Card, m uint64) (*messages.Card, error) {
	return cardOf(Decide(on(c), Void{Merchant: m}, 0))
}

func give(c *messages.Card, g Gift) (*messages.Card, *messages.GiftRecord, error) {
	return giftOf(Decide(on(c), GiveCard{Gift: g}, g.Now))
}

func accept(c *messages.Card, user uint64, code string, at int64) (*messages.Card, *messages.GiftRecord, error) {
	return giftOf(Decide(on(c), AcceptGift{User: user, NewCode: code, Now: at}, at))
}

func decline(c *messages.Card, user uint64, at int64) (*messages.Card, error) {
	return cardOf(Decide(on(c), DeclineGift{User: user, Now: at}, at))
}

func timeoutOf(c *messages.Card, at int64) *messages.Card {
	ch, _ := Decide(on(c), OfferTimeout{Now: at}, at)
	return ch.Card
}

func share(c *messages.Card, owner uint64, at int64) (*messages.Card, messages.PoolResult) {
	return poolOf(Decide(on(c), Share{Owner: owner}, at))
}

func unshare(c *messages.Card, owner uint64, at int64) (*messages.Card, messages.PoolResult) {
	return poolOf(Decide(on(c), Unshare{Owner: owner}, at))
}

func claimShared(c *messages.Card, claimer, sharer uint64, code string, at int64) (*messages.Card, messages.PoolResult) {
	return poolOf(Decide(on(c), ClaimShared{Claimer: claimer, Sharer: sharer, NewCode: code}, at))
}

func externalUse(c *messages.Card, m uint64, useID string, at int64) (*messages.Card, error) {
	return cardOf(Decide(on(c), ExternalUse{Merchant: m, UseID: useID, Now: at}, at))
}

func TestCard_Discount(t *testing.T) {
	tests := []struct {
		name   string
		card   *messages.Card
		amount int64
		want   int64
	}{
		{name: "CashBelowAmount", card: &messages.Card{Kind: cashKind, ReduceAmount: 30}, amount: 100, want: 30},
		{name: "CashEqualsAmount", card: &messages.Card{Kind: cashKind, ReduceAmount: 100}, amount: 100, want: 100},
		{name: "CashClampsToAmount", card: &messages.Card{Kind: cashKind, ReduceAmount: 500}, amount: 100, want: 100},
		{name: "CashMaxAmounts", card: &messages.Card{Kind: cashKind, ReduceAmount: actors.AmountMax}, amount: actors.AmountMax, want: actors.AmountMax},
		{name: "CashZeroAmount", card: &messages.Card{Kind: cashKind, ReduceAmount: 30}, amount: 0, want: 0},
		{name: "DiscountExact", card: &messages.Card{Kind: discountKind, DiscountBp: 1000}, amount: 12340, want: 1234},
		{name: "DiscountFloors", card: &messages.Card{Kind: discountKind, DiscountBp: 1000}, amount: 12349, want: 1234},
		{name: "DiscountFloorsToZero", card: &messages.Card{Kind: discountKind, DiscountBp: 9999}, amount: 1, want: 0},
		{name: "DiscountOneBp", card: &messages.Card{Kind: discountKind, DiscountBp: 1}, amount: 9999, want: 0},
		{name: "DiscountOneBpExact", card: &messages.Card{Kind: discountKind, DiscountBp: 1}, amount: 10000, want: 1},
		{name: "DiscountMaxBp", card: &messages.Card{Kind: discountKind, DiscountBp: 9999}, amount: 10000, want: 9999},
		{name: "DiscountCapApplies", card: &messages.Card{Kind: discountKind, DiscountBp: 5000, DiscountCap: 100}, amount: 1000, want: 100},
		{name: "DiscountCapEqual", card: &messages.Card{Kind: discountKind, DiscountBp: 5000, DiscountCap: 500}, amount: 1000, want: 500},
		{name: "DiscountCapAbove", card: &messages.Card{Kind: discountKind, DiscountBp: 5000, DiscountCap: 501}, amount: 1000, want: 500},
		{name: "DiscountNoCap", card: &messages.Card{Kind: discountKind, DiscountBp: 5000, DiscountCap: 0}, amount: 1000, want: 500},
		{name: "DiscountAmountMaxMaxBp", card: &messages.Card{Kind: discountKind, DiscountBp: 9999}, amount: actors.AmountMax, want: 999_900_000_000_000},
		{name: "DiscountAmountMaxOneBp", card: &messages.Card{Kind: discountKind, DiscountBp: 1}, amount: actors.AmountMax, want: 100_000_000_000},
		{name: "DiscountNearAmountMaxFloors", card: &messages.Card{Kind: discountKind, DiscountBp: 9999}, amount: actors.AmountMax - 1, want: 999_899_999_999_999},
		{name: "DiscountAmountMaxCapped", card: &messages.Card{Kind: discountKind, DiscountBp: 9999, DiscountCap: 7}, amount: actors.AmountMax, want: 7},
		{name: "UnspecifiedKind", card: &messages.Card{ReduceAmount: 30, DiscountBp: 1000}, amount: 1000, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := clone0(tt.card)
			if got := Discount(tt.card, tt.amount); got != tt.want {
				t.Errorf("Discount: got %d, want %d", got, tt.want)
			}
			unchanged(t, tt.card, before)
		})
	}
	t.Run("LargeAmountsMatchBigArithmetic", func(t *testing.T) {
		amounts := []int64{actors.AmountMax, actors.AmountMax - 1, actors.AmountMax - 9999, 1 << 59, 1<<59 + 12345, 922_337_203_685_477_580, 3, 10_001}
		bps := []int32{1, 2, 3, 7, 333, 5000, 6667, 9998, 9999}
		for _, amount := range amounts {
			for _, bp := range bps {
				want := new(big.Int).Mul(big.NewInt(amount), big.NewInt(int64(bp)))
				want.Quo(want, big.NewInt(10_000))
				got := Discount(&messages.Card{Kind: discountKind, DiscountBp: bp}, amount)
				if !want.IsInt64() || got != want.Int64() {
					t.Errorf("Discount(%d bp of %d): got %d, want %s", bp, amount, got, want)
				}
				if got < 0 || got >= amount {
					t.Errorf("Discount(%d bp of %d): got %d, want within [0, %d)", bp, amount, got, amount)
				}
			}
		}
	})
}

func TestCard_DecideReserve(t *testing.T) {
	cmd := func(mod func(*messages.ReserveCard)) *messages.ReserveCard {
		m := &messages.ReserveCard{Payment: payment, PayerId: owner, MerchantId: merchant, Amount: 100, Now: 1_500}
		if mod != nil {
			mod(m)
		}
		return m
	}
	none := messages.CardReason_CARD_REASON_UNSPECIFIED
	tests := []struct {
		name       string
		card       *messages.Card
		cmd        *messages.ReserveCard
		acceptance *messages.Acceptance // merchant's of the card's issuer (10)
		want       int64
		reason     messages.CardReason
	}{
		{name: "Unknown", card: nil, cmd: cmd(nil), reason: messages.CardReason_CARD_REASON_UNKNOWN_CARD},
		{name: "NotOwner", card: newCard(), cmd: cmd(func(m *messages.ReserveCard) { m.PayerId = owner + 1 }), reason: messages.CardReason_CARD_REASON_NOT_OWNER},
		{name: "NotOwnerEvenIfReservedForSamePayment", card: withState(newCard(), reserved, payment, 30),
			cmd: cmd(func(m *messages.ReserveCard) { m.PayerId = owner + 1 }), reason: messages.CardReason_CARD_REASON_NOT_OWNER},
		{name: "NotAvailableUnspecified", card: withState(newCard(), messages.CardState_CARD_STATE_UNSPECIFIED, "", 0), cmd: cmd(nil), reason: messages.CardReason_CARD_REASON_NOT_AVAILABLE},
		{name: "NotAvailableReservedByOther", card: withState(newCard(), reserved, other, 30), cmd: cmd(nil), reason: messages.CardReason_CARD_REASON_NOT_AVAILABLE},
		{name: "NotAvailableUsedByOther", card: withState(newCard(), used, other, 30), cmd: cmd(nil), reason: messages.CardReason_CARD_REASON_NOT_AVAILABLE},
		{name: "NotAvailableUsedBySame", card: withState(newCard(), used, payment, 30), cmd: cmd(nil), reason: messages.CardReason_CARD_REASON_NOT_AVAILABLE},
		{name: "NotAvailableExpired", card: withState(newCard(), expired, "", 0), cmd: cmd(nil), reason: messages.CardReason_CARD_REASON_NOT_AVAILABLE},
		{name: "NotAvailableVoid", card: withState(newCard(), void, "", 0), cmd: cmd(nil), reason: messages.CardReason_CARD_REASON_NOT_AVAILABLE},
		{name: "NotYetValid", card: newCard(), cmd: cmd(func(m *messages.ReserveCard) { m.Now = from - 1 }), reason: messages.CardReason_CARD_REASON_NOT_YET_VALID},
		{name: "ValidAtValidFrom", card: newCard(), cmd: cmd(func(m *messages.ReserveCard) { m.Now = from }), want: 30, reason: none},
		{name: "ExpiredAtValidUntil", card: newCard(), cmd: cmd(func(m *messages.ReserveCard) { m.Now = until }), reason: messages.CardReason_CARD_REASON_EXPIRED},
		{name: "ExpiredAfterValidUntil", card: newCard(), cmd: cmd(func(m *messages.ReserveCard) { m.Now = until + 1 }), reason: messages.CardReason_CARD_REASON_EXPIRED},
		{name: "ValidJustBeforeValidUntil", card: newCard(), cmd: cmd(func(m *messages.ReserveCard) { m.Now = until - 1 }), want: 30, reason: none},
		{name: "MerchantNotAccepted", card: newCard(), cmd: cmd(func(m *messages.ReserveCard) { m.MerchantId = 12 }), reason: messages.CardReason_CARD_REASON_MERCHANT_NOT_ACCEPTED},
		// Merchant 11 is listed by the template of merchant 10: it takes the card only with its consent.
		{name: "OtherAcceptedMerchantWithoutAcceptance", card: newCard(), cmd: cmd(func(m *messages.ReserveCard) { m.MerchantId = 11 }),
			reason: messages.CardReason_CARD_REASON_ACCEPTANCE_NOT_GRANTED},
		{name: "OtherAcceptedMerchantGranted", card: newCard(), cmd: cmd(func(m *messages.ReserveCard) { m.MerchantId = 11 }),
			acceptance: acceptance(11, merchant, granted), want: 30, reason: none},
		{name: "OtherAcceptedMerchantRevoked", card: newCard(), cmd: cmd(func(m *messages.ReserveCard) { m.MerchantId = 11 }),
			acceptance: acceptance(11, merchant, revoked), reason: messages.CardReason_CARD_REASON_ACCEPTANCE_REVOKED},
		{name: "OtherAcceptedMerchantUnspecifiedState", card: newCard(), cmd: cmd(func(m *messages.ReserveCard) { m.MerchantId = 11 }),
			acceptance: acceptance(11, merchant, messages.AcceptanceState_ACCEPTANCE_STATE_UNSPECIFIED), reason: messages.CardReason_CARD_REASON_ACCEPTANCE_NOT_GRANTED},
		{name: "OtherAcceptedMerchantGrantedToAnotherIssuer", card: newCard(), cmd: cmd(func(m *messages.ReserveCard) { m.MerchantId = 11 }),
			acceptance: acceptance(11, 12, granted), reason: messages.CardReason_CARD_REASON_ACCEPTANCE_NOT_GRANTED},
		{name: "OtherAcceptedMerchantGrantedByAnother", card: newCard(), cmd: cmd(func(m *messages.ReserveCard) { m.MerchantId = 11 }),
			acceptance: acceptance(12, merchant, granted), reason: messages.CardReason_CARD_REASON_ACCEPTANCE_NOT_GRANTED},
		{name: "UnlistedMerchantGranted", card: newCard(), cmd: cmd(func(m *messages.ReserveCard) { m.MerchantId = 12 }),
			acceptance: acceptance(12, merchant, granted), reason: messages.CardReason_CARD_REASON_MERCHANT_NOT_ACCEPTED},
		{name: "IssuerNeedsNoAcceptance", card: newCard(), cmd: cmd(nil), acceptance: acceptance(merchant, merchant, revoked), want: 30, reason: none},
		{name: "IssuerNotListed", card: func() *messages.Card { c := newCard(); c.AcceptedMerchants = []uint64{11}; return c }(), cmd: cmd(nil),
			reason: messages.CardReason_CARD_REASON_MERCHANT_NOT_ACCEPTED},
		// A payment that reserved the card before the revocation keeps its reservation.
		{name: "SamePaymentAgainAfterRevoke", card: withState(newCard(), reserved, payment, 30), cmd: cmd(func(m *messages.ReserveCard) { m.MerchantId = 11 }),
			acceptance: acceptance(11, merchant, revoked), want: 30, reason: none},
		{name: "NoAcceptedMerchants", card: func() *messages.Card { c := newCard(); c.AcceptedMerchants = nil; return c }(), cmd: cmd(nil),
			reason: messages.CardReason_CARD_REASON_MERCHANT_NOT_ACCEPTED},
		{name: "BelowLeastCost", card: newCard(), cmd: cmd(func(m *messages.ReserveCard) { m.Amount = 49 }), reason: messages.CardReason_CARD_REASON_BELOW_LEAST_COST},
		{name: "AtLeastCost", card: newCard(), cmd: cmd(func(m *messages.ReserveCard) { m.Amount = 50 }), want: 30, reason: none},
		{name: "CashClampedToAmount", card: func() *messages.Card { c := newCard(); c.ReduceAmount = 500; return c }(), cmd: cmd(nil), want: 100, reason: none},
		{name: "Discount", card: func() *messages.Card {
			c := newCard()
			c.Kind, c.ReduceAmount, c.DiscountBp, c.DiscountCap = discountKind, 0, 1500, 0
			return c
		}(), cmd: cmd(func(m *messages.ReserveCard) { m.Amount = 1001 }), want: 150, reason: none},
		{name: "DiscountCapped", card: func() *messages.Card {
			c := newCard()
			c.Kind, c.ReduceAmount, c.DiscountBp, c.DiscountCap = discountKind, 0, 1500, 99
			return c
		}(), cmd: cmd(func(m *messages.ReserveCard) { m.Amount = 1001 }), want: 99, reason: none},
		{name: "SamePaymentAgain", card: withState(newCard(), reserved, payment, 30), cmd: cmd(nil), want: 30, reason: none},
		{name: "SamePaymentAgainKeepsItsDiscount", card: withState(newCard(), reserved, payment, 17),
			cmd: cmd(func(m *messages.ReserveCard) { m.Amount = 10_000 }), want: 17, reason: none},
		{name: "SamePaymentAgainAfterValidity", card: withState(newCard(), reserved, payment, 30),
			cmd: cmd(func(m *messages.ReserveCard) { m.Now = until + 100 }), want: 30, reason: none},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, beforeCmd := clone0(tt.card), proto.Clone(tt.cmd)
			got, reason := DecideReserve(tt.card, tt.cmd, tt.acceptance)
			if reason != tt.reason {
				t.Errorf("reason: got %s, want %s", reason, tt.reason)
			}
			if got != tt.want {
				t.Errorf("discount: got %d, want %d", got, tt.want)
			}
			unchanged(t, tt.card, before)
			if !proto.Equal(tt.cmd, beforeCmd) {
				t.Errorf("command mutated: got %v, want %v", tt.cmd, beforeCmd)
			}
			// Decide agrees, with the card reserved for the payment.
			cmd := Reserve{Payment: tt.cmd.Payment, Payer: tt.cmd.PayerId, Merchant: tt.cmd.MerchantId, Amount: tt.cmd.Amount, Acceptance: tt.acceptance}
			ch, err := Decide(on(tt.card), cmd, tt.cmd.Now)
			unchanged(t, tt.card, before)
			if tt.reason != none {
				checkCardErr(t, err, actors.ErrCardNotUsable, tt.reason)
				if ch.Card != nil {
					t.Errorf("change: got %v, want none", ch.Card)
				}
				return
			}
			if want := withState(clone0(tt.card), reserved, payment, tt.want); err != nil || !proto.Equal(ch.Card, want) || ch.Prev != tt.card {
				t.Errorf("change: got %v from %p, %v; want %v from %p", ch.Card, ch.Prev, err, want, tt.card)
			}
		})
	}
}

func TestCard_Reserve(t *testing.T) {
	tests := []struct {
		name     string
		card     *messages.Card
		discount int64
	}{
		{name: "Cash", card: newCard(), discount: 30},
		{name: "ZeroDiscount", card: newCard(), discount: 0},
		{name: "SamePaymentAgain", card: withState(newCard(), reserved, payment, 30), discount: 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := clone0(tt.card)
			got := reserve(tt.card, payment, tt.discount)
			unchanged(t, tt.card, before)
			want := withState(newCard(), reserved, payment, tt.discount)
			if !proto.Equal(got, want) {
				t.Errorf("card: got %v, want %v", got, want)
			}
			if got == tt.card {
				t.Errorf("card: got the input pointer, want a new card")
			}
		})
	}
}

func TestCard_Use(t *testing.T) {
	tests := []struct {
		name    string
		card    *messages.Card
		want    *messages.Card
		refused bool // a late or repeated use: refused, never a panic (it may come from another node)
	}{
		{name: "Reserved", card: withState(newCard(), reserved, payment, 30), want: withState(newCard(), used, payment, 30)},
		{name: "AlreadyUsedBySamePayment", card: withState(newCard(), used, payment, 30), want: nil},
		{name: "ReservedByOtherPayment", card: withState(newCard(), reserved, other, 30), refused: true},
		{name: "UsedByOtherPayment", card: withState(newCard(), used, other, 30), refused: true},
		{name: "Available", card: newCard(), refused: true},
		{name: "ReleasedByThisPayment", card: released(newCard(), payment), refused: true},
		{name: "Expired", card: withState(newCard(), expired, "", 0), refused: true},
		{name: "Void", card: withState(newCard(), void, "", 0), refused: true},
		{name: "Unknown", card: nil, refused: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := clone0(tt.card)
			ch, err := Decide(on(tt.card), Use{Payment: payment}, from)
			unchanged(t, tt.card, before)
			if tt.refused != (err != nil) || (err != nil && !errors.Is(err, actors.ErrCardNotUsable)) {
				t.Fatalf("err: got %v, want refused=%t (card not usable)", err, tt.refused)
			}
			if !proto.Equal(ch.Card, tt.want) || (ch.Card == nil) != (tt.want == nil) {
				t.Errorf("card: got %v, want %v", ch.Card, tt.want)
			}
		})
	}
}

// released is c remembering that payments released it.
func released(c *messages.Card, payments ...string) *messages.Card {
	c.Released = append(c.Released, payments...)
	return c
}

func TestCard_Release(t *testing.T) {
	tests := []struct {
		name string
		card *messages.Card
		now  int64
		want *messages.Card
	}{
		{name: "ReservedStillValid", card: withState(newCard(), reserved, payment, 30), now: until - 1, want: released(newCard(), payment)},
		{name: "ReservedBeforeValidFrom", card: withState(newCard(), reserved, payment, 30), now: from - 1, want: released(newCard(), payment)},
		{name: "ReservedPastValidity", card: withState(newCard(), reserved, payment, 30), now: until, want: released(withState(newCard(), expired, "", 0), payment)},
		{name: "UsedRefundStillValid", card: withState(newCard(), used, payment, 30), now: 1_500, want: released(newCard(), payment)},
		{name: "UsedRefundPastValidity", card: withState(newCard(), used, payment, 30), now: until + 1, want: released(withState(newCard(), expired, "", 0), payment)},
		// Not held by the payment: the card only remembers the release, so that a ReserveCard of
		// the payment that comes after it (delayed, reordered) is refused.
		{name: "ReservedByOtherPayment", card: withState(newCard(), reserved, other, 30), now: 1_500, want: released(withState(newCard(), reserved, other, 30), payment)},
		{name: "UsedByOtherPayment", card: withState(newCard(), used, other, 30), now: 1_500, want: released(withState(newCard(), used, other, 30), payment)},
		{name: "NeverReserved", card: newCard(), now: 1_500, want: released(newCard(), payment)},
		{name: "Expired", card: withState(newCard(), expired, payment, 0), now: until, want: released(withState(newCard(), expired, payment, 0), payment)},
		{name: "Void", card: withState(newCard(), void, payment, 0), now: 1_500, want: released(withState(newCard(), void, payment, 0), payment)},
		{name: "AlreadyReleased", card: released(newCard(), payment), now: 1_500},
		{name: "NilCard", card: nil, now: 1_500},
		{name: "KeepsTheLast", card: released(withState(newCard(), reserved, payment, 30), "1", "2", "3", "4", "5", "6", "7", "8"), now: 1_500,
			want: released(newCard(), "2", "3", "4", "5", "6", "7", "8", payment)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := clone0(tt.card)
			got := releaseOf(tt.card, payment, tt.now)
			unchanged(t, tt.card, before)
			if !proto.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
				t.Errorf("card: got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestCard_ReserveAfterRelease: a ReserveCard of a payment that released the card (a resend, or
// one delayed past the release) is refused, and the card stays free for others.
func TestCard_ReserveAfterRelease(t *testing.T) {
	c := releaseOf(withState(newCard(), reserved, payment, 30), payment, 1_500)
	_, err := Decide(on(c), Reserve{Payment: payment, Payer: c.OwnerId, Merchant: c.MerchantId, Amount: 100}, 1_500)
	checkCardErr(t, err, actors.ErrCardNotUsable, messages.CardReason_CARD_REASON_NOT_AVAILABLE)
	ch, err := Decide(on(c), Reserve{Payment: other, Payer: c.OwnerId, Merchant: c.MerchantId, Amount: 100}, 1_500)
	if err != nil || ch.Card.State != reserved || ch.Card.Payment != other {
		t.Errorf("another payment's reservation: got %v %v, want reserved by %s", ch.Card, err, other)
	}
}

func TestCard_DecideExpire(t *testing.T) {
	tests := []struct {
		name    string
		card    *messages.Card
		now     int64
		want    *messages.Card
		wantErr error
		reason  messages.CardReason
	}{
		{name: "Unknown", card: nil, now: until, wantErr: actors.ErrUnknownEntity},
		{name: "Reserved", card: withState(newCard(), reserved, payment, 30), now: until, wantErr: actors.ErrCardNotUsable, reason: messages.CardReason_CARD_REASON_NOT_AVAILABLE},
		{name: "Used", card: withState(newCard(), used, payment, 30), now: until, wantErr: actors.ErrCardNotUsable, reason: messages.CardReason_CARD_REASON_NOT_AVAILABLE},
		{name: "AlreadyExpired", card: withState(newCard(), expired, "", 0), now: until, wantErr: actors.ErrCardNotUsable, reason: messages.CardReason_CARD_REASON_NOT_AVAILABLE},
		{name: "Void", card: withState(newCard(), void, "", 0), now: until, wantErr: actors.ErrCardNotUsable, reason: messages.CardReason_CARD_REASON_NOT_AVAILABLE},
		{name: "StillValid", card: newCard(), now: until - 1, wantErr: actors.ErrInvalidArgument},
		{name: "AtValidUntil", card: newCard(), now: until, want: withState(newCard(), expired, "", 0)},
		{name: "PastValidUntil", card: newCard(), now: until + 1_000, want: withState(newCard(), expired, "", 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := clone0(tt.card)
			got, err := expire(tt.card, tt.now)
			unchanged(t, tt.card, before)
			checkCardErr(t, err, tt.wantErr, tt.reason)
			if !proto.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
				t.Errorf("card: got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCard_DecideVoid(t *testing.T) {
	tests := []struct {
		name     string
		card     *messages.Card
		merchant uint64
		want     *messages.Card
		wantErr  error
		reason   messages.CardReason
	}{
		{name: "Unknown", card: nil, merchant: merchant, wantErr: actors.ErrUnknownEntity},
		{name: "OtherMerchant", card: newCard(), merchant: 12, wantErr: actors.ErrPermissionDenied},
		{name: "AcceptingButNotIssuingMerchant", card: newCard(), merchant: 11, wantErr: actors.ErrPermissionDenied},
		{name: "Reserved", card: withState(newCard(), reserved, payment, 30), merchant: merchant, wantErr: actors.ErrCardNotUsable, reason: messages.CardReason_CARD_REASON_NOT_AVAILABLE},
		{name: "Used", card: withState(newCard(), used, payment, 30), merchant: merchant, wantErr: actors.ErrCardNotUsable, reason: messages.CardReason_CARD_REASON_NOT_AVAILABLE},
		{name: "Expired", card: withState(newCard(), expired, "", 0), merchant: merchant, wantErr: actors.ErrCardNotUsable, reason: messages.CardReason_CARD_REASON_NOT_AVAILABLE},
		{name: "AlreadyVoid", card: withState(newCard(), void, "", 0), merchant: merchant, wantErr: actors.ErrCardNotUsable, reason: messages.CardReason_CARD_REASON_NOT_AVAILABLE},
		{name: "Available", card: newCard(), merchant: merchant, want: withState(newCard(), void, "", 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := clone0(tt.card)
			got, err := voidOf(tt.card, tt.merchant)
			unchanged(t, tt.card, before)
			checkCardErr(t, err, tt.wantErr, tt.reason)
			if !proto.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
				t.Errorf("card: got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestCard_Lifecycle walks the documented transitions through Decide and Apply.
func TestCard_Lifecycle(t *testing.T) {
	s := on(newCard())
	step := func(cmd Command, at int64) Change {
		t.Helper()
		before := s.Card
		snap := clone0(before)
		ch, err := Decide(s, cmd, at)
		if err != nil {
			t.Fatalf("%T: got %v, want nil", cmd, err)
		}
		unchanged(t, before, snap)
		if s.Card != before {
			t.Fatalf("%T: Decide replaced the state's card", cmd)
		}
		Apply(s, ch)
		if ch.Card != nil && s.Card != ch.Card {
			t.Fatalf("%T: Apply left the card at %v, want %v", cmd, s.Card, ch.Card)
		}
		return ch
	}
	reserveCmd := Reserve{Payment: payment, Payer: owner, Merchant: merchant, Amount: 100}
	if ch := step(reserveCmd, 1_500); ch.Card.State != reserved || ch.Card.Discount != 30 {
		t.Fatalf("reserve: got %v, want RESERVED with 30 off", ch.Card)
	}
	if _, err := Decide(s, Reserve{Payment: other, Payer: owner, Merchant: merchant, Amount: 100}, 1_500); !errors.Is(err, actors.ErrCardNotUsable) {
		t.Errorf("reserve by another payment: got %v, want %v", err, actors.ErrCardNotUsable)
	}
	if ch := step(Use{Payment: payment}, 1_500); s.Card.State != used || ch.Reward != nil {
		t.Fatalf("use: got %s and reward %v, want USED and none", s.Card.State, ch.Reward)
	}
	if ch := step(Use{Payment: payment}, 1_500); ch.Card != nil {
		t.Errorf("use again: got a change, want none")
	}
	step(Release{Payment: payment}, 1_600) // refund
	if c := s.Card; c.State != available || c.Payment != "" || c.Discount != 0 {
		t.Fatalf("refund release: got %v, want AVAILABLE with no payment", c)
	}
	if ch := step(Release{Payment: payment}, 1_600); ch.Card != nil {
		t.Errorf("release again: got a change, want none")
	}
	step(Expire{}, until)
	if s.Card.State != expired {
		t.Fatalf("expire: got %s, want EXPIRED", s.Card.State)
	}
	if _, err := Decide(s, Void{Merchant: merchant}, until); !errors.Is(err, actors.ErrCardNotUsable) {
		t.Errorf("void expired: got %v, want %v", err, actors.ErrCardNotUsable)
	}
}

func TestCard_Apply(t *testing.T) {
	t.Run("NoChange", func(t *testing.T) {
		s := on(newCard())
		c := s.Card
		Apply(s, Change{})
		if s.Card != c {
			t.Errorf("card after no change: got %v, want %v", s.Card, c)
		}
	})
	t.Run("DecidedOnAnotherCard", func(t *testing.T) {
		s := on(newCard())
		ch, err := Decide(on(newCard()), Expire{}, until)
		if err != nil {
			t.Fatalf("expire: got %v, want nil", err)
		}
		c := s.Card
		mustPanic(t, func() { Apply(s, ch) })
		if s.Card != c {
			t.Errorf("card after a rejected change: got %v, want %v", s.Card, c)
		}
	})
	t.Run("UseOfASharedCardEarnsAReward", func(t *testing.T) {
		c := withState(newCard(), reserved, payment, 30)
		c.SharedBy, c.RewardTemplate = 9, 77
		ch, err := Decide(on(c), Use{Payment: payment}, 1_500)
		if err != nil || ch.Reward == nil || ch.Reward.UseId != "pay:"+payment || ch.Card.RewardUse != "pay:"+payment {
			t.Fatalf("use: got %v, %v; want a reward for pay:%s recorded in the card", ch, err, payment)
		}
		if c.RewardUse != "" {
			t.Errorf("the card decided on records the use: %q", c.RewardUse)
		}
		ch, err = Decide(on(ch.Card), ExternalUse{Merchant: merchant, UseID: "ntf:1"}, 1_500)
		if err == nil || ch.Reward != nil {
			t.Errorf("a used card used again outside: got %v, %v; want a refusal", ch, err)
		}
	})
}

func checkCardErr(t *testing.T, err, want error, reason messages.CardReason) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("err: got %v, want nil", err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("err: got %v, want %v", err, want)
	}
	if errors.Is(want, actors.ErrCardNotUsable) {
		var ce *actors.CardError
		if !errors.As(err, &ce) {
			t.Fatalf("err: got %T, want *actors.CardError", err)
		}
		if ce.Reason != reason {
			t.Errorf("reason: got %s, want %s", ce.Reason, reason)
		}
	}
}

func TestCard_CodeRefusal(t *testing.T) {
	none := messages.CardReason_CARD_REASON_UNSPECIFIED
	notAvailable := messages.CardReason_CARD_REASON_NOT_AVAILABLE
	tests := []struct {
		name string
		card *messages.Card
		user uint64
		now  int64
		want messages.CardReason
	}{
		{name: "Available", card: newCard(), user: owner, now: 1_500, want: none},
		{name: "Unknown", card: nil, user: owner, now: 1_500, want: messages.CardReason_CARD_REASON_UNKNOWN_CARD},
		{name: "NotOwner", card: newCard(), user: owner + 1, now: 1_500, want: messages.CardReason_CARD_REASON_NOT_OWNER},
		{name: "NotOwnerOfAUsedCard", card: withState(newCard(), used, payment, 30), user: owner + 1, now: 1_500, want: messages.CardReason_CARD_REASON_NOT_OWNER},
		{name: "Used", card: withState(newCard(), used, payment, 30), user: owner, now: 1_500, want: notAvailable},
		{name: "Void", card: withState(newCard(), void, "", 0), user: owner, now: 1_500, want: notAvailable},
		{name: "ExpiredState", card: withState(newCard(), expired, "", 0), user: owner, now: 1_500, want: notAvailable},
		{name: "PastValidity", card: newCard(), user: owner, now: until, want: messages.CardReason_CARD_REASON_EXPIRED},
		{name: "JustBeforeValidityEnds", card: newCard(), user: owner, now: until - 1, want: none},
		// May become usable within the code's life: the payment decides.
		{name: "NotYetValid", card: newCard(), user: owner, now: from - 1, want: none},
		{name: "ReservedByAPayment", card: withState(newCard(), reserved, payment, 30), user: owner, now: 1_500, want: none},
		{name: "Gifting", card: withState(newCard(), messages.CardState_CARD_STATE_GIFTING, "", 0), user: owner, now: 1_500, want: none},
		{name: "Shared", card: withState(newCard(), messages.CardState_CARD_STATE_SHARED, "", 0), user: owner, now: 1_500, want: none},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := clone0(tt.card)
			if got := CodeRefusal(tt.card, tt.user, tt.now); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
			unchanged(t, tt.card, before)
		})
	}
}

func TestCard_NeedsAcceptance(t *testing.T) {
	tests := []struct {
		name     string
		card     *messages.Card
		merchant uint64
		want     bool
	}{
		{"Unknown", nil, 11, false},
		{"Issuer", newCard(), merchant, false}, // the single-merchant path reads nothing
		{"ListedOther", newCard(), 11, true},
		{"Unlisted", newCard(), 12, false}, // refused MERCHANT_NOT_ACCEPTED without a read
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NeedsAcceptance(tt.card, tt.merchant); got != tt.want {
				t.Errorf("got %t, want %t", got, tt.want)
			}
		})
	}
}
