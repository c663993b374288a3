package card

// Record layout: what a change writes (the card, the indexes that follow it, a gift's library
// entry and image, a pending reward), and how Load reads the card back.

import (
	"errors"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
	"google.golang.org/protobuf/proto"
)

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
	return &behavior{s: State{Card: c}}, nil
}

// entries are the records change ch writes: the card and its indexes, the header of a new image
// (if any; its chunks are written before, see imageChunks), the gift's library entry and the
// pending reward.
func entries(ch Change, image *NewImage) []persistence.Entry {
	es := changeEntries(ch.Prev, ch.Card)
	if image != nil {
		es = append(es, imageHeader(image))
	}
	if ch.Gift != nil {
		es = append(es, giftEntry(ch.Gift))
	}
	if ch.Reward != nil {
		es = append(es, rewardEntry(ch.Reward))
	}
	return es
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

// rewardEntry records reward as pending with the use that earned it.
func rewardEntry(reward *messages.Reward) persistence.Entry {
	v, err := proto.Marshal(reward)
	actors.Invariant(err == nil, "reward marshals")
	return persistence.Entry{Key: persistence.RewardKey(reward.Sharer, reward.UseId), Value: v}
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

// imageChunkEntry is chunk i of image id: each its own write, ahead of the header.
func imageChunkEntry(id string, i int, chunk []byte) persistence.Entry {
	return persistence.Entry{Key: persistence.ImageChunkKey(id, uint32(i)), Value: chunk}
}
