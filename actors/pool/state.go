// Package pool is a user's coupon pool: the cards they shared, visible and claimable only by their
// contacts, and the rewards their shared cards earn. state.go is the pure state machine; actor.go
// its shell. The cards themselves decide whether they may enter or leave a pool (card.DecideShare,
// card.DecideClaimShared); the pool orders the requests, so the first claim of a card wins.
package pool

import (
	"fmt"
	"sort"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/messages"
)

// State is a pool in memory.
type State struct {
	Owner   uint64
	Entries map[uint64]*messages.PoolEntry // cards in the pool
	Order   []*messages.PoolEntry          // the same, oldest first (listings walk it from the end)
	Busy    map[uint64]bool                // cards with a request under way at the card
}

// NewState is an empty pool of owner.
func NewState(owner uint64) *State {
	return &State{Owner: owner, Entries: map[uint64]*messages.PoolEntry{}, Busy: map[uint64]bool{}}
}

// DecideShare checks user sharing card into the pool.
func DecideShare(s *State, user, card uint64) error {
	switch {
	case user != s.Owner:
		return fmt.Errorf("%w: pool %d is not yours", actors.ErrPermissionDenied, s.Owner)
	case s.Busy[card]:
		return fmt.Errorf("%w: card %d has a request under way", actors.ErrNotInPool, card)
	case s.Entries[card] != nil:
		return fmt.Errorf("%w: card %d is already shared", actors.ErrExists, card)
	case len(s.Entries)+len(s.Busy) >= actors.PoolCardsMax:
		return fmt.Errorf("%w: %d cards", actors.ErrPoolFull, actors.PoolCardsMax)
	}
	return nil
}

// DecideUnshare checks user taking card back.
func DecideUnshare(s *State, user, card uint64) error {
	if user != s.Owner {
		return fmt.Errorf("%w: pool %d is not yours", actors.ErrPermissionDenied, s.Owner)
	}
	return available(s, card)
}

// DecideClaim checks claimer (isContact: a contact of the owner right now) claiming card.
func DecideClaim(s *State, claimer, card uint64, isContact bool) error {
	switch {
	case claimer == s.Owner:
		return fmt.Errorf("%w: claiming your own shared card (take it back instead)", actors.ErrInvalidArgument)
	case !isContact:
		return fmt.Errorf("%w of user %d", actors.ErrNotContact, s.Owner)
	}
	return available(s, card)
}

func available(s *State, card uint64) error {
	if s.Entries[card] == nil || s.Busy[card] {
		return fmt.Errorf("%w: card %d", actors.ErrNotInPool, card)
	}
	return nil
}

// Done applies the card's answer to a request for card: a share adds it, a claim or take-back
// removes it; a refusal leaves the pool as it was.
func Done(s *State, card uint64, r messages.PoolResult, c *messages.Card) {
	delete(s.Busy, card)
	if r != messages.PoolResult_POOL_RESULT_OK {
		return
	}
	if c.GetState() == messages.CardState_CARD_STATE_SHARED {
		Add(s, &messages.PoolEntry{CardId: card, Owner: c.OwnerId, TemplateId: c.TemplateId, SharedAt: c.SharedAt})
		return
	}
	if e := s.Entries[card]; e != nil {
		delete(s.Entries, card)
		i := s.position(e)
		s.Order = append(s.Order[:i], s.Order[i+1:]...)
	}
}

// Add puts entry e into the pool (a share, or loading the pool).
func Add(s *State, e *messages.PoolEntry) {
	if s.Entries[e.CardId] != nil {
		return
	}
	s.Entries[e.CardId] = e
	i := s.position(e) // new shares are the newest: usually the end
	s.Order = append(s.Order, nil)
	copy(s.Order[i+1:], s.Order[i:])
	s.Order[i] = e
}

// position is where e sits (or would sit) in Order.
func (s *State) position(e *messages.PoolEntry) int {
	return sort.Search(len(s.Order), func(i int) bool { return !After(s.Order[i], e) })
}

// ResultError is the typed error of a card's answer to a pool request.
func ResultError(r messages.PoolResult) error {
	switch r {
	case messages.PoolResult_POOL_RESULT_OK:
		return nil
	case messages.PoolResult_POOL_RESULT_UNKNOWN_CARD:
		return fmt.Errorf("%w: card", actors.ErrUnknownEntity)
	case messages.PoolResult_POOL_RESULT_NOT_OWNER:
		return fmt.Errorf("%w: not your card", actors.ErrPermissionDenied)
	case messages.PoolResult_POOL_RESULT_NOT_AVAILABLE:
		return &actors.CardError{Reason: messages.CardReason_CARD_REASON_NOT_AVAILABLE}
	case messages.PoolResult_POOL_RESULT_EXPIRED:
		return &actors.CardError{Reason: messages.CardReason_CARD_REASON_EXPIRED}
	case messages.PoolResult_POOL_RESULT_SHARE_NOT_ALLOWED:
		return fmt.Errorf("%w: the card's template forbids sharing", actors.ErrPermissionDenied)
	case messages.PoolResult_POOL_RESULT_NOT_IN_POOL:
		return actors.ErrNotInPool
	}
	return fmt.Errorf("%w: pool request refused (%s)", actors.ErrInvalidArgument, r)
}

// Granted settles reward with the card a template gave for key (0 with stockOut when it had none
// left). It returns whether the reward is settled: the user's card, if the reward includes one, is
// claimed after the sharer's.
func Granted(reward *messages.Reward, key string, card uint64, stockOut bool, now int64) (settled bool) {
	if key == SharerKey(reward.UseId) {
		reward.SharerCard = card
		if card == 0 || !reward.RewardUser {
			reward.State = messages.RewardState_REWARD_STATE_GRANTED
			if card == 0 {
				reward.State = messages.RewardState_REWARD_STATE_OUT_OF_STOCK
			}
			reward.SettledAt = now
			return true
		}
		return false
	}
	reward.UserCard, reward.UserOutOfStock = card, card == 0 && stockOut
	reward.State, reward.SettledAt = messages.RewardState_REWARD_STATE_GRANTED, now
	return true
}

// SharerKey and UserKey are the claim keys of a use's reward cards: one card each, ever.
func SharerKey(useID string) string { return useID + "/sharer" }
func UserKey(useID string) string   { return useID + "/user" }

// After reports whether a comes after b in a listing: newer first, then by owner and card.
func After(a, b *messages.PoolEntry) bool {
	if a.SharedAt != b.SharedAt {
		return a.SharedAt < b.SharedAt
	}
	if a.Owner != b.Owner {
		return a.Owner > b.Owner
	}
	return a.CardId > b.CardId
}

// Page lists at most limit cards of the pool that come after cursor (nil: from the newest). A card
// with a claim or take-back under way is left out: it is not there to be claimed (if that request
// fails, the card shows again).
func Page(s *State, cursor *messages.PoolEntry, limit int) []*messages.PoolEntry {
	end := len(s.Order)
	if cursor != nil {
		end = s.position(cursor) // everything before it comes after the cursor in the listing
	}
	var out []*messages.PoolEntry
	for i := end - 1; i >= 0 && len(out) < limit; i-- {
		if e := s.Order[i]; !s.Busy[e.CardId] {
			out = append(out, e)
		}
	}
	return out
}
