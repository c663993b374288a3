package pool

import (
	"fmt"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
	"google.golang.org/protobuf/proto"
)

// Queries and requests of the embedding API (sent as actors.Call) besides the commands in state.go.
type (
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
)

// rewardsInFlightMax bounds the rewards one pool settles at once; more wait in the store (PENDING)
// for the next start-up.
const rewardsInFlightMax = 10_000

type behavior struct {
	s       *State
	calls   map[uint64]*actors.Call    // card -> the call its request answers
	rewards map[string]*rewardInFlight // use id -> reward being settled
}

type rewardInFlight struct {
	r       *messages.Reward
	waiters []*actors.Call
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
	switch m := call.Msg.(type) {
	case Share:
		b.request(c, call, m, m.Now)
	case Unshare:
		b.request(c, call, m, m.Now)
	case Claim:
		if err := b.loadContact(c, m.Claimer); err != nil {
			call.Respond(nil, err)
			return
		}
		b.request(c, call, m, m.Now)
	case GetReward:
		b.getReward(c, call, m.UseID)
	case List:
		call.Respond(Page(b.s, m.Cursor, m.Limit), nil) // the pool in memory is durable
	case ContactChanged:
		ch, _ := Decide(b.s, m, 0) // never refused, whatever the time
		Apply(b.s, ch)
		call.Respond(nil, nil)
	case Resume:
		b.settle(c, m.Reward, call)
	default:
		call.Respond(nil, fmt.Errorf("%w: pool cannot handle %T", actors.ErrInvalidArgument, m))
	}
}

// loadContact puts into the state whether user is the owner's contact, read from the store unless
// known: contact changes are told to both pools.
func (b *behavior) loadContact(c *actors.Context, user uint64) error {
	if _, ok := b.s.Contacts[user]; ok {
		return nil
	}
	on, err := c.Host().Store.Has(persistence.ContactKey(b.s.Owner, user))
	if err != nil {
		return err
	}
	if len(b.s.Contacts) >= contactCacheMax {
		clear(b.s.Contacts)
	}
	b.s.Contacts[user] = on
	return nil
}

// request decides a share, take-back or claim and sends its request to the card; the card's
// answer (PoolCardDone) settles the call.
func (b *behavior) request(c *actors.Context, call *actors.Call, cmd Command, now int64) {
	ch, err := Decide(b.s, cmd, now)
	if err != nil {
		call.Respond(nil, err)
		return
	}
	Apply(b.s, ch)
	b.calls[ch.Card] = call
	c.Tell(actors.CardID(ch.Card), ch.Request)
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
	ch, _ := Decide(b.s, Answer{CardID: m.done.CardId, Result: m.done.Result, Card: m.done.Card}, 0) // never refused
	Apply(b.s, ch)
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
	c.Persist([]persistence.Entry{rewardEntry(r)}, func(err error) {
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
	r, err := readReward(c.Host().Store, b.s.Owner, useID)
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
