package card

// Gifting, pure: who may give a card to whom, and what the card and its library become.
//
//	AVAILABLE -> AVAILABLE, new owner and code (direct gift)
//	AVAILABLE -> GIFTING (offer) -> AVAILABLE, new owner and code (accept)
//	GIFTING   -> AVAILABLE, same owner (decline, withdrawal, time-out; EXPIRED if the card's validity ended)

import (
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/messages"
)

// Gift commands, from the embedding API (sent as actors.Call).
type (
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

// Gift is a user's request to give a card to another user.
type Gift struct {
	From, To uint64
	Mode     messages.GiftMode
	NewCode  string // the card's code for its new owner (direct gifts; offers draw one at accept)
	ImageID  string // "" for no image; the shell stores the image with the change
	Message  string
	OfferTTL time.Duration // 0: the card's own setting, else the engine default
	Now      int64
}

// CheckGiftMessage refuses a message that is not UTF-8 or longer than GiftMessageRunesMax characters.
func CheckGiftMessage(m string) error {
	if !utf8.ValidString(m) {
		return fmt.Errorf("%w: not UTF-8", actors.ErrMessageTooLong)
	}
	if n := utf8.RuneCountInString(m); n > actors.GiftMessageRunesMax {
		return fmt.Errorf("%w: %d characters, at most %d", actors.ErrMessageTooLong, n, actors.GiftMessageRunesMax)
	}
	return nil
}

// decideGift checks gift g of card c. A direct gift changes the card to its new owner, with the
// library entry of the transfer; an offer changes it to GIFTING, with no entry.
func decideGift(c *messages.Card, g Gift) (Change, error) {
	switch {
	case c == nil:
		return Change{}, fmt.Errorf("%w: card", actors.ErrUnknownEntity)
	case c.OwnerId != g.From:
		return Change{}, fmt.Errorf("%w: card %d is not yours", actors.ErrPermissionDenied, c.Id)
	case g.To == g.From:
		return Change{}, fmt.Errorf("%w: a gift to yourself", actors.ErrInvalidArgument)
	case g.To == 0:
		return Change{}, fmt.Errorf("%w: no receiver", actors.ErrInvalidArgument)
	case g.OfferTTL != 0 && (g.OfferTTL < actors.GiftOfferTTLMin || g.OfferTTL > actors.GiftOfferTTLMax):
		return Change{}, fmt.Errorf("%w: offer time-out %s outside %s..%s", actors.ErrInvalidArgument, g.OfferTTL, actors.GiftOfferTTLMin, actors.GiftOfferTTLMax)
	case !c.CanGift:
		return Change{}, fmt.Errorf("%w: template %d forbids gifting", actors.ErrGiftNotAllowed, c.TemplateId)
	case c.GiftLimit > 0 && c.GiftCount >= c.GiftLimit:
		return Change{}, fmt.Errorf("%w: card was gifted %d times, the limit", actors.ErrGiftNotAllowed, c.GiftCount)
	case c.State != messages.CardState_CARD_STATE_AVAILABLE:
		return Change{}, &actors.CardError{Reason: messages.CardReason_CARD_REASON_NOT_AVAILABLE}
	case g.Now >= c.ValidUntil:
		return Change{}, &actors.CardError{Reason: messages.CardReason_CARD_REASON_EXPIRED}
	}
	if err := CheckGiftMessage(g.Message); err != nil {
		return Change{}, err
	}
	switch g.Mode {
	case messages.GiftMode_GIFT_MODE_DIRECT:
		if g.NewCode == "" || g.NewCode == c.Code {
			return Change{}, fmt.Errorf("%w: a gift needs a fresh card code", actors.ErrInvalidArgument)
		}
		return transfer(c, g.To, g.NewCode, g.Now, g.ImageID, g.Message, g.Mode), nil
	case messages.GiftMode_GIFT_MODE_OFFER:
		ttl := g.OfferTTL
		if ttl == 0 {
			ttl = time.Duration(c.GiftOfferTtl)
		}
		if ttl == 0 {
			ttl = actors.GiftOfferTTLDefault
		}
		n := clone(c)
		n.State = messages.CardState_CARD_STATE_GIFTING
		n.Offer = &messages.GiftOffer{From: g.From, To: g.To, OfferedAt: g.Now, ExpiresAt: g.Now + int64(ttl),
			ImageId: g.ImageID, Message: g.Message}
		return Change{Prev: c, Card: n}, nil
	}
	return Change{}, fmt.Errorf("%w: gift mode %s", actors.ErrInvalidArgument, g.Mode)
}

// decideAccept checks user accepting the gift offered to them at now: the card becomes theirs with
// newCode, with the library entry. An offer past its time-out can no longer be accepted.
func decideAccept(c *messages.Card, user uint64, newCode string, now int64) (Change, error) {
	if err := pendingFor(c, user, now, false); err != nil {
		return Change{}, err
	}
	if newCode == "" || newCode == c.Code {
		return Change{}, fmt.Errorf("%w: a gift needs a fresh card code", actors.ErrInvalidArgument)
	}
	o := c.Offer
	return transfer(c, user, newCode, now, o.ImageId, o.Message, messages.GiftMode_GIFT_MODE_OFFER), nil
}

// decideDecline checks user (the receiver declining, or the giver withdrawing) ending the offer at
// now, and returns the card back with its owner.
func decideDecline(c *messages.Card, user uint64, now int64) (*messages.Card, error) {
	if err := pendingFor(c, user, now, true); err != nil {
		return nil, err
	}
	return giveBack(c, now), nil
}

// timeout returns the card back with its owner when its offer timed out at now; nil otherwise.
func timeout(c *messages.Card, now int64) *messages.Card {
	if c == nil || c.State != messages.CardState_CARD_STATE_GIFTING || now < c.Offer.GetExpiresAt() {
		return nil
	}
	return giveBack(c, now)
}

func pendingFor(c *messages.Card, user uint64, now int64, giverToo bool) error {
	switch {
	case c == nil:
		return fmt.Errorf("%w: card", actors.ErrUnknownEntity)
	case c.State != messages.CardState_CARD_STATE_GIFTING:
		return fmt.Errorf("%w: card %d is %s", actors.ErrGiftNotPending, c.Id, c.State)
	case c.Offer.GetTo() != user && !(giverToo && c.Offer.GetFrom() == user):
		return fmt.Errorf("%w: card %d is not offered to you", actors.ErrGiftNotPending, c.Id)
	case now >= c.Offer.GetExpiresAt():
		return fmt.Errorf("%w: the offer of card %d timed out", actors.ErrGiftNotPending, c.Id)
	}
	return nil
}

// transfer moves c to owner to with a new code, and records the transfer in the library.
func transfer(c *messages.Card, to uint64, code string, now int64, image, message string, mode messages.GiftMode) Change {
	n := clone(c)
	n.OwnerId, n.Code, n.State, n.Offer = to, code, messages.CardState_CARD_STATE_AVAILABLE, nil
	n.GiftCount++
	return Change{Prev: c, Card: n, Gift: &messages.GiftRecord{CardId: c.Id, Seq: n.GiftCount, From: c.OwnerId, To: to, At: now,
		ImageId: image, Message: message, Mode: mode}}
}

func giveBack(c *messages.Card, now int64) *messages.Card {
	n := clone(c)
	n.State, n.Offer = messages.CardState_CARD_STATE_AVAILABLE, nil
	if now >= c.ValidUntil {
		n.State = messages.CardState_CARD_STATE_EXPIRED
	}
	return n
}

// IsImageID reports whether id has the form of an image id: 64 lowercase hex digits.
func IsImageID(id string) bool {
	if len(id) != 64 {
		return false
	}
	for i := range len(id) {
		if c := id[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
