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

func (b *behavior) Receive(c *actors.Context, msg any) {
	switch m := msg.(type) {
	case *messages.ReserveCard:
		b.timeout(c, m.Now)
		b.handleReserve(c, m)
	case *messages.UseCard:
		b.change(c, Use(b.c, m.Payment), nil)
		c.Respond(&messages.CardDone{})
		c.Passivate() // a used card is rarely touched again
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
	if prev.OwnerId != next.OwnerId {
		es = append(es, persistence.Entry{Key: persistence.WalletKey(prev.OwnerId, prev.Id), Delete: true},
			persistence.Entry{Key: persistence.WalletKey(next.OwnerId, next.Id)})
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
