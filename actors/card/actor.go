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
)

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

// change installs next as the card's state and persists it; nil means nothing changed. The card
// values are never mutated in place, so a snapshot handed out stays true to its moment.
func (b *behavior) change(c *actors.Context, next *messages.Card, done func(error)) {
	if next == nil {
		if done != nil {
			c.AfterDurable(done)
		}
		return
	}
	b.c = next
	v, err := proto.Marshal(next)
	actors.Invariant(err == nil, "card marshals")
	c.Persist([]persistence.Entry{{Key: persistence.CardKey(next.Id), Value: v}}, done)
}
