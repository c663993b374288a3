// Package template is the card-template entity: a merchant's offer, its stock and per-user limits.
// state.go is the pure state machine (Decide and Apply); records.go what its changes write;
// actor.go its shell.
package template

import (
	"fmt"
	"slices"
	"time"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/messages"
	"google.golang.org/protobuf/proto"
)

const day = int64(24 * time.Hour)

// State is a template in memory. Template is nil while the template does not exist.
type State struct {
	Template *messages.Template
	// Claimed holds users' claim counts, authoritative over the store while cached: the shell
	// loads a user's count before it decides their claim.
	Claimed map[uint64]uint32
	Rewards map[string]uint64 // reward claim keys granted since activation, and their cards
}

// NewState is a template's state with empty caches; t is nil when the template does not exist.
func NewState(t *messages.Template) *State {
	return &State{Template: t, Claimed: make(map[uint64]uint32), Rewards: make(map[string]uint64)}
}

// Command is what Decide takes: Create, Claim or ClaimReward. A request's Now is the time the
// shell passes to Decide; Decide reads only its now argument.
type Command interface{ isCommand() }

// Commands. Create and Claim are also the requests of the embedding API (sent as actors.Call).
type (
	// Create creates the template. Replies *messages.Template.
	Create struct {
		Template *messages.Template
		Now      int64
	}
	// Claim issues one card to User. Replies *messages.Card.
	Claim struct {
		User uint64
		Code string
		Now  int64
	}
	// ClaimReward issues a reward card to User under Key (a pool's messages.ClaimReward); it draws
	// on the stock but not on the user's claim limit.
	ClaimReward struct {
		User uint64
		Key  string
		Code string
	}
)

func (Create) isCommand()      {}
func (Claim) isCommand()       {}
func (ClaimReward) isCommand() {}

// Change is what one command does to a template: Template is the created template, Card a card
// issued (to a user's claim, or under RewardKey). The zero Change changes nothing (an idempotent
// retry).
type Change struct {
	Template  *messages.Template
	Card      *messages.Card
	RewardKey string // the reward claim Card answers; "" for a user's claim
}

// IsZero reports whether ch changes nothing.
func (ch Change) IsZero() bool { return ch.Template == nil && ch.Card == nil }

// Decide checks cmd against s at now and returns the change it makes; it never mutates s.
func Decide(s *State, cmd Command, now int64) (Change, error) {
	switch cmd := cmd.(type) {
	case Create:
		t, err := decideCreate(s.Template, cmd.Template, now)
		return Change{Template: t}, err
	case Claim:
		c, err := decideClaim(s.Template, s.Claimed[cmd.User], cmd.User, cmd.Code, now)
		return Change{Card: c}, err
	case ClaimReward:
		c, err := decideClaim(s.Template, 0, cmd.User, cmd.Code, now)
		return Change{Card: c, RewardKey: cmd.Key}, err
	}
	panic(fmt.Sprintf("template: no command %T", cmd))
}

// Apply folds change ch into s: a created template, or an issued card counted against the stock
// (and the claimer's count, or the reward key). Live traffic calls it; Load reads the template
// record, which is the result of every change applied.
func Apply(s *State, ch Change) {
	if ch.Template != nil {
		s.Template = ch.Template
	}
	c := ch.Card
	if c == nil {
		return
	}
	t := s.Template
	actors.Invariant(c.Id == t.Id<<32|uint64(t.Issued+1), "cards are numbered in issue order")
	actors.Invariant(t.Issued < t.StockTotal, "stock never goes below zero")
	t.Issued++
	if ch.RewardKey != "" {
		if s.Rewards == nil {
			s.Rewards = make(map[string]uint64)
		}
		s.Rewards[ch.RewardKey] = c.Id
		return
	}
	if s.Claimed == nil {
		s.Claimed = make(map[uint64]uint32)
	}
	s.Claimed[c.OwnerId]++
}

// decideCreate validates template t as created at now and returns it normalised: no issued cards,
// the merchant accepting its own cards when no list is given. existing is the stored template.
func decideCreate(existing, t *messages.Template, now int64) (*messages.Template, error) {
	if err := validate(t); err != nil {
		return nil, err
	}
	n := proto.Clone(t).(*messages.Template)
	n.Issued, n.CreatedAt = 0, now
	if len(n.AcceptedMerchants) == 0 {
		n.AcceptedMerchants = []uint64{n.MerchantId}
	}
	if existing != nil {
		cmp := proto.Clone(existing).(*messages.Template)
		cmp.Issued, cmp.CreatedAt = 0, now
		if proto.Equal(cmp, n) {
			return nil, nil // idempotent retry
		}
		return nil, fmt.Errorf("%w: template %d", actors.ErrExists, t.Id)
	}
	return n, nil
}

func validate(t *messages.Template) error {
	bad := func(f string, a ...any) error {
		return fmt.Errorf("%w: template: %s", actors.ErrInvalidArgument, fmt.Sprintf(f, a...))
	}
	switch {
	case t.Id == 0 || t.Id >= 1<<32:
		return bad("id %d outside 1..2^32-1", t.Id)
	case t.MerchantId == 0:
		return bad("no merchant")
	case t.LeastCost < 0 || t.LeastCost > actors.AmountMax:
		return bad("least cost %d outside 0..%d", t.LeastCost, actors.AmountMax)
	case t.StockTotal == 0:
		return bad("stock must be at least 1")
	case t.PerUserLimit == 0:
		return bad("per-user limit must be at least 1")
	case len(t.AcceptedMerchants) > actors.AcceptedMerchantsMax:
		return bad("%d accepted merchants, at most %d", len(t.AcceptedMerchants), actors.AcceptedMerchantsMax)
	case len(t.Title) > actors.NameBytesMax:
		return bad("title longer than %d bytes", actors.NameBytesMax)
	case t.RewardTemplate >= 1<<32:
		return bad("reward template %d outside 0..2^32-1", t.RewardTemplate)
	case t.RewardUser && t.RewardTemplate == 0:
		return bad("reward_user without a reward template")
	case t.GiftLimit > actors.GiftLimitMax:
		return bad("gift limit %d above %d", t.GiftLimit, actors.GiftLimitMax)
	case t.GiftOfferTtl != 0 && (t.GiftOfferTtl < int64(actors.GiftOfferTTLMin) || t.GiftOfferTtl > int64(actors.GiftOfferTTLMax)):
		return bad("gift offer time-out %s outside %s..%s", time.Duration(t.GiftOfferTtl), actors.GiftOfferTTLMin, actors.GiftOfferTTLMax)
	}
	if err := actors.CheckText("template: title", t.Title, ""); err != nil {
		return err // shown to users and on merchants' screens: no escape sequences
	}
	switch t.Kind {
	case messages.TemplateKind_TEMPLATE_KIND_CASH:
		if t.ReduceAmount <= 0 || t.ReduceAmount > actors.AmountMax || t.DiscountBp != 0 || t.DiscountCap != 0 {
			return bad("CASH needs 1..%d to reduce and no percentage", actors.AmountMax)
		}
	case messages.TemplateKind_TEMPLATE_KIND_DISCOUNT:
		if t.DiscountBp < 1 || t.DiscountBp > actors.DiscountBasisPointsMax || t.DiscountCap < 0 || t.ReduceAmount != 0 {
			return bad("DISCOUNT needs 1..%d basis points, a cap >= 0 and no fixed reduction", actors.DiscountBasisPointsMax)
		}
	default:
		return bad("kind %s", t.Kind)
	}
	fixed := t.ValidFrom != 0 || t.ValidUntil != 0
	switch {
	case fixed && t.ValidDays != 0:
		return bad("validity is either a fixed range or a number of days, not both")
	case fixed && (t.ValidFrom < 0 || t.ValidUntil <= t.ValidFrom):
		return bad("valid range [%d, %d) is empty", t.ValidFrom, t.ValidUntil)
	case !fixed && (t.ValidDays == 0 || t.ValidDays > actors.ValidDaysMax):
		return bad("valid days %d outside 1..%d", t.ValidDays, actors.ValidDaysMax)
	}
	return nil
}

// decideClaim checks that user, who already holds claimed cards of t, may claim one more at now,
// and returns the new card with its code.
func decideClaim(t *messages.Template, claimed uint32, user uint64, code string, now int64) (*messages.Card, error) {
	switch {
	case t == nil:
		return nil, fmt.Errorf("%w: template", actors.ErrUnknownEntity)
	case t.Issued >= t.StockTotal:
		return nil, actors.ErrStockExhausted
	case claimed >= t.PerUserLimit:
		return nil, fmt.Errorf("%w: %d of %d", actors.ErrLimitReached, claimed, t.PerUserLimit)
	case t.ValidDays == 0 && now >= t.ValidUntil:
		return nil, actors.ErrTemplateExpired
	case code == "":
		return nil, fmt.Errorf("%w: empty card code", actors.ErrInvalidArgument)
	}
	from, until := t.ValidFrom, t.ValidUntil
	if t.ValidDays != 0 {
		from, until = now, now+int64(t.ValidDays)*day
	}
	return &messages.Card{
		Id: t.Id<<32 | uint64(t.Issued+1), TemplateId: t.Id, OwnerId: user, Code: code,
		State: messages.CardState_CARD_STATE_AVAILABLE, ValidFrom: from, ValidUntil: until, ClaimedAt: now,
		Kind: t.Kind, ReduceAmount: t.ReduceAmount, LeastCost: t.LeastCost, DiscountBp: t.DiscountBp,
		DiscountCap: t.DiscountCap, AcceptedMerchants: slices.Clone(t.AcceptedMerchants), MerchantId: t.MerchantId,
		CanGift: t.CanGift, CanShare: t.CanShare, GiftLimit: t.GiftLimit, GiftOfferTtl: t.GiftOfferTtl, ClaimedBy: user,
		RewardTemplate: t.RewardTemplate, RewardUser: t.RewardUser,
	}, nil
}

// SoldOut reports whether every card of t was issued: a claim is then refused whoever asks, so the
// claimer's count need not be read.
func SoldOut(t *messages.Template) bool { return t != nil && t.Issued >= t.StockTotal }
