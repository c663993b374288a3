// Package card is the card (coupon) entity. state.go is the pure state machine (Decide and Apply),
// with its gift and pool transitions in gift.go and pool.go; records.go is what its changes write;
// actor.go its shell.
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

// State is a card in memory. Card is nil while the card does not exist. Card values are never
// mutated in place (every change makes a new one), so a snapshot handed out stays true to its
// moment.
type State struct{ Card *messages.Card }

// Command is what Decide takes. A request's Now is the time the shell passes to Decide; Decide
// reads only its now argument.
//
//   - from a payment: Reserve, Use, Release
//   - from a pool: Share, Unshare, ClaimShared
//   - from the embedding API (sent as actors.Call): Expire, Void, GiveCard, AcceptGift,
//     DeclineGift, OfferTimeout, ExternalUse
type Command interface{ isCommand() }

// Commands from a payment (messages.ReserveCard, UseCard, ReleaseCard) and from the API.
type (
	// Reserve holds the card for Payment of Amount at Merchant by Payer, with its discount.
	// Acceptance is Merchant's acceptance of the card's issuer (nil: none recorded), which the
	// shell reads only when NeedsAcceptance says so.
	Reserve struct {
		Payment         string
		Payer, Merchant uint64
		Amount          int64
		Acceptance      *messages.Acceptance
	}
	// Use spends the card reserved by Payment.
	Use struct{ Payment string }
	// Release gives the card back from Payment (failed or refunded).
	Release struct{ Payment string }
	// Expire moves an AVAILABLE card past its validity to EXPIRED. Replies *messages.Card.
	Expire struct{ Now int64 }
	// Void withdraws an AVAILABLE card. Replies *messages.Card.
	Void struct{ Merchant uint64 }
	// ExternalUse records a merchant's (already verified) notification that the card was used
	// outside the engine. Replies the pending *messages.Reward, or nil for a repeat or no reward.
	ExternalUse struct {
		Merchant       uint64
		UseID          string
		RewardTemplate uint64
		Now            int64
		Acceptance     *messages.Acceptance // as in Reserve
	}
)

func (Reserve) isCommand()      {}
func (Use) isCommand()          {}
func (Release) isCommand()      {}
func (Expire) isCommand()       {}
func (Void) isCommand()         {}
func (ExternalUse) isCommand()  {}
func (GiveCard) isCommand()     {}
func (AcceptGift) isCommand()   {}
func (DeclineGift) isCommand()  {}
func (OfferTimeout) isCommand() {}
func (Share) isCommand()        {}
func (Unshare) isCommand()      {}
func (ClaimShared) isCommand()  {}

// Change is what one command does to a card: Prev becomes Card, and a gift's library entry or a
// use's reward may come with it. Card nil is no change (an idempotent repeat).
type Change struct {
	Prev   *messages.Card       // the card the change was decided on
	Card   *messages.Card       // the card after it
	Gift   *messages.GiftRecord // a transfer, for the card's library
	Reward *messages.Reward     // the reward a use earned, pending until its cards are claimed
}

// Decide checks cmd against s at now and returns the change it makes; it never mutates s.
// Refusals are errors: a *actors.CardError for a payment's Reserve (its Reason is the answer), a
// *PoolRefusal for a pool's request (its Result is the answer).
func Decide(s *State, cmd Command, now int64) (Change, error) {
	c := s.Card
	var next *messages.Card
	var err error
	switch cmd := cmd.(type) {
	case Reserve:
		var discount int64
		var reason messages.CardReason
		if discount, reason = decideReserve(c, cmd, now); reason != messages.CardReason_CARD_REASON_UNSPECIFIED {
			return Change{}, &actors.CardError{Reason: reason}
		}
		next = reserve(c, cmd.Payment, discount)
	case Use:
		if next, err = use(c, cmd.Payment); next != nil {
			return rewarded(Change{Prev: c, Card: next}, "pay:"+cmd.Payment, 0, 0, now), nil
		}
	case Release:
		next = release(c, cmd.Payment, now)
	case Expire:
		next, err = decideExpire(c, now)
	case Void:
		next, err = decideVoid(c, cmd.Merchant)
	case ExternalUse:
		if next, err = decideExternalUse(c, cmd, now); next != nil {
			return rewarded(Change{Prev: c, Card: next}, cmd.UseID, cmd.RewardTemplate, cmd.Merchant, now), nil
		}
	case GiveCard:
		g := cmd.Gift
		g.Now = now
		return decideGift(c, g)
	case AcceptGift:
		return decideAccept(c, cmd.User, cmd.NewCode, now)
	case DeclineGift:
		next, err = decideDecline(c, cmd.User, now)
	case OfferTimeout:
		next = timeout(c, now)
	case Share:
		next, r := decideShare(c, cmd.Owner, now)
		return poolChange(c, next, r)
	case Unshare:
		next, r := decideUnshare(c, cmd.Owner, now)
		return poolChange(c, next, r)
	case ClaimShared:
		next, r := decideClaimShared(c, cmd.Claimer, cmd.Sharer, cmd.NewCode, now)
		return poolChange(c, next, r)
	default:
		panic(fmt.Sprintf("card: no command %T", cmd))
	}
	if err != nil {
		return Change{}, err
	}
	return Change{Prev: c, Card: next}, nil
}

// Apply folds change ch into s. Live traffic calls it; Load reads the card record, which is the
// result of every change applied.
func Apply(s *State, ch Change) {
	if ch.Card == nil {
		return
	}
	actors.Invariant(ch.Prev == s.Card, "a card change applies to the card it was decided on")
	s.Card = ch.Card
}

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

// DecideReserve is Decide of a Reserve for callers outside the actor (benchmarks): it checks card c
// for payment cmd at cmd.Now, with the merchant's acceptance of the card's issuer (nil: none), and
// returns the discount, or a reason the card cannot be used.
func DecideReserve(c *messages.Card, cmd *messages.ReserveCard, acceptance *messages.Acceptance) (int64, messages.CardReason) {
	return decideReserve(c, Reserve{Payment: cmd.Payment, Payer: cmd.PayerId, Merchant: cmd.MerchantId, Amount: cmd.Amount,
		Acceptance: acceptance}, cmd.Now)
}

// NeedsAcceptance reports whether card c at merchant depends on merchant's acceptance of c's
// issuer: c lists merchant, and merchant is not the issuer (who accepts its own cards without
// one). Only then does the shell read the acceptance, so a merchant's own cards cost no read.
func NeedsAcceptance(c *messages.Card, merchant uint64) bool {
	return c != nil && merchant != c.MerchantId && slices.Contains(c.AcceptedMerchants, merchant)
}

// accepts is why card c refuses merchant, or UNSPECIFIED when merchant takes it: the template
// must list merchant, and a merchant other than the issuer must have granted acceptance a (its
// acceptance of c's issuer; nil: none recorded) and not revoked it.
func accepts(c *messages.Card, merchant uint64, a *messages.Acceptance) messages.CardReason {
	switch {
	case !slices.Contains(c.AcceptedMerchants, merchant):
		return messages.CardReason_CARD_REASON_MERCHANT_NOT_ACCEPTED
	case merchant == c.MerchantId:
		return messages.CardReason_CARD_REASON_UNSPECIFIED
	case a.GetAcceptor() != merchant || a.GetIssuer() != c.MerchantId:
		return messages.CardReason_CARD_REASON_ACCEPTANCE_NOT_GRANTED // none, or not this pair's
	case a.State == messages.AcceptanceState_ACCEPTANCE_STATE_GRANTED:
		return messages.CardReason_CARD_REASON_UNSPECIFIED
	case a.State == messages.AcceptanceState_ACCEPTANCE_STATE_REVOKED:
		return messages.CardReason_CARD_REASON_ACCEPTANCE_REVOKED
	}
	return messages.CardReason_CARD_REASON_ACCEPTANCE_NOT_GRANTED
}

func decideReserve(c *messages.Card, cmd Reserve, now int64) (int64, messages.CardReason) {
	switch {
	case c == nil:
		return 0, messages.CardReason_CARD_REASON_UNKNOWN_CARD
	case c.OwnerId != cmd.Payer:
		return 0, messages.CardReason_CARD_REASON_NOT_OWNER
	case c.State == messages.CardState_CARD_STATE_RESERVED && c.Payment == cmd.Payment:
		return c.Discount, messages.CardReason_CARD_REASON_UNSPECIFIED // same payment asking again
	case c.State != messages.CardState_CARD_STATE_AVAILABLE, slices.Contains(c.Released, cmd.Payment):
		// A payment that released the card asks again only by a late or repeated message: it ended.
		return 0, messages.CardReason_CARD_REASON_NOT_AVAILABLE
	case now < c.ValidFrom:
		return 0, messages.CardReason_CARD_REASON_NOT_YET_VALID
	case now >= c.ValidUntil:
		return 0, messages.CardReason_CARD_REASON_EXPIRED
	case accepts(c, cmd.Merchant, cmd.Acceptance) != messages.CardReason_CARD_REASON_UNSPECIFIED:
		return 0, accepts(c, cmd.Merchant, cmd.Acceptance)
	case cmd.Amount < c.LeastCost:
		return 0, messages.CardReason_CARD_REASON_BELOW_LEAST_COST
	}
	return Discount(c, cmd.Amount), messages.CardReason_CARD_REASON_UNSPECIFIED
}

// CodeRefusal is why card c cannot be named in a payment code that user asks for at now, or
// UNSPECIFIED when it can: the card must exist, be the user's, and not be past use (USED, VOID,
// EXPIRED, or its validity over). The reasons are those a payment's Reserve would give. A card that
// may become usable within the code's life by itself or by its owner (RESERVED by a payment that
// may fail, GIFTING, SHARED, not yet valid) is let through: the payment decides. It is a check at
// issue time, not a hold: the card may still change before the payment.
func CodeRefusal(c *messages.Card, user uint64, now int64) messages.CardReason {
	switch {
	case c == nil:
		return messages.CardReason_CARD_REASON_UNKNOWN_CARD
	case c.OwnerId != user:
		return messages.CardReason_CARD_REASON_NOT_OWNER
	case c.State == messages.CardState_CARD_STATE_USED, c.State == messages.CardState_CARD_STATE_VOID,
		c.State == messages.CardState_CARD_STATE_EXPIRED:
		return messages.CardReason_CARD_REASON_NOT_AVAILABLE
	case now >= c.ValidUntil:
		return messages.CardReason_CARD_REASON_EXPIRED
	}
	return messages.CardReason_CARD_REASON_UNSPECIFIED
}

// reserve returns c held for payment with discount.
func reserve(c *messages.Card, payment string, discount int64) *messages.Card {
	n := clone(c)
	n.State, n.Payment, n.Discount = messages.CardState_CARD_STATE_RESERVED, payment, discount
	return n
}

// errNotHeld refuses a UseCard from a payment that does not hold the card: a late or repeated
// message (a network's), which changes nothing.
var errNotHeld = fmt.Errorf("%w: the card is not held by this payment", actors.ErrCardNotUsable)

// use returns c used by payment, or nil when c is already used by it. Only the payment that
// reserved the card can use it.
func use(c *messages.Card, payment string) (*messages.Card, error) {
	switch {
	case c != nil && c.State == messages.CardState_CARD_STATE_USED && c.Payment == payment:
		return nil, nil
	case c == nil || c.State != messages.CardState_CARD_STATE_RESERVED || c.Payment != payment:
		return nil, errNotHeld
	}
	n := clone(c)
	n.State = messages.CardState_CARD_STATE_USED
	return n, nil
}

// releasedMax bounds the payments a card remembers having released (Card.Released).
const releasedMax = 8

// withReleased returns n remembering payment among the last releasedMax that released it.
func withReleased(n *messages.Card, payment string) *messages.Card {
	if len(n.Released) >= releasedMax {
		n.Released = append(n.Released[:0:0], n.Released[len(n.Released)-releasedMax+1:]...)
	}
	n.Released = append(n.Released, payment)
	return n
}

// release returns c back from payment (failed or refunded): AVAILABLE if still valid at now, else
// EXPIRED. It returns nil when payment does not hold the card (already released: idempotent).
//
// Either way the card remembers that payment released it: a ReserveCard of it arriving later (a
// resend, or one the network delayed past this release) is refused.
func release(c *messages.Card, payment string, now int64) *messages.Card {
	if c == nil || payment == "" {
		return nil
	}
	if c.Payment != payment || (c.State != messages.CardState_CARD_STATE_RESERVED && c.State != messages.CardState_CARD_STATE_USED) {
		if slices.Contains(c.Released, payment) {
			return nil
		}
		return withReleased(clone(c), payment)
	}
	n := withReleased(clone(c), payment)
	n.State, n.Payment, n.Discount = messages.CardState_CARD_STATE_AVAILABLE, "", 0
	if now >= c.ValidUntil {
		n.State = messages.CardState_CARD_STATE_EXPIRED
	}
	return n
}

// decideExpire moves an AVAILABLE card past its validity to EXPIRED.
func decideExpire(c *messages.Card, now int64) (*messages.Card, error) {
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

// decideVoid withdraws an AVAILABLE card; only the template's merchant may.
func decideVoid(c *messages.Card, merchant uint64) (*messages.Card, error) {
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
