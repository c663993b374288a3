package pool

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
	// GetReward replies the *messages.Reward a use earned, once settled (nil if none).
	GetReward struct{ UseID string }
	// Resume settles a reward left pending by a crash (engine start-up). Replies *messages.Reward.
	Resume struct{ Reward *messages.Reward }
	// List replies the pool's cards after Cursor (nil: newest first), at most Limit, as
	// []*messages.PoolEntry: only durable shares, at once.
	List struct {
		Cursor *messages.PoolEntry
		Limit  int
	}
	// ContactChanged tells the pool that User became (On) or stopped being its owner's contact,
	// once that is durable: the pool's answer to the next claim follows it. Replies nil.
	ContactChanged struct {
		User uint64
		On   bool
	}
)

// contactCacheMax bounds the contact answers a pool remembers (non-contacts included).
const contactCacheMax = 10_000

// rewardsInFlightMax bounds the rewards one pool settles at once; more wait in the store (PENDING)
// for the next start-up.
const rewardsInFlightMax = 10_000

type behavior struct {
	s        *State
	contacts map[uint64]bool            // whether a user is the owner's contact, as last read or told
	calls    map[uint64]*actors.Call    // card -> the call its request answers
	rewards  map[string]*rewardInFlight // use id -> reward being settled
}

type rewardInFlight struct {
	r       *messages.Reward
	waiters []*actors.Call
}

// Load activates the pool of user id.Num from the store.
func Load(id actors.ID, h *actors.Host) (actors.Behavior, error) {
	b := &behavior{s: NewState(id.Num), contacts: map[uint64]bool{}, calls: map[uint64]*actors.Call{}, rewards: map[string]*rewardInFlight{}}
	err := h.Store.Scan(persistence.PoolPrefix(id.Num), false, func(k, v []byte) (bool, error) {
		e := &messages.PoolEntry{}
		if err := proto.Unmarshal(v, e); err != nil {
			return false, fmt.Errorf("pool entry %x: %w", k, err)
		}
		Add(b.s, e)
		return true, nil
	})
	return b, err
}

func (b *behavior) Busy() bool { return len(b.calls) > 0 || len(b.rewards) > 0 }

func (b *behavior) Receive(c *actors.Context, msg any) {
	switch m := msg.(type) {
	case *actors.Call:
		b.handleCall(c, m)
	case *messages.PoolCardDone:
		b.handleCardDone(c, m)
	case cardSettled:
		b.handleCardSettled(m)
	case *messages.RewardDue:
		b.settle(c, m.Reward, nil)
	case *messages.RewardClaimed:
		b.handleRewardClaimed(c, m)
	}
}

func (b *behavior) handleCall(c *actors.Context, call *actors.Call) {
	var err error
	switch m := call.Msg.(type) {
	case Share:
		if err = DecideShare(b.s, m.User, m.Card); err == nil {
			b.ask(c, call, m.Card, &messages.ShareCard{Owner: b.s.Owner, Now: m.Now})
		}
	case Unshare:
		if err = DecideUnshare(b.s, m.User, m.Card); err == nil {
			b.ask(c, call, m.Card, &messages.UnshareCard{Owner: b.s.Owner, Now: m.Now})
		}
	case Claim:
		var contact bool
		if contact, err = b.isContact(c, m.Claimer); err == nil {
			if err = DecideClaim(b.s, m.Claimer, m.Card, contact); err == nil {
				b.ask(c, call, m.Card, &messages.ClaimSharedCard{Claimer: m.Claimer, Sharer: b.s.Owner, NewCode: m.NewCode, Now: m.Now})
			}
		}
	case GetReward:
		b.getReward(c, call, m.UseID)
	case List:
		call.Respond(Page(b.s, m.Cursor, m.Limit), nil) // the pool in memory is durable
	case ContactChanged:
		if len(b.contacts) < contactCacheMax {
			b.contacts[m.User] = m.On
		} else {
			delete(b.contacts, m.User)
		}
		call.Respond(nil, nil)
	case Resume:
		b.settle(c, m.Reward, call)
	default:
		err = fmt.Errorf("%w: pool cannot handle %T", actors.ErrInvalidArgument, m)
	}
	if err != nil {
		call.Respond(nil, err)
	}
}

// isContact answers from memory when it can: contact changes are told to both pools.
func (b *behavior) isContact(c *actors.Context, user uint64) (bool, error) {
	if on, ok := b.contacts[user]; ok {
		return on, nil
	}
	on, err := c.Host().Store.Has(persistence.ContactKey(b.s.Owner, user))
	if err != nil {
		return false, err
	}
	if len(b.contacts) >= contactCacheMax {
		clear(b.contacts)
	}
	b.contacts[user] = on
	return on, nil
}

// ask sends a request to a card; its answer (PoolCardDone) settles the call.
func (b *behavior) ask(c *actors.Context, call *actors.Call, card uint64, msg any) {
	b.s.Busy[card] = true
	b.calls[card] = call
	c.Tell(actors.CardID(card), msg)
}

func (b *behavior) handleCardDone(c *actors.Context, m *messages.PoolCardDone) {
	if b.calls[m.CardId] == nil {
		return
	}
	self, root := c.Self(), c.Host().System.Root
	// The card's write was submitted before its answer: a barrier now covers it. The call stays in
	// b.calls (the pool cannot passivate) until the settled answer is back.
	c.AfterAllDurable(func(werr error) { root.Send(self, cardSettled{done: m, err: werr}) })
}

// cardSettled is a card's answer once its write is durable. Only then does the pool change: what
// the pool holds in memory is always on disk, so a listing answers at once, without a barrier.
type cardSettled struct {
	done *messages.PoolCardDone
	err  error // the barrier's: the engine stopped
}

func (b *behavior) handleCardSettled(m cardSettled) {
	call := b.calls[m.done.CardId]
	delete(b.calls, m.done.CardId)
	if m.err != nil {
		call.Respond(nil, m.err)
		return
	}
	Done(b.s, m.done.CardId, m.done.Result, m.done.Card)
	if err := ResultError(m.done.Result); err != nil {
		call.Respond(nil, err)
		return
	}
	call.Respond(m.done.Card, nil)
}

// settle grants a reward once: it claims the sharer's card (then the user's, if the reward includes
// one) from the reward template under keys that make every claim happen once, then records the
// reward settled. A reward already settled is never settled again.
func (b *behavior) settle(c *actors.Context, r *messages.Reward, call *actors.Call) {
	if f := b.rewards[r.GetUseId()]; f != nil {
		if call != nil {
			f.waiters = append(f.waiters, call)
		}
		return
	}
	if r.GetState() != messages.RewardState_REWARD_STATE_PENDING || len(b.rewards) >= rewardsInFlightMax {
		if call != nil {
			call.Respond(r, nil)
		}
		return
	}
	f := &rewardInFlight{r: proto.Clone(r).(*messages.Reward)}
	if call != nil {
		f.waiters = append(f.waiters, call)
	}
	b.rewards[r.UseId] = f
	b.claimReward(c, f.r, SharerKey(r.UseId), r.Sharer)
}

func (b *behavior) claimReward(c *actors.Context, r *messages.Reward, key string, user uint64) {
	c.Tell(actors.TemplateID(r.RewardTemplate), &messages.ClaimReward{User: user, Key: key,
		Code: actors.NewCardCode(), Now: c.Host().Settings.Now()})
}

func (b *behavior) handleRewardClaimed(c *actors.Context, m *messages.RewardClaimed) {
	useID, _, _ := cutLast(m.Key, '/')
	f := b.rewards[useID]
	if f == nil {
		return
	}
	if !Granted(f.r, m.Key, m.CardId, m.StockExhausted || m.UnknownTemplate, c.Host().Settings.Now()) {
		b.claimReward(c, f.r, UserKey(useID), f.r.User)
		return
	}
	delete(b.rewards, useID)
	r := f.r
	v, err := proto.Marshal(r)
	actors.Invariant(err == nil, "reward marshals")
	c.Persist([]persistence.Entry{{Key: persistence.RewardKey(r.Sharer, r.UseId), Value: v}}, func(err error) {
		for _, w := range f.waiters {
			w.Respond(r, err)
		}
	})
}

// getReward answers with the reward of a use once settled: a reward being settled answers when
// done; otherwise the store has it (after this pool's own writes land).
func (b *behavior) getReward(c *actors.Context, call *actors.Call, useID string) {
	if f := b.rewards[useID]; f != nil {
		f.waiters = append(f.waiters, call)
		return
	}
	if err := c.WaitDurable(); err != nil {
		call.Respond(nil, err)
		return
	}
	r := &messages.Reward{}
	err := c.Host().Store.GetProto(persistence.RewardKey(b.s.Owner, useID), r)
	if errors.Is(err, persistence.ErrNotFound) {
		call.Respond((*messages.Reward)(nil), nil)
		return
	}
	call.Respond(r, err)
}

func cutLast(s string, sep byte) (before, after string, ok bool) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}
