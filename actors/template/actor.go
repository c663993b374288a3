package template

import (
	"errors"
	"fmt"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
	"google.golang.org/protobuf/proto"
)

// claimCacheMax bounds the per-user claim counts a template keeps in memory.
const claimCacheMax = 100_000

// Get replies *messages.Template (a query; Create and Claim, the commands, are in state.go).
type Get struct{}

type behavior struct{ s *State }

func (b *behavior) Busy() bool { return false }

// Absent reports that the template does not exist (see actors.Absenter).
func (b *behavior) Absent() bool { return b.s.Template == nil }

func (b *behavior) Receive(c *actors.Context, msg any) {
	if m, ok := msg.(*messages.ClaimReward); ok {
		b.handleClaimReward(c, m)
		return
	}
	call, ok := msg.(*actors.Call)
	if !ok {
		return
	}
	switch m := call.Msg.(type) {
	case Create:
		b.handleCreate(c, call, m)
	case Claim:
		b.handleClaim(c, call, m)
	case Get:
		if b.s.Template == nil {
			call.Respond(nil, fmt.Errorf("%w: template %d", actors.ErrUnknownEntity, c.ID().Num))
			return
		}
		snap := proto.Clone(b.s.Template)
		c.AfterDurable(func(err error) { call.Respond(snap, err) })
	default:
		call.Respond(nil, fmt.Errorf("%w: template cannot handle %T", actors.ErrInvalidArgument, m))
	}
}

func (b *behavior) handleCreate(c *actors.Context, call *actors.Call, m Create) {
	if m.Template.GetId() != c.ID().Num {
		call.Respond(nil, fmt.Errorf("%w: template id", actors.ErrInvalidArgument))
		return
	}
	ch, err := Decide(b.s, m, m.Now)
	if err != nil {
		call.Respond(nil, err)
		return
	}
	if ch.IsZero() {
		snap := proto.Clone(b.s.Template)
		c.AfterDurable(func(err error) { call.Respond(snap, err) })
		return
	}
	Apply(b.s, ch)
	snap := proto.Clone(ch.Template)
	c.Persist(entries(b.s, ch), func(err error) { call.Respond(snap, err) })
}

func (b *behavior) handleClaim(c *actors.Context, call *actors.Call, m Claim) {
	if !SoldOut(b.s.Template) { // a flash sale's many late claimers cost no store read each
		if err := b.loadClaimed(c, m.User); err != nil {
			call.Respond(nil, err)
			return
		}
	}
	ch, err := Decide(b.s, m, m.Now)
	if err != nil {
		call.Respond(nil, err)
		return
	}
	Apply(b.s, ch)
	card := ch.Card
	c.Persist(entries(b.s, ch), func(err error) { call.Respond(card, err) })
}

// loadClaimed puts into the state how many cards user claimed from this template, read from the
// store unless cached (a count not in the store is zero, and is not cached).
func (b *behavior) loadClaimed(c *actors.Context, user uint64) error {
	if _, ok := b.s.Claimed[user]; ok || b.s.Template == nil {
		return nil
	}
	if len(b.s.Claimed) >= claimCacheMax {
		// Everything cached is on disk once our writes are: the store can answer from now on.
		if err := c.WaitDurable(); err != nil {
			return err
		}
		clear(b.s.Claimed)
	}
	v, err := c.Host().Store.Get(persistence.ClaimCountKey(b.s.Template.Id, user))
	if errors.Is(err, persistence.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	b.s.Claimed[user] = claimCount(v)
	return nil
}

// handleClaimReward issues a reward card to m.User, once per m.Key however often it is asked (a
// pool retries after a crash). Rewards draw on the stock but not on the user's claim limit.
func (b *behavior) handleClaimReward(c *actors.Context, m *messages.ClaimReward) {
	if id, ok, err := b.rewardCard(c, m.Key); err != nil || ok {
		if err != nil {
			c.Host().Fatal(fmt.Errorf("reward claim %q: %w", m.Key, err))
			return
		}
		c.Respond(&messages.RewardClaimed{CardId: id, Key: m.Key})
		return
	}
	if b.s.Template == nil {
		c.Respond(&messages.RewardClaimed{UnknownTemplate: true, Key: m.Key})
		return
	}
	ch, err := Decide(b.s, ClaimReward{User: m.User, Key: m.Key, Code: m.Code}, m.Now)
	if err != nil { // stock exhausted, or a fixed validity range over: nothing left to give
		c.Respond(&messages.RewardClaimed{StockExhausted: true, Key: m.Key})
		return
	}
	if len(b.s.Rewards) >= claimCacheMax {
		if err := c.WaitDurable(); err != nil { // then the store answers for what is forgotten
			return
		}
		clear(b.s.Rewards)
	}
	Apply(b.s, ch)
	c.Persist(entries(b.s, ch), nil)
	c.Respond(&messages.RewardClaimed{CardId: ch.Card.Id, Key: m.Key})
}

// rewardCard finds the card a reward key already obtained: in memory for this activation, else in
// the store (every earlier activation's writes are durable before this one loaded).
func (b *behavior) rewardCard(c *actors.Context, key string) (uint64, bool, error) {
	if id, ok := b.s.Rewards[key]; ok {
		return id, true, nil
	}
	if b.s.Template == nil {
		return 0, false, nil
	}
	v, err := c.Host().Store.Get(persistence.RewardClaimKey(b.s.Template.Id, key))
	if errors.Is(err, persistence.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	id, ok := persistence.ParseUint64(v)
	actors.Invariant(ok, "reward claim index holds a card id")
	b.s.Rewards[key] = id
	return id, true, nil
}
