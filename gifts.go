package kaquan

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path/filepath"
	"time"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/actors/card"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
	"google.golang.org/protobuf/proto"
)

// Gift asks to give a card to another user.
type Gift struct {
	From, To uint64 // users: the card's owner and the receiver
	Card     uint64
	// Offer makes the receiver accept or decline; without an answer within OfferTTL (0: the
	// template's setting, else 24 h) the card returns to the giver. Otherwise ownership moves at once.
	Offer    bool
	OfferTTL time.Duration
	Image    []byte // optional greeting image: PNG, JPEG, GIF or WebP, at most 2 MiB and 4096 px a side
	Message  string // optional, at most 280 characters
}

// Gift gives a card to another user (or offers it). A direct gift returns the card with its new
// owner and new code: the old code stops working at once. An offer returns the card GIFTING.
// The image is stored once per distinct content and recorded in the card's library.
func (e *Engine) Gift(ctx context.Context, req Gift) (*messages.Card, error) {
	if req.From == 0 || req.To == 0 || req.Card == 0 {
		return nil, fmt.Errorf("%w: gift needs a giver, a receiver and a card", ErrInvalidArgument)
	}
	if req.From == req.To {
		return nil, fmt.Errorf("%w: a gift to yourself", ErrInvalidArgument)
	}
	if err := card.CheckGiftMessage(req.Message); err != nil {
		return nil, err
	}
	end, err := e.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	if err := e.checkKind(req.To, messages.PartyKind_PARTY_KIND_USER); err != nil {
		return nil, fmt.Errorf("receiver: %w", err)
	}
	mode := messages.GiftMode_GIFT_MODE_DIRECT
	if req.Offer {
		mode = messages.GiftMode_GIFT_MODE_OFFER
	}
	g := card.Gift{From: req.From, To: req.To, Mode: mode, NewCode: cardCode(),
		Message: req.Message, OfferTTL: req.OfferTTL, Now: e.now()}
	// A new image is decoded only for a gift that can happen (the card decides again, for real).
	possible := func() error {
		c, err := e.Card(ctx, req.Card)
		if err == nil {
			_, _, err = card.DecideGift(c, g)
		}
		return err
	}
	imageID, upload, err := e.giftImage(ctx, req.Image, possible)
	if err != nil {
		return nil, err
	}
	g.ImageID = imageID
	r, err := e.call(ctx, actors.CardID(req.Card), card.GiveCard{Gift: g, Image: upload})
	if err != nil {
		return nil, err
	}
	return r.(*messages.Card), nil
}

// imageChecksMax bounds the new gift images decoded at once: a decoded picture may hold up to
// 128 MiB of pixels (4096 x 4096 at 16 bits a channel) from a 140 KB file.
const imageChecksMax = 2

// giftImage checks a gift's image. Bytes already stored were checked when first stored, so only
// their id is passed on; new bytes are decoded in full, once possible says the gift can happen,
// and travel with the gift to be stored.
func (e *Engine) giftImage(ctx context.Context, data []byte, possible func() error) (string, *card.NewImage, error) {
	if len(data) == 0 {
		return "", nil, nil
	}
	if len(data) > card.ImageBytesMax {
		return "", nil, fmt.Errorf("%w: %d bytes, at most %d", ErrImageTooLarge, len(data), card.ImageBytesMax)
	}
	id := card.ImageID(data)
	known, err := e.store.Has(persistence.ImageKey(id))
	if err != nil || known {
		return id, nil, err
	}
	if err := possible(); err != nil {
		return "", nil, err
	}
	select {
	case e.imageChecks <- struct{}{}:
	case <-ctx.Done():
		return "", nil, ctx.Err()
	}
	img, err := func() (card.Image, error) {
		defer func() { <-e.imageChecks }() // also if a decoder panics
		return e.checkImage(data)
	}()
	if err != nil {
		return "", nil, err
	}
	return id, &card.NewImage{Image: img, Data: data}, nil
}

// AcceptGift takes a card offered to user; it becomes theirs with a new code.
func (e *Engine) AcceptGift(ctx context.Context, user, cardID uint64) (*messages.Card, error) {
	r, err := e.call(ctx, actors.CardID(cardID), card.AcceptGift{User: user, NewCode: cardCode(), Now: e.now()})
	if err != nil {
		return nil, err
	}
	return r.(*messages.Card), nil
}

// DeclineGift ends an offer: the receiver declines it or the giver withdraws it. The card returns
// to the giver.
func (e *Engine) DeclineGift(ctx context.Context, user, cardID uint64) (*messages.Card, error) {
	r, err := e.call(ctx, actors.CardID(cardID), card.DeclineGift{User: user, Now: e.now()})
	if err != nil {
		return nil, err
	}
	return r.(*messages.Card), nil
}

// GiftLibraryMax bounds one page of a card's gift library.
const GiftLibraryMax = 1000

// GiftLibrary lists a card's transfers in order, those after seq `after` (0: from the first), at
// most GiftLibraryMax: who gave it to whom, when, with which image and message.
func (e *Engine) GiftLibrary(ctx context.Context, cardID uint64, after uint32) ([]*messages.GiftRecord, error) {
	end, err := e.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	if after == math.MaxUint32 { // nothing follows the last seq (after+1 would wrap to the first)
		return nil, nil
	}
	var recs []*messages.GiftRecord
	err = e.store.View(func(snap *persistence.Snapshot) error {
		return snap.ScanFrom(persistence.GiftPrefix(cardID), persistence.GiftKey(cardID, after+1), func(k, v []byte) (bool, error) {
			r := &messages.GiftRecord{}
			if err := proto.Unmarshal(v, r); err != nil {
				return false, fmt.Errorf("gift record %x: %w", k, err)
			}
			recs = append(recs, r)
			return len(recs) < GiftLibraryMax, nil
		})
	})
	return recs, err
}

// Image is a stored gift image.
type Image struct {
	ID            string
	ContentType   string
	Width, Height int
	Data          []byte
}

// Image reads a gift image by id.
func (e *Engine) Image(ctx context.Context, id string) (*Image, error) {
	end, err := e.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	if !card.IsImageID(id) {
		return nil, fmt.Errorf("%w: image %q", ErrUnknownEntity, id)
	}
	h := &messages.StoredImage{}
	var data []byte
	err = e.store.View(func(snap *persistence.Snapshot) error {
		if err := snap.GetProto(persistence.ImageKey(id), h); err != nil {
			if errors.Is(err, persistence.ErrNotFound) {
				return fmt.Errorf("%w: image %s", ErrUnknownEntity, id)
			}
			return err
		}
		data = make([]byte, 0, min(h.Size, card.ImageBytesMax))
		for i := range h.Chunks {
			chunk, err := snap.Get(persistence.ImageChunkKey(id, i))
			if err != nil {
				return fmt.Errorf("image %s chunk %d: %w", id, i, err)
			}
			data = append(data, chunk...)
		}
		if int64(len(data)) != h.Size {
			return fmt.Errorf("image %s: %d bytes stored, header says %d", id, len(data), h.Size)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &Image{ID: id, ContentType: h.ContentType, Width: int(h.Width), Height: int(h.Height), Data: data}, nil
}

// WalletCards lists the cards a user holds, with their state, in id order (at most WalletMax), from
// one consistent snapshot: a card being gifted appears in exactly one wallet.
func (e *Engine) WalletCards(ctx context.Context, user uint64) ([]*messages.Card, error) {
	end, err := e.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	var cards []*messages.Card
	err = e.store.View(func(snap *persistence.Snapshot) error {
		cards = cards[:0]
		return snap.Scan(persistence.WalletPrefix(user), func(k, _ []byte) (bool, error) {
			c := &messages.Card{}
			if err := snap.GetProto(persistence.CardKey(persistence.ParseID(k, 9)), c); err != nil {
				return false, fmt.Errorf("wallet card %x: %w", k, err)
			}
			cards = append(cards, c)
			return len(cards) < WalletMax, nil
		})
	})
	return cards, err
}

// ImageStats counts the distinct gift images stored and their bytes, and the data folder's size.
type ImageStats struct {
	Images      int64 // distinct images
	StoredBytes int64 // their bytes and records
	DiskBytes   int64 // the whole data folder (0 in memory)
}

// ImageStats measures what gift images take.
func (e *Engine) ImageStats(ctx context.Context) (ImageStats, error) {
	var st ImageStats
	end, err := e.begin(ctx)
	if err != nil {
		return st, err
	}
	defer end()
	err = e.store.View(func(snap *persistence.Snapshot) error {
		return snap.Scan([]byte{persistence.PrefixImage}, func(k, v []byte) (bool, error) {
			h := &messages.StoredImage{}
			if err := proto.Unmarshal(v, h); err != nil {
				return false, fmt.Errorf("image %x: %w", k, err)
			}
			st.Images++
			id := string(k[1:])
			st.StoredBytes += h.Size + int64(len(k)+len(v)) + int64(h.Chunks)*int64(len(persistence.ImageChunkKey(id, 0)))
			return true, nil
		})
	})
	st.DiskBytes = e.diskBytes()
	return st, err
}

// diskBytes sums the sizes of the files in the data folder (Badger's own figure lags by a minute).
func (e *Engine) diskBytes() int64 {
	if e.opts.Durability == persistence.DurabilityMemory {
		return 0
	}
	var n int64
	_ = filepath.WalkDir(e.dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
