// Package pool is a user's coupon pool: the cards they shared, visible and claimable only by their
// contacts, and the rewards their shared cards earn. state.go is the pure state machine; actor.go
// its shell, records.go what it writes. The cards themselves decide whether they may enter or leave
// a pool (card's Share and ClaimShared commands); the pool orders the requests, so the first claim
// of a card wins. Settling a reward is a small saga (Granted is its step): the pool claims reward
// cards from a template and records the reward once they are granted.
package pool

import (
	"fmt"
	"sort"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/messages"
)

// State is a pool in memory. It changes only once the card's write behind a change is durable,
// so what it holds is on disk.
type State struct {
	Owner   uint64
	Entries map[uint64]*messages.PoolEntry // cards in the pool
	Order   []*messages.PoolEntry          // the same, oldest first (listings walk it from the end)
	Busy    map[uint64]bool                // cards with a request under way at the card
	// Contacts holds whether a user is the owner's contact, as last read or told (at most
	// contactCacheMax); the shell loads a claimer's before it decides their claim.
	Contacts map[uint64]bool
}

// contactCacheMax bounds the contact answers a pool remembers (non-contacts included).
const contactCacheMax = 10_000

// NewState is an empty pool of owner.
func NewState(owner uint64) *State {
	return &State{Owner: owner, Entries: map[uint64]*messages.PoolEntry{}, Busy: map[uint64]bool{}, Contacts: map[uint64]bool{}}
}

// Command is what Decide takes: Share, Unshare, Claim, Answer or ContactChanged. A request's Now
// is the time the shell passes to Decide; Decide reads only its now argument.
type Command interface{ isCommand() }

// Commands. All but Answer are also requests of the embedding API (sent as actors.Call).
type (
	// Share puts the owner's card into the pool. Replies *messages.Card.
	Share struct {
		User, Card uint64
		Now        int64
	}
	// Unshare takes the owner's card back. Replies *messages.Card.
	Unshare struct {
		User, Card uint64
		Now        int64
	}
	// Claim gives a pool card to a contact of the owner, with a new code. Replies *messages.Card.
	Claim struct {
		Claimer, Card uint64
		NewCode       string
		Now           int64
	}
	// Answer is a card's answer to the pool's request (messages.PoolCardDone), once the card's
	// write is durable: Card is the card after the change, nil on a refusal.
	Answer struct {
		CardID uint64
		Result messages.PoolResult
		Card   *messages.Card
	}
	// ContactChanged tells the pool that User became (On) or stopped being its owner's contact,
	// once that is durable: the pool's answer to the next claim follows it. Replies nil.
	ContactChanged struct {
		User uint64
		On   bool
	}
)

func (Share) isCommand()          {}
func (Unshare) isCommand()        {}
func (Claim) isCommand()          {}
func (Answer) isCommand()         {}
func (ContactChanged) isCommand() {}

// Change is what one command does to a pool, in memory: the cards write the pool's records.
type Change struct {
	Card uint64 // the card it is about
	// Request goes to the card (a *messages.ShareCard, UnshareCard or ClaimSharedCard); the card
	// is busy until it answers.
	Request  any
	Answered bool                // the card answered: it is busy no more
	Enter    *messages.PoolEntry // the card entered the pool
	Leave    bool                // the card left the pool
	Contact  *ContactChanged     // what the pool now knows of a user
}

// Decide checks cmd against s at now and returns the change it makes; it never mutates s.
func Decide(s *State, cmd Command, now int64) (Change, error) {
	switch cmd := cmd.(type) {
	case Share:
		if err := decideShare(s, cmd.User, cmd.Card); err != nil {
			return Change{}, err
		}
		return Change{Card: cmd.Card, Request: &messages.ShareCard{Owner: s.Owner, Now: now}}, nil
	case Unshare:
		if err := decideUnshare(s, cmd.User, cmd.Card); err != nil {
			return Change{}, err
		}
		return Change{Card: cmd.Card, Request: &messages.UnshareCard{Owner: s.Owner, Now: now}}, nil
	case Claim:
		if err := decideClaim(s, cmd.Claimer, cmd.Card, s.Contacts[cmd.Claimer]); err != nil {
			return Change{}, err
		}
		return Change{Card: cmd.Card, Request: &messages.ClaimSharedCard{Claimer: cmd.Claimer, Sharer: s.Owner,
			NewCode: cmd.NewCode, Now: now}}, nil
	case Answer:
		return decideAnswer(s, cmd), nil
	case ContactChanged:
		return Change{Contact: &cmd}, nil
	}
	panic(fmt.Sprintf("pool: no command %T", cmd))
}

func decideShare(s *State, user, card uint64) error {
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

func decideUnshare(s *State, user, card uint64) error {
	if user != s.Owner {
		return fmt.Errorf("%w: pool %d is not yours", actors.ErrPermissionDenied, s.Owner)
	}
	return available(s, card)
}

// decideClaim checks claimer (isContact: a contact of the owner right now) claiming card.
func decideClaim(s *State, claimer, card uint64, isContact bool) error {
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

// decideAnswer is what the card's answer does: a share adds the card, a claim or take-back removes
// it; a refusal leaves the pool as it was.
func decideAnswer(s *State, a Answer) Change {
	ch := Change{Card: a.CardID, Answered: true}
	switch {
	case a.Result != messages.PoolResult_POOL_RESULT_OK:
	case a.Card.GetState() == messages.CardState_CARD_STATE_SHARED:
		c := a.Card
		ch.Enter = &messages.PoolEntry{CardId: a.CardID, Owner: c.OwnerId, TemplateId: c.TemplateId, SharedAt: c.SharedAt}
	default:
		ch.Leave = s.Entries[a.CardID] != nil
	}
	return ch
}

// Apply folds change ch into s. Live traffic calls it, and Load for each stored pool entry.
func Apply(s *State, ch Change) {
	if ch.Request != nil {
		s.Busy[ch.Card] = true
	}
	if ch.Answered {
		delete(s.Busy, ch.Card)
	}
	if e := ch.Enter; e != nil && s.Entries[e.CardId] == nil {
		s.Entries[e.CardId] = e
		i := s.position(e) // new shares are the newest: usually the end
		s.Order = append(s.Order, nil)
		copy(s.Order[i+1:], s.Order[i:])
		s.Order[i] = e
	}
	if e := s.Entries[ch.Card]; ch.Leave && e != nil {
		delete(s.Entries, ch.Card)
		i := s.position(e)
		s.Order = append(s.Order[:i], s.Order[i+1:]...)
	}
	if k := ch.Contact; k != nil {
		if len(s.Contacts) < contactCacheMax {
			s.Contacts[k.User] = k.On
		} else {
			delete(s.Contacts, k.User)
		}
	}
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
