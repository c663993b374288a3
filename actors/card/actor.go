package card

import (
	"errors"
	"fmt"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
	"google.golang.org/protobuf/proto"
)

// Requests from the embedding API (sent as actors.Call).
type (
	// Get replies the card (*messages.Card).
	Get struct{}
	// Expire moves an AVAILABLE card past its validity to EXPIRED. Replies *messages.Card.
	Expire struct{ Now int64 }
	// Void withdraws an AVAILABLE card. Replies *messages.Card.
	Void struct{ Merchant uint64 }
	// GiveCard gives the card to another user, or offers it. Image, when set, is stored first (the
	// first gift with these bytes). Replies *messages.Card.
	GiveCard struct {
		Gift  Gift
		Image *NewImage
	}
	// AcceptGift takes a card offered to User. Replies *messages.Card.
	AcceptGift struct {
		User    uint64
		NewCode string
		Now     int64
	}
	// DeclineGift ends an offer: its receiver declines or its giver withdraws. Replies *messages.Card.
	DeclineGift struct {
		User uint64
		Now  int64
	}
	// OfferTimeout returns the card to its owner if its offer timed out. Replies *messages.Card.
	OfferTimeout struct{ Now int64 }
	// ExternalUse records a merchant's (already verified) notification that the card was used
	// outside the engine. Replies the pending *messages.Reward, or nil for a repeat or no reward.
	ExternalUse struct {
		Merchant       uint64
		UseID          string
		RewardTemplate uint64
		Now            int64
	}
)

// NewImage is a checked image to store with a gift.
type NewImage struct {
	Image Image
	Data  []byte
}

type behavior struct{ c *messages.Card }

// Load activates card id from the store.
func Load(id actors.ID, h *actors.Host) (actors.Behavior, error) {
	c := &messages.Card{}
	err := h.Store.GetProto(persistence.CardKey(id.Num), c)
	if errors.Is(err, persistence.ErrNotFound) {
		return &behavior{}, nil
	}
	if err != nil {
		return nil, err
	}
	return &behavior{c: c}, nil
}

func (b *behavior) Busy() bool { return false }

// Absent reports that the card does not exist (see actors.Absenter).
func (b *behavior) Absent() bool { return b.c == nil }

func (b *behavior) Receive(c *actors.Context, msg any) {
	switch m := msg.(type) {
	case *messages.ReserveCard:
		b.timeout(c, m.Now)
		b.handleReserve(c, m)
	case *messages.UseCard:
		next := Use(b.c, m.Payment)
		var reward *messages.Reward
		if next != nil {
			reward = RewardFor(next, "pay:"+m.Payment, 0, 0, m.Now)
			rewarded(next, reward)
		}
		b.change(c, next, nil, rewardEntries(reward)...)
		b.tellRewardDue(c, reward)
		c.Respond(&messages.CardDone{})
		c.Passivate() // a used card is rarely touched again
	case *messages.ShareCard:
		next, r := DecideShare(b.c, m.Owner, m.Now)
		b.poolChange(c, next, r)
	case *messages.UnshareCard:
		next, r := DecideUnshare(b.c, m.Owner, m.Now)
		b.poolChange(c, next, r)
	case *messages.ClaimSharedCard:
		next, r := DecideClaimShared(b.c, m.Claimer, m.Sharer, m.NewCode, m.Now)
		b.poolChange(c, next, r)
	case *messages.ReleaseCard:
		b.change(c, Release(b.c, m.Payment, m.Now), nil)
		c.Respond(&messages.CardDone{})
	case *actors.Call:
		b.handleCall(c, m)
	}
}

func (b *behavior) handleReserve(c *actors.Context, m *messages.ReserveCard) {
	discount, reason := DecideReserve(b.c, m)
	if reason == messages.CardReason_CARD_REASON_UNSPECIFIED {
		b.change(c, Reserve(b.c, m.Payment, discount), nil)
	}
	// Replying before the write is durable is safe: see account.handlePost.
	c.Respond(&messages.CardReserved{Reason: reason, Discount: discount})
}

func (b *behavior) handleCall(c *actors.Context, call *actors.Call) {
	var next *messages.Card
	var err error
	switch m := call.Msg.(type) {
	case Get:
		if b.c == nil {
			err = fmt.Errorf("%w: card %d", actors.ErrUnknownEntity, c.ID().Num)
		}
	case Expire:
		next, err = DecideExpire(b.c, m.Now)
	case Void:
		next, err = DecideVoid(b.c, m.Merchant)
	case GiveCard:
		b.handleGive(c, call, m)
		return
	case AcceptGift:
		b.timeout(c, m.Now)
		var rec *messages.GiftRecord
		if next, rec, err = DecideAccept(b.c, m.User, m.NewCode, m.Now); err == nil {
			b.change(c, next, func(err error) { call.Respond(next, err) }, giftEntry(rec))
			return
		}
	case DeclineGift:
		b.timeout(c, m.Now)
		next, err = DecideDecline(b.c, m.User, m.Now)
	case OfferTimeout:
		b.timeout(c, m.Now)
	case ExternalUse:
		if next, err = DecideExternalUse(b.c, m.Merchant, m.UseID, m.Now); err == nil && next != nil {
			reward := RewardFor(next, m.UseID, m.RewardTemplate, m.Merchant, m.Now)
			rewarded(next, reward)
			b.change(c, next, func(err error) { call.Respond(reward, err) }, rewardEntries(reward)...)
			b.tellRewardDue(c, reward)
			return
		}
		if err == nil {
			c.AfterDurable(func(err error) { call.Respond((*messages.Reward)(nil), err) })
			return
		}
	default:
		err = fmt.Errorf("%w: card cannot handle %T", actors.ErrInvalidArgument, m)
	}
	if err != nil {
		call.Respond(nil, err)
		return
	}
	if next == nil {
		snap := b.c
		c.AfterDurable(func(err error) { call.Respond(snap, err) })
		return
	}
	b.change(c, next, func(err error) { call.Respond(next, err) })
}

func (b *behavior) handleGive(c *actors.Context, call *actors.Call, m GiveCard) {
	b.timeout(c, m.Gift.Now)
	next, rec, err := DecideGift(b.c, m.Gift)
	if err != nil {
		call.Respond(nil, err)
		return
	}
	var extra []persistence.Entry
	if m.Image != nil {
		// The chunks go first, each its own write; the writer keeps submission order, so once the
		// image's header (written with the card) is durable, so are they.
		for i, chunk := range imageChunks(m.Image.Data) {
			c.Persist([]persistence.Entry{{Key: persistence.ImageChunkKey(m.Image.Image.ID, uint32(i)), Value: chunk}}, nil)
		}
		extra = append(extra, imageHeader(m.Image))
	}
	if rec != nil {
		extra = append(extra, giftEntry(rec))
	}
	b.change(c, next, func(err error) { call.Respond(next, err) }, extra...)
}

// poolChange carries out a pool's request and answers the pool; the pool answers its caller once
// this change is durable (the writer keeps submission order).
func (b *behavior) poolChange(c *actors.Context, next *messages.Card, r messages.PoolResult) {
	if r == messages.PoolResult_POOL_RESULT_OK {
		b.change(c, next, nil)
	}
	id := c.ID().Num
	c.Respond(&messages.PoolCardDone{CardId: id, Result: r, Card: next})
}

// rewardEntries records reward (if any) as pending with the use that earned it.
func rewardEntries(reward *messages.Reward) []persistence.Entry {
	if reward == nil {
		return nil
	}
	v, err := proto.Marshal(reward)
	actors.Invariant(err == nil, "reward marshals")
	return []persistence.Entry{{Key: persistence.RewardKey(reward.Sharer, reward.UseId), Value: v}}
}

// rewarded records in card next the use that earned reward (if any).
func rewarded(next *messages.Card, reward *messages.Reward) {
	if reward != nil {
		next.RewardUse = reward.UseId
	}
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
	if n := Timeout(b.c, now); n != nil {
		b.change(c, n, nil)
	}
}

// change installs next as the card's state and persists it with what follows from the change
// (wallet, code index, offer time-out) and extra; nil means nothing changed. Card values are never
// mutated in place, so a snapshot handed out stays true to its moment.
func (b *behavior) change(c *actors.Context, next *messages.Card, done func(error), extra ...persistence.Entry) {
	if next == nil {
		if done != nil {
			c.AfterDurable(done)
		}
		return
	}
	prev := b.c
	b.c = next
	c.Persist(append(changeEntries(prev, next), extra...), done)
}

// changeEntries are the records a card change writes: the card, and the indexes that follow it.
func changeEntries(prev, next *messages.Card) []persistence.Entry {
	v, err := proto.Marshal(next)
	actors.Invariant(err == nil, "card marshals")
	es := []persistence.Entry{{Key: persistence.CardKey(next.Id), Value: v}}
	if prev == nil {
		return es
	}
	// A card is in its owner's wallet unless it is in their pool.
	shared := func(c *messages.Card) bool { return c.State == messages.CardState_CARD_STATE_SHARED }
	if prev.OwnerId != next.OwnerId || shared(prev) != shared(next) {
		if !shared(prev) {
			es = append(es, persistence.Entry{Key: persistence.WalletKey(prev.OwnerId, prev.Id), Delete: true})
		} else {
			es = append(es, persistence.Entry{Key: persistence.PoolEntryKey(prev.OwnerId, prev.SharedAt, prev.Id), Delete: true})
		}
		if !shared(next) {
			es = append(es, persistence.Entry{Key: persistence.WalletKey(next.OwnerId, next.Id)})
		} else {
			pv, err := proto.Marshal(&messages.PoolEntry{CardId: next.Id, Owner: next.OwnerId, TemplateId: next.TemplateId, SharedAt: next.SharedAt})
			actors.Invariant(err == nil, "pool entry marshals")
			es = append(es, persistence.Entry{Key: persistence.PoolEntryKey(next.OwnerId, next.SharedAt, next.Id), Value: pv})
		}
	}
	if prev.Code != next.Code {
		es = append(es, persistence.Entry{Key: persistence.CardCodeKey(prev.Code), Delete: true},
			persistence.Entry{Key: persistence.CardCodeKey(next.Code), Value: persistence.Uint64(next.Id)})
	}
	was, is := prev.GetOffer().GetExpiresAt(), next.GetOffer().GetExpiresAt()
	if was != is && was != 0 {
		es = append(es, persistence.Entry{Key: persistence.GiftOfferKey(was, prev.Id), Delete: true})
	}
	if was != is && is != 0 {
		es = append(es, persistence.Entry{Key: persistence.GiftOfferKey(is, next.Id)})
	}
	return es
}

func giftEntry(rec *messages.GiftRecord) persistence.Entry {
	v, err := proto.Marshal(rec)
	actors.Invariant(err == nil, "gift record marshals")
	return persistence.Entry{Key: persistence.GiftKey(rec.CardId, rec.Seq), Value: v}
}

func imageHeader(img *NewImage) persistence.Entry {
	v, err := proto.Marshal(&messages.StoredImage{ContentType: img.Image.ContentType, Width: int32(img.Image.Width),
		Height: int32(img.Image.Height), Size: int64(len(img.Data)), Chunks: uint32(len(imageChunks(img.Data)))})
	actors.Invariant(err == nil, "image header marshals")
	return persistence.Entry{Key: persistence.ImageKey(img.Image.ID), Value: v}
}

// imageChunks splits data into ImageChunkBytes pieces.
func imageChunks(data []byte) [][]byte {
	var cs [][]byte
	for len(data) > 0 {
		n := min(len(data), persistence.ImageChunkBytes)
		cs = append(cs, data[:n])
		data = data[n:]
	}
	return cs
}
