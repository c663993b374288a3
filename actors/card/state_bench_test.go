package card_test

import (
	"testing"

	"github.com/kaquan/kaquan/actors/card"
	"github.com/kaquan/kaquan/messages"
)

// BenchmarkCard_DecideReserve measures the pure card validation.
func BenchmarkCard_DecideReserve(b *testing.B) {
	c := &messages.Card{Id: 1, OwnerId: 7, State: messages.CardState_CARD_STATE_AVAILABLE, ValidUntil: 1 << 62,
		Kind: messages.TemplateKind_TEMPLATE_KIND_DISCOUNT, DiscountBp: 1500, DiscountCap: 900, AcceptedMerchants: []uint64{1, 2, 3}, MerchantId: 1}
	cmd := &messages.ReserveCard{Payment: "1/x", PayerId: 7, MerchantId: 3, Amount: 5000, Now: 1}
	a := &messages.Acceptance{Acceptor: 3, Issuer: 1, State: messages.AcceptanceState_ACCEPTANCE_STATE_GRANTED}
	for b.Loop() {
		if _, reason := card.DecideReserve(c, cmd, a); reason != messages.CardReason_CARD_REASON_UNSPECIFIED {
			b.Fatal(reason)
		}
	}
}
