package template

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
	"google.golang.org/protobuf/proto"
)

// claimCacheMax bounds the per-user claim counts a template keeps in memory.
const claimCacheMax = 100_000

// Requests from the embedding API (sent as actors.Call).
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
	// Get replies *messages.Template.
	Get struct{}
)

type behavior struct {
	t       *messages.Template
	claimed map[uint64]uint32 // users' claim counts, authoritative over the store while cached
	rewards map[string]uint64 // reward claim keys granted since activation, and their cards
}

// Load activates template id from the store.
func Load(id actors.ID, h *actors.Host) (actors.Behavior, error) {
	b := &behavior{claimed: make(map[uint64]uint32), rewards: make(map[string]uint64)}
	t := &messages.Template{}
	err := h.Store.GetProto(persistence.TemplateKey(id.Num), t)
	if errors.Is(err, persistence.ErrNotFound) {
		return b, nil
	}
	if err != nil {
		return nil, err
	}
	b.t = t
	return b, nil
}

func (b *behavior) Busy() bool { return false }

// Absent reports that the template does not exist (see actors.Absenter).
func (b *behavior) Absent() bool { return b.t == nil }

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
		if b.t == nil {
			call.Respond(nil, fmt.Errorf("%w: template %d", actors.ErrUnknownEntity, c.ID().Num))
			return
		}
		snap := proto.Clone(b.t)
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
	t, err := DecideCreate(b.t, m.Template, m.Now)
	if err != nil {
		call.Respond(nil, err)
		return
	}
	if t == nil {
		snap := proto.Clone(b.t)
		c.AfterDurable(func(err error) { call.Respond(snap, err) })
		return
	}
	b.t = t
	snap := proto.Clone(t)
	c.Persist([]persistence.Entry{b.templateEntry()}, func(err error) { call.Respond(snap, err) })
}

func (b *behavior) handleClaim(c *actors.Context, call *actors.Call, m Claim) {
	var claimed uint32
	if !SoldOut(b.t) { // a flash sale's many late claimers cost no store read each
		var err error
		if claimed, err = b.claimedBy(c, m.User); err != nil {
			call.Respond(nil, err)
			return
		}
	}
	card, err := DecideClaim(b.t, claimed, m.User, m.Code, m.Now)
	if err != nil {
		call.Respond(nil, err)
		return
	}
	ApplyClaim(b.t, card)
	b.claimed[m.User] = claimed + 1
	cv, err := proto.Marshal(card)
	actors.Invariant(err == nil, "card marshals")
	c.Persist([]persistence.Entry{
		b.templateEntry(),
		{Key: persistence.ClaimCountKey(b.t.Id, m.User), Value: binary.BigEndian.AppendUint32(nil, claimed+1)},
		{Key: persistence.CardKey(card.Id), Value: cv},
		{Key: persistence.CardCodeKey(card.Code), Value: persistence.Uint64(card.Id)},
		{Key: persistence.WalletKey(m.User, card.Id)},
	}, func(err error) { call.Respond(card, err) })
}

// claimedBy returns how many cards user claimed from this template.
func (b *behavior) claimedBy(c *actors.Context, user uint64) (uint32, error) {
	if n, ok := b.claimed[user]; ok {
		return n, nil
	}
	if b.t == nil {
		return 0, nil
	}
	if len(b.claimed) >= claimCacheMax {
		// Everything cached is on disk once our writes are: the store can answer from now on.
		if err := c.WaitDurable(); err != nil {
			return 0, err
		}
		clear(b.claimed)
	}
	v, err := c.Host().Store.Get(persistence.ClaimCountKey(b.t.Id, user))
	if errors.Is(err, persistence.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	actors.Invariant(len(v) == 4, "claim count is a uint32")
	n := binary.BigEndian.Uint32(v)
	b.claimed[user] = n
	return n, nil
}

func (b *behavior) templateEntry() persistence.Entry {
	v, err := proto.Marshal(b.t)
	actors.Invariant(err == nil, "template marshals")
	return persistence.Entry{Key: persistence.TemplateKey(b.t.Id), Value: v}
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
	if b.t == nil {
		c.Respond(&messages.RewardClaimed{UnknownTemplate: true, Key: m.Key})
		return
	}
	card, err := DecideClaim(b.t, 0, m.User, m.Code, m.Now)
	if err != nil { // stock exhausted, or a fixed validity range over: nothing left to give
		c.Respond(&messages.RewardClaimed{StockExhausted: true, Key: m.Key})
		return
	}
	ApplyClaim(b.t, card)
	if len(b.rewards) >= claimCacheMax {
		if err := c.WaitDurable(); err != nil { // then the store answers for what is forgotten
			return
		}
		clear(b.rewards)
	}
	b.rewards[m.Key] = card.Id
	cv, err := proto.Marshal(card)
	actors.Invariant(err == nil, "card marshals")
	c.Persist([]persistence.Entry{
		b.templateEntry(),
		{Key: persistence.CardKey(card.Id), Value: cv},
		{Key: persistence.CardCodeKey(card.Code), Value: persistence.Uint64(card.Id)},
		{Key: persistence.WalletKey(m.User, card.Id)},
		{Key: persistence.RewardClaimKey(b.t.Id, m.Key), Value: persistence.Uint64(card.Id)},
	}, nil)
	c.Respond(&messages.RewardClaimed{CardId: card.Id, Key: m.Key})
}

// rewardCard finds the card a reward key already obtained: in memory for this activation, else in
// the store (every earlier activation's writes are durable before this one loaded).
func (b *behavior) rewardCard(c *actors.Context, key string) (uint64, bool, error) {
	if id, ok := b.rewards[key]; ok {
		return id, true, nil
	}
	if b.t == nil {
		return 0, false, nil
	}
	v, err := c.Host().Store.Get(persistence.RewardClaimKey(b.t.Id, key))
	if errors.Is(err, persistence.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	id, ok := persistence.ParseUint64(v)
	actors.Invariant(ok, "reward claim index holds a card id")
	b.rewards[key] = id
	return id, true, nil
}
