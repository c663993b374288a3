package card

import (
	"errors"
	"fmt"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
)

// Get replies the card (*messages.Card): the query of the embedding API; its commands are in
// state.go and gift.go.
type Get struct{}

// NewImage is a checked image to store with a gift.
type NewImage struct {
	Image Image
	Data  []byte
}

type behavior struct{ s State }

func (b *behavior) Busy() bool { return false }

// Absent reports that the card does not exist (see actors.Absenter).
func (b *behavior) Absent() bool { return b.s.Card == nil }

func (b *behavior) Receive(c *actors.Context, msg any) {
	switch m := msg.(type) {
	case *messages.ReserveCard:
		b.timeout(c, m.Now)
		b.handleReserve(c, m)
	case *messages.UseCard:
		ch, err := Decide(&b.s, Use{Payment: m.Payment}, m.Now)
		if err != nil { // a late or repeated use, from a payment that no longer holds the card
			c.AnswerPayment(m.Payment, &messages.CardDone{CardId: c.ID().Num, Refused: true})
			return
		}
		b.change(c, ch, nil, nil)
		b.tellRewardDue(c, ch.Reward)
		c.AnswerPayment(m.Payment, &messages.CardDone{CardId: c.ID().Num, Used: true})
		c.Passivate() // a used card is rarely touched again
	case *messages.ShareCard:
		b.handlePool(c, Share{Owner: m.Owner}, m.Now)
	case *messages.UnshareCard:
		b.handlePool(c, Unshare{Owner: m.Owner}, m.Now)
	case *messages.ClaimSharedCard:
		b.handlePool(c, ClaimShared{Claimer: m.Claimer, Sharer: m.Sharer, NewCode: m.NewCode}, m.Now)
	case *messages.ReleaseCard:
		ch, _ := Decide(&b.s, Release{Payment: m.Payment}, m.Now) // never refused: a release is idempotent
		b.change(c, ch, nil, nil)
		c.AnswerPayment(m.Payment, &messages.CardDone{CardId: c.ID().Num})
	case *actors.Call:
		b.handleCall(c, m)
	}
}

func (b *behavior) handleReserve(c *actors.Context, m *messages.ReserveCard) {
	acceptance, ok := b.acceptance(c, m.MerchantId)
	if !ok {
		return
	}
	ch, err := Decide(&b.s, Reserve{Payment: m.Payment, Payer: m.PayerId, Merchant: m.MerchantId, Amount: m.Amount, Acceptance: acceptance}, m.Now)
	reply := &messages.CardReserved{CardId: c.ID().Num}
	if err != nil {
		var ce *actors.CardError
		actors.Invariant(errors.As(err, &ce), "a reservation is refused with a reason")
		reply.Reason = ce.Reason
	} else {
		b.change(c, ch, nil, nil)
		reply.Discount = ch.Card.Discount
	}
	// Replying before the write is durable is safe on one node: see the package doc of actors.
	c.AnswerPayment(m.Payment, reply)
}

func (b *behavior) handleCall(c *actors.Context, call *actors.Call) {
	switch m := call.Msg.(type) {
	case Get:
		if b.s.Card == nil {
			call.Respond(nil, fmt.Errorf("%w: card %d", actors.ErrUnknownEntity, c.ID().Num))
			return
		}
		b.reply(c, call, Change{})
	case Expire:
		b.carryOut(c, call, m, m.Now)
	case Void:
		b.carryOut(c, call, m, 0) // voiding does not depend on the time
	case GiveCard:
		b.timeout(c, m.Gift.Now)
		b.handleGive(c, call, m)
	case AcceptGift:
		b.timeout(c, m.Now)
		b.carryOut(c, call, m, m.Now)
	case DeclineGift:
		b.timeout(c, m.Now)
		b.carryOut(c, call, m, m.Now)
	case OfferTimeout:
		b.timeout(c, m.Now)
		b.reply(c, call, Change{})
	case ExternalUse:
		b.handleExternalUse(c, call, m)
	default:
		call.Respond(nil, fmt.Errorf("%w: card cannot handle %T", actors.ErrInvalidArgument, m))
	}
}

// carryOut decides a call's command and replies: a refusal at once, else as reply does.
func (b *behavior) carryOut(c *actors.Context, call *actors.Call, cmd Command, now int64) {
	ch, err := Decide(&b.s, cmd, now)
	if err != nil {
		call.Respond(nil, err)
		return
	}
	b.reply(c, call, ch)
}

// reply carries out change ch and answers the call with the card once durable: the card after the
// change, or as it is when nothing changed.
func (b *behavior) reply(c *actors.Context, call *actors.Call, ch Change) {
	if ch.Card == nil {
		snap := b.s.Card
		c.AfterDurable(func(err error) { call.Respond(snap, err) })
		return
	}
	next := ch.Card
	b.change(c, ch, nil, func(err error) { call.Respond(next, err) })
}

func (b *behavior) handleGive(c *actors.Context, call *actors.Call, m GiveCard) {
	ch, err := Decide(&b.s, m, m.Gift.Now)
	if err != nil {
		call.Respond(nil, err)
		return
	}
	if m.Image != nil {
		// The chunks go first, each its own write; the writer keeps submission order, so once the
		// image's header (written with the card) is durable, so are they.
		for i, chunk := range imageChunks(m.Image.Data) {
			c.Persist([]persistence.Entry{imageChunkEntry(m.Image.Image.ID, i, chunk)}, nil)
		}
	}
	next := ch.Card
	b.change(c, ch, m.Image, func(err error) { call.Respond(next, err) })
}

// acceptance reads merchant's acceptance of the card's issuer when the card needs it (see
// NeedsAcceptance); nil otherwise, or when none is recorded. A failed read stops the engine (ok
// false): the payment waiting on the answer stops with it.
func (b *behavior) acceptance(c *actors.Context, merchant uint64) (*messages.Acceptance, bool) {
	if !NeedsAcceptance(b.s.Card, merchant) {
		return nil, true
	}
	a, err := c.Host().Acceptances.Of(merchant, b.s.Card.MerchantId)
	if err != nil {
		c.Host().Fatal(fmt.Errorf("acceptance of %d by %d: %w", b.s.Card.MerchantId, merchant, err))
		return nil, false
	}
	return a, true
}

func (b *behavior) handleExternalUse(c *actors.Context, call *actors.Call, m ExternalUse) {
	a, ok := b.acceptance(c, m.Merchant)
	if !ok {
		call.Respond(nil, actors.ErrEngineStopped)
		return
	}
	m.Acceptance = a
	ch, err := Decide(&b.s, m, m.Now)
	switch {
	case err != nil:
		call.Respond(nil, err)
	case ch.Card == nil: // the same notification again
		c.AfterDurable(func(err error) { call.Respond((*messages.Reward)(nil), err) })
	default:
		reward := ch.Reward
		b.change(c, ch, nil, nil)
		b.tellRewardDue(c, reward)
		// Answered behind a barrier submitted after the pool was told: answered in the change's
		// own done, the answer could leave (the writer runs apart) before the pool was told, and a
		// caller asking the pool next found the reward pending and no settlement under way.
		c.AfterDurable(func(err error) { call.Respond(reward, err) })
	}
}

// handlePool carries out a pool's request and answers the pool; the pool answers its caller once
// this change is durable (the writer keeps submission order).
func (b *behavior) handlePool(c *actors.Context, cmd Command, now int64) {
	ch, err := Decide(&b.s, cmd, now)
	answer := &messages.PoolCardDone{CardId: c.ID().Num, Result: messages.PoolResult_POOL_RESULT_OK, Card: ch.Card}
	if err != nil {
		var refusal *PoolRefusal
		actors.Invariant(errors.As(err, &refusal), "a pool request is refused with a pool result")
		answer.Result = refusal.Result
	} else {
		b.change(c, ch, nil, nil)
	}
	c.Respond(answer)
}

// tellRewardDue tells the sharer's pool to grant reward (if any). It must come after the write of
// the pending reward is submitted: the pool's own write of the settled reward then lands after it,
// never under it. (Told first, a pool could settle and write before the card's pending record and
// be overwritten by it: a rare test failure showed a reward answered as pending.)
func (b *behavior) tellRewardDue(c *actors.Context, reward *messages.Reward) {
	if reward != nil {
		c.Tell(actors.PoolID(reward.Sharer), &messages.RewardDue{Reward: reward})
	}
}

// timeout gives the card back when its offer timed out by now, before anything else happens to it.
func (b *behavior) timeout(c *actors.Context, now int64) {
	ch, _ := Decide(&b.s, OfferTimeout{Now: now}, now) // never refused
	b.change(c, ch, nil, nil)
}

// change applies ch and persists what it writes (with image's header, if any); done (may be nil)
// runs once durable. A change of nothing writes nothing: done then runs once every earlier write
// is durable.
func (b *behavior) change(c *actors.Context, ch Change, image *NewImage, done func(error)) {
	if ch.Card == nil {
		if done != nil {
			c.AfterDurable(done)
		}
		return
	}
	Apply(&b.s, ch)
	c.Persist(entries(ch, image), done)
}
