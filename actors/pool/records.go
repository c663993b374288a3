package pool

// Record layout: how Load reads a pool back, and the reward record. The pool's entries are the
// cards' to write (see card's records.go): a card writes its entry with the change that shares it.

import (
	"errors"
	"fmt"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
	"google.golang.org/protobuf/proto"
)

// Load activates the pool of user id.Num from the store: each stored entry is applied as a share.
func Load(id actors.ID, h *actors.Host) (actors.Behavior, error) {
	b := &behavior{s: NewState(id.Num), calls: map[uint64]*actors.Call{}, rewards: map[string]*rewardInFlight{}}
	err := h.Store.Scan(persistence.PoolPrefix(id.Num), false, func(k, v []byte) (bool, error) {
		e := &messages.PoolEntry{}
		if err := proto.Unmarshal(v, e); err != nil {
			return false, fmt.Errorf("pool entry %x: %w", k, err)
		}
		Apply(b.s, Change{Card: e.CardId, Enter: e})
		return true, nil
	})
	return b, err
}

// rewardEntry records reward r (pending, from the card that earned it; or settled, by the pool).
func rewardEntry(r *messages.Reward) persistence.Entry {
	v, err := proto.Marshal(r)
	actors.Invariant(err == nil, "reward marshals")
	return persistence.Entry{Key: persistence.RewardKey(r.Sharer, r.UseId), Value: v}
}

// readReward reads the reward of use useID of a card sharer shared; nil if there is none.
func readReward(store *persistence.Store, sharer uint64, useID string) (*messages.Reward, error) {
	r := &messages.Reward{}
	err := store.GetProto(persistence.RewardKey(sharer, useID), r)
	if errors.Is(err, persistence.ErrNotFound) {
		return nil, nil
	}
	return r, err
}
