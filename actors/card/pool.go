package card

// Sharing, pure: a card moves into its owner's coupon pool, out again (taken back or claimed by a
// contact), and a use of a claimed card earns its sharer a reward.
//
//	AVAILABLE -> SHARED (in the owner's pool) -> AVAILABLE (taken back, or claimed: new owner and code)

import (
	"fmt"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/messages"
)

// Commands from a pool (messages.ShareCard, UnshareCard, ClaimSharedCard).
type (
	// Share puts the card into its owner's pool.
	Share struct{ Owner uint64 }
	// Unshare takes the card back from its owner's pool.
	Unshare struct{ Owner uint64 }
	// ClaimShared gives the card in Sharer's pool to Claimer, with NewCode.
	ClaimShared struct {
		Claimer, Sharer uint64
		NewCode         string
	}
)

// PoolRefusal is Decide's error when the card refuses a pool's request: Result is its answer.
type PoolRefusal struct{ Result messages.PoolResult }

func (r *PoolRefusal) Error() string { return "card refuses the pool's request: " + r.Result.String() }

// poolChange is the change of a pool request's transition, or its refusal.
func poolChange(prev *messages.Card, next *messages.Card, r messages.PoolResult) (Change, error) {
	if r != messages.PoolResult_POOL_RESULT_OK {
		return Change{}, &PoolRefusal{Result: r}
	}
	return Change{Prev: prev, Card: next}, nil
}

// decideShare checks owner putting card c into their pool at now.
func decideShare(c *messages.Card, owner uint64, now int64) (*messages.Card, messages.PoolResult) {
	switch {
	case c == nil:
		return nil, messages.PoolResult_POOL_RESULT_UNKNOWN_CARD
	case c.OwnerId != owner:
		return nil, messages.PoolResult_POOL_RESULT_NOT_OWNER
	case !c.CanShare:
		return nil, messages.PoolResult_POOL_RESULT_SHARE_NOT_ALLOWED
	case c.State != messages.CardState_CARD_STATE_AVAILABLE:
		return nil, messages.PoolResult_POOL_RESULT_NOT_AVAILABLE
	case now >= c.ValidUntil:
		return nil, messages.PoolResult_POOL_RESULT_EXPIRED
	}
	n := clone(c)
	n.State, n.SharedAt = messages.CardState_CARD_STATE_SHARED, now
	return n, messages.PoolResult_POOL_RESULT_OK
}

// decideUnshare checks owner taking card c back from their pool; it comes back EXPIRED if its
// validity ended meanwhile.
func decideUnshare(c *messages.Card, owner uint64, now int64) (*messages.Card, messages.PoolResult) {
	if r := inPoolOf(c, owner); r != messages.PoolResult_POOL_RESULT_OK {
		return nil, r
	}
	n := clone(c)
	n.State, n.SharedAt = messages.CardState_CARD_STATE_AVAILABLE, 0
	if now >= c.ValidUntil {
		n.State = messages.CardState_CARD_STATE_EXPIRED
	}
	return n, messages.PoolResult_POOL_RESULT_OK
}

// decideClaimShared checks claimer taking card c from sharer's pool: it becomes the claimer's, with
// a new code, and remembers its sharer.
func decideClaimShared(c *messages.Card, claimer, sharer uint64, newCode string, now int64) (*messages.Card, messages.PoolResult) {
	if r := inPoolOf(c, sharer); r != messages.PoolResult_POOL_RESULT_OK {
		return nil, r
	}
	switch {
	case claimer == sharer || claimer == 0:
		return nil, messages.PoolResult_POOL_RESULT_NOT_OWNER
	case now >= c.ValidUntil:
		return nil, messages.PoolResult_POOL_RESULT_EXPIRED
	case newCode == "" || newCode == c.Code:
		return nil, messages.PoolResult_POOL_RESULT_UNSPECIFIED
	}
	n := clone(c)
	n.State, n.OwnerId, n.SharedBy, n.SharedAt, n.Code = messages.CardState_CARD_STATE_AVAILABLE, claimer, sharer, 0, newCode
	return n, messages.PoolResult_POOL_RESULT_OK
}

func inPoolOf(c *messages.Card, owner uint64) messages.PoolResult {
	switch {
	case c == nil:
		return messages.PoolResult_POOL_RESULT_UNKNOWN_CARD
	case c.State != messages.CardState_CARD_STATE_SHARED:
		return messages.PoolResult_POOL_RESULT_NOT_IN_POOL
	case c.OwnerId != owner:
		return messages.PoolResult_POOL_RESULT_NOT_OWNER
	}
	return messages.PoolResult_POOL_RESULT_OK
}

// decideExternalUse checks a merchant's notification that card c was used outside the engine
// (use id cmd.UseID) at now: the card must have come from a pool and be accepted by the merchant
// (listed, and for a merchant other than the issuer, its acceptance granted); it becomes USED by
// that use. A repeat of the same use returns nil and no error.
func decideExternalUse(c *messages.Card, cmd ExternalUse, now int64) (*messages.Card, error) {
	useID := cmd.UseID
	switch {
	case c == nil:
		return nil, fmt.Errorf("%w: card", actors.ErrUnknownEntity)
	case c.SharedBy == 0:
		return nil, fmt.Errorf("%w: card %d did not come from a pool", actors.ErrNotShared, c.Id)
	case c.State == messages.CardState_CARD_STATE_USED && c.Payment == useID:
		return nil, nil // the same notification again (its id names its merchant), also after a revocation
	case accepts(c, cmd.Merchant, cmd.Acceptance) != messages.CardReason_CARD_REASON_UNSPECIFIED:
		return nil, &actors.CardError{Reason: accepts(c, cmd.Merchant, cmd.Acceptance)}
	case c.State != messages.CardState_CARD_STATE_AVAILABLE:
		return nil, &actors.CardError{Reason: messages.CardReason_CARD_REASON_NOT_AVAILABLE}
	case now < c.ValidFrom:
		return nil, &actors.CardError{Reason: messages.CardReason_CARD_REASON_NOT_YET_VALID}
	case now >= c.ValidUntil:
		return nil, &actors.CardError{Reason: messages.CardReason_CARD_REASON_EXPIRED}
	}
	n := clone(c)
	n.State, n.Payment = messages.CardState_CARD_STATE_USED, useID
	return n, nil
}

// rewarded adds to use ch the reward its use (useID) earns, if any, and records the use in the
// card after it.
func rewarded(ch Change, useID string, rewardTemplate, merchant uint64, now int64) Change {
	if ch.Reward = rewardFor(ch.Card, useID, rewardTemplate, merchant, now); ch.Reward != nil {
		ch.Card.RewardUse = useID // ch.Card is new: Decide's own
	}
	return ch
}

// rewardFor is the reward a use (useID) of card c earns, PENDING until its cards are claimed; nil
// when c did not come from a pool, names no reward template, or an earlier use earned its reward
// (a refunded card used again earns nothing more). rewardTemplate, when set (a merchant's
// notification may name one), replaces the card's.
func rewardFor(c *messages.Card, useID string, rewardTemplate, merchant uint64, now int64) *messages.Reward {
	if rewardTemplate == 0 {
		rewardTemplate = c.RewardTemplate
	}
	if c.SharedBy == 0 || rewardTemplate == 0 || (c.RewardUse != "" && c.RewardUse != useID) {
		return nil
	}
	return &messages.Reward{UseId: useID, CardId: c.Id, Sharer: c.SharedBy, User: c.OwnerId, RewardTemplate: rewardTemplate,
		RewardUser: c.RewardUser, State: messages.RewardState_REWARD_STATE_PENDING, ConfirmedAt: now, Merchant: merchant}
}
