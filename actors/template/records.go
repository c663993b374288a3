package template

// Record layout: what a change writes, and how Load reads the template back.

import (
	"encoding/binary"
	"errors"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
	"google.golang.org/protobuf/proto"
)

// Load activates template id from the store.
func Load(id actors.ID, h *actors.Host) (actors.Behavior, error) {
	t := &messages.Template{}
	err := h.Store.GetProto(persistence.TemplateKey(id.Num), t)
	if errors.Is(err, persistence.ErrNotFound) {
		return &behavior{s: NewState(nil)}, nil
	}
	if err != nil {
		return nil, err
	}
	return &behavior{s: NewState(t)}, nil
}

// entries are the records change ch writes, once applied to s: the template, and for an issued
// card the card, its code and wallet indexes, and the claimer's count or the reward claim.
func entries(s *State, ch Change) []persistence.Entry {
	es := []persistence.Entry{templateEntry(s.Template)}
	c := ch.Card
	if c == nil {
		return es
	}
	cv, err := proto.Marshal(c)
	actors.Invariant(err == nil, "card marshals")
	if ch.RewardKey == "" {
		es = append(es, persistence.Entry{Key: persistence.ClaimCountKey(s.Template.Id, c.OwnerId),
			Value: binary.BigEndian.AppendUint32(nil, s.Claimed[c.OwnerId])})
	}
	es = append(es,
		persistence.Entry{Key: persistence.CardKey(c.Id), Value: cv},
		persistence.Entry{Key: persistence.CardCodeKey(c.Code), Value: persistence.Uint64(c.Id)},
		persistence.Entry{Key: persistence.WalletKey(c.OwnerId, c.Id)})
	if ch.RewardKey != "" {
		es = append(es, persistence.Entry{Key: persistence.RewardClaimKey(s.Template.Id, ch.RewardKey), Value: persistence.Uint64(c.Id)})
	}
	return es
}

func templateEntry(t *messages.Template) persistence.Entry {
	v, err := proto.Marshal(t)
	actors.Invariant(err == nil, "template marshals")
	return persistence.Entry{Key: persistence.TemplateKey(t.Id), Value: v}
}

// claimCount decodes a user's stored claim count.
func claimCount(v []byte) uint32 {
	actors.Invariant(len(v) == 4, "claim count is a uint32")
	return binary.BigEndian.Uint32(v)
}
