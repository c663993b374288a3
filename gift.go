package kaquan

import (
	"context"
	"fmt"
	"math"
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
	Message  string // optional, at most 280 characters; no control characters but line breaks (LF)
}

// Gift gives a card to another user (or offers it). A direct gift returns the card with its new
// owner and new code: the old code stops working at once. An offer returns the card GIFTING.
// The image is stored once per distinct content and recorded in the card's library.
func (e *Engine) Gift(ctx context.Context, req Gift) (*messages.Card, error) {
	if err := e.singleNode("gifts"); err != nil {
		return nil, err
	}
	if req.From == 0 || req.To == 0 || req.Card == 0 {
		return nil, fmt.Errorf("%w: gift needs a giver, a receiver and a card", ErrInvalidArgument)
	}
	if req.From == req.To {
		return nil, fmt.Errorf("%w: a gift to yourself", ErrInvalidArgument)
	}
	if err := card.CheckGiftMessage(req.Message); err != nil {
		return nil, err
	}
	if err := actors.CheckText("gift message", req.Message, "\n"); err != nil {
		return nil, err // line breaks are a greeting's; other controls are escape sequences
	}
	end, err := e.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	if err := e.checkKind(ctx, req.To, PartyUser); err != nil {
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
			_, err = card.Decide(&card.State{Card: c}, card.GiveCard{Gift: g}, g.Now)
		}
		return err
	}
	imageID, upload, err := e.giftImage(ctx, req.Image, possible)
	if err != nil {
		return nil, err
	}
	g.ImageID = imageID
	return ask[*messages.Card](ctx, e, actors.CardID(req.Card), card.GiveCard{Gift: g, Image: upload})
}

// AcceptGift is the receiver's answer to a card offered to them.
type AcceptGift struct {
	User uint64 // the receiver
	Card uint64
}

// AcceptGift takes a card offered to the user; it becomes theirs with a new code.
func (e *Engine) AcceptGift(ctx context.Context, req AcceptGift) (*messages.Card, error) {
	if err := e.singleNode("gifts"); err != nil {
		return nil, err
	}
	return ask[*messages.Card](ctx, e, actors.CardID(req.Card), card.AcceptGift{User: req.User, NewCode: cardCode(), Now: e.now()})
}

// DeclineGift ends an offer: User is the receiver declining it or the giver withdrawing it.
type DeclineGift struct {
	User uint64
	Card uint64
}

// DeclineGift ends an offer. The card returns to the giver.
func (e *Engine) DeclineGift(ctx context.Context, req DeclineGift) (*messages.Card, error) {
	if err := e.singleNode("gifts"); err != nil {
		return nil, err
	}
	return ask[*messages.Card](ctx, e, actors.CardID(req.Card), card.DeclineGift{User: req.User, Now: e.now()})
}

// GiftLibraryMax bounds one page of a card's gift library.
const GiftLibraryMax = 1000

// GiftLibrary lists a card's transfers in order, those after seq `after` (0: from the first), at
// most GiftLibraryMax: who gave it to whom, when, with which image and message.
func (e *Engine) GiftLibrary(ctx context.Context, cardID uint64, after uint32) ([]*messages.GiftRecord, error) {
	if err := e.singleNode("gifts"); err != nil {
		return nil, err
	}
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
