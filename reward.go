package kaquan

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/actors/card"
	"github.com/kaquan/kaquan/actors/pool"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
	"google.golang.org/protobuf/proto"
)

// RewardState is where a sharer's reward is: pending (its cards being claimed), granted, or out of
// stock (the reward template ran out: recorded, not retried).
type RewardState = messages.RewardState

// The reward states.
const (
	RewardPending    = messages.RewardState_REWARD_STATE_PENDING
	RewardGranted    = messages.RewardState_REWARD_STATE_GRANTED
	RewardOutOfStock = messages.RewardState_REWARD_STATE_OUT_OF_STOCK
)

// UseNotification is a merchant server's report that a shared card was used outside the engine.
type UseNotification struct {
	ID             string // the merchant's id of this notification: 1..64 bytes, no control characters or /
	CardCode       string
	Merchant       uint64
	Time           int64  // unix seconds; accepted within 5 minutes of the engine's clock
	RewardTemplate uint64 // 0: the card's template names the reward
	Signature      string // hex HMAC-SHA256 of Signed() under the merchant's secret
}

// Signed is the text a notification's signature covers.
func (n UseNotification) Signed() string {
	return fmt.Sprintf("kaquan-use-v1\n%s\n%s\n%d\n%d\n%d", n.ID, n.CardCode, n.Merchant, n.Time, n.RewardTemplate)
}

// Sign returns the signature of n under secret (for merchants' servers and tests).
func (n UseNotification) Sign(secret []byte) string { return hex.EncodeToString(n.mac(secret)) }

func (n UseNotification) mac(secret []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(n.Signed()))
	return m.Sum(nil)
}

// ConfirmUse takes a merchant's signed notification that a card from a pool was used: the card
// becomes USED and its sharer is rewarded, once per use. It returns the settled reward (nil when
// the card's template names none). A repeat of an accepted notification returns the same reward
// with ErrDuplicateNotification.
func (e *Engine) ConfirmUse(ctx context.Context, n UseNotification) (*messages.Reward, error) {
	if err := e.singleNode("rewards"); err != nil {
		return nil, err
	}
	if n.ID == "" || len(n.ID) > actors.NotificationIDBytesMax || strings.Contains(n.ID, "/") {
		return nil, fmt.Errorf("%w: notification id must be 1..%d bytes without /", ErrInvalidArgument, actors.NotificationIDBytesMax)
	}
	if err := actors.CheckText("notification id", n.ID, ""); err != nil {
		return nil, err // stored in the reward's use id and answered by Rewards
	}
	end, err := e.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	m, err := e.partyOfKind(ctx, n.Merchant, PartyMerchant)
	if err != nil {
		return nil, err
	}
	sig, err := hex.DecodeString(n.Signature)
	if err != nil || len(m.NotifySecret) == 0 || !hmac.Equal(sig, n.mac(m.NotifySecret)) {
		return nil, fmt.Errorf("%w: notification %q of merchant %d", ErrBadSignature, n.ID, n.Merchant)
	}
	now := e.now()
	// Compared in seconds: n.Time is the sender's and may be anything; in nanoseconds it could wrap.
	nowS, windowS := now/int64(time.Second), int64(actors.NotificationWindow/time.Second)
	if n.Time < nowS-windowS || n.Time > nowS+windowS {
		return nil, fmt.Errorf("%w: sent at %d s, the engine's clock is at %d s", ErrStaleNotification, n.Time, nowS)
	}
	if n.RewardTemplate != 0 {
		if err := e.checkRewardTemplate(ctx, n.RewardTemplate, n.Merchant); err != nil {
			return nil, err
		}
	}
	c, err := e.CardByCode(ctx, n.CardCode)
	if err != nil {
		return nil, err
	}
	if c.SharedBy == 0 {
		return nil, fmt.Errorf("%w: card %d did not come from a pool", ErrNotShared, c.Id)
	}
	useID := fmt.Sprintf("ntf:%d:%s", n.Merchant, n.ID)
	// The card answers the reward its use earned, nil when the use was confirmed before.
	earned, err := ask[*messages.Reward](ctx, e, actors.CardID(c.Id), card.ExternalUse{Merchant: n.Merchant, UseID: useID, RewardTemplate: n.RewardTemplate, Now: now})
	if err != nil {
		return nil, err
	}
	reward, err := ask[*messages.Reward](ctx, e, actors.PoolID(c.SharedBy), pool.GetReward{UseID: useID})
	if err != nil {
		return nil, err
	}
	if earned == nil {
		return reward, fmt.Errorf("%w: notification %q of merchant %d", ErrDuplicateNotification, n.ID, n.Merchant)
	}
	return reward, nil
}

// RewardsMax bounds one page of a sharer's rewards.
const RewardsMax = 100

// Rewards lists what a sharer's shared cards earned, each with the use that earned it, in use-id
// order after `after` ("" from the start), at most RewardsMax.
func (e *Engine) Rewards(ctx context.Context, sharer uint64, after string) ([]*messages.Reward, error) {
	if err := e.singleNode("rewards"); err != nil {
		return nil, err
	}
	end, err := e.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	var rs []*messages.Reward
	start := persistence.RewardPrefix(sharer)
	if after != "" {
		start = append(persistence.RewardKey(sharer, after), 0)
	}
	err = e.store.View(func(snap *persistence.Snapshot) error {
		return snap.ScanFrom(persistence.RewardPrefix(sharer), start, func(k, v []byte) (bool, error) {
			r := &messages.Reward{}
			if err := proto.Unmarshal(v, r); err != nil {
				return false, fmt.Errorf("reward %x: %w", k, err)
			}
			rs = append(rs, r)
			return len(rs) < RewardsMax, nil
		})
	})
	return rs, err
}

// recoverRewards settles every reward a stop left pending (a crash, or a Close while a reward was
// being settled): its cards are claimed under keys that make each claim happen once.
func (e *Engine) recoverRewards() error {
	var pending []*messages.Reward
	err := e.store.Scan([]byte{persistence.PrefixReward}, false, func(k, v []byte) (bool, error) {
		r := &messages.Reward{}
		if err := proto.Unmarshal(v, r); err != nil {
			return false, fmt.Errorf("reward %x: %w", k, err)
		}
		if r.State == messages.RewardState_REWARD_STATE_PENDING {
			pending = append(pending, r)
		}
		return true, nil
	})
	if err != nil || len(pending) == 0 {
		return err
	}
	e.opts.Logger.Info("settling pending rewards", "count", len(pending))
	for _, r := range pending {
		if _, err := e.call(context.Background(), actors.PoolID(r.Sharer), pool.Resume{Reward: r}); err != nil {
			return fmt.Errorf("reward %s: %w", r.UseId, err)
		}
	}
	return nil
}
