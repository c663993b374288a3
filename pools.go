package kaquan

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/actors/card"
	"github.com/kaquan/kaquan/actors/pool"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
	"google.golang.org/protobuf/proto"
)

// AddContact records that users a and b are contacts (the relation is mutual). The social graph
// lives outside the engine; the platform reports its changes.
func (e *Engine) AddContact(ctx context.Context, a, b uint64) error {
	return e.setContact(ctx, a, b, true)
}

// RemoveContact ends the contact relation of a and b: at once, neither sees the other's pool.
func (e *Engine) RemoveContact(ctx context.Context, a, b uint64) error {
	return e.setContact(ctx, a, b, false)
}

func (e *Engine) setContact(ctx context.Context, a, b uint64, on bool) error {
	if a == b {
		return fmt.Errorf("%w: a user is not their own contact", ErrInvalidArgument)
	}
	end, err := e.begin(ctx)
	if err != nil {
		return err
	}
	defer end()
	for _, u := range []uint64{a, b} {
		if err := e.checkKind(u, messages.PartyKind_PARTY_KIND_USER); err != nil {
			return err
		}
	}
	// Contact changes are administrative and rare next to payments: one at a time keeps the
	// per-user bound exact.
	e.contactsMu.Lock()
	defer e.contactsMu.Unlock()
	if on {
		for _, u := range []uint64{a, b} {
			n, err := e.countContacts(u)
			if err != nil {
				return err
			}
			if n >= actors.ContactsMax {
				return fmt.Errorf("%w: user %d has %d contacts, the most", ErrLimitReached, u, n)
			}
		}
	}
	err = e.put(persistence.Entry{Key: persistence.ContactKey(a, b), Delete: !on},
		persistence.Entry{Key: persistence.ContactKey(b, a), Delete: !on})
	e.contactsChanged() // even after a failed write: it may have landed
	if err != nil {
		return err
	}
	// Both pools answer claims from what they were told: tell them before returning, so a removed
	// contact is refused from now on.
	for _, p := range [][2]uint64{{a, b}, {b, a}} {
		if _, err := e.call(ctx, actors.PoolID(p[0]), pool.ContactChanged{User: p[1], On: on}); err != nil {
			return err
		}
	}
	return nil
}

func (e *Engine) countContacts(u uint64) (int, error) {
	n := 0
	err := e.store.Scan(persistence.ContactPrefix(u), false, func(_, _ []byte) (bool, error) { n++; return true, nil })
	return n, err
}

// Contacts lists a user's contacts in id order (at most actors.ContactsMax).
func (e *Engine) Contacts(ctx context.Context, user uint64) ([]uint64, error) {
	end, err := e.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	return e.contactsOf(user)
}

// Share puts a card the user owns into their pool: it leaves their wallet and only their contacts
// see it. The card's template must allow sharing.
func (e *Engine) Share(ctx context.Context, user, cardID uint64) (*messages.Card, error) {
	return e.poolCall(ctx, user, pool.Share{User: user, Card: cardID, Now: e.now()})
}

// Unshare takes an unclaimed card back from the user's pool into their wallet.
func (e *Engine) Unshare(ctx context.Context, user, cardID uint64) (*messages.Card, error) {
	return e.poolCall(ctx, user, pool.Unshare{User: user, Card: cardID, Now: e.now()})
}

// ClaimShared gives a card from sharer's pool to claimer, a contact of sharer: the first claim
// wins, later ones get ErrNotInPool. The card gets a new code and remembers its sharer.
func (e *Engine) ClaimShared(ctx context.Context, claimer, sharer, cardID uint64) (*messages.Card, error) {
	return e.poolCall(ctx, sharer, pool.Claim{Claimer: claimer, Card: cardID, NewCode: cardCode(), Now: e.now()})
}

func (e *Engine) poolCall(ctx context.Context, owner uint64, msg any) (*messages.Card, error) {
	if owner == 0 {
		return nil, fmt.Errorf("%w: pool of user 0", ErrUnknownEntity)
	}
	r, err := e.call(ctx, actors.PoolID(owner), msg)
	if err != nil {
		return nil, err
	}
	return r.(*messages.Card), nil
}

// contactPoolsParallel bounds the pools one listing asks at once.
const contactPoolsParallel = 32

// PoolPage is one page of the cards a user's contacts share, newest first.
type PoolPage struct {
	Cards []*messages.PoolEntry
	Next  string // pass as cursor for the next page; "" when there is none
}

// ContactPools lists the cards shared by viewer's contacts, merged, newest first, limit per page
// (1..actors.PoolPageMax). A user who is nobody's contact sees nothing.
func (e *Engine) ContactPools(ctx context.Context, viewer uint64, cursor string, limit int) (*PoolPage, error) {
	if limit < 1 || limit > actors.PoolPageMax {
		return nil, fmt.Errorf("%w: page size %d outside 1..%d", ErrInvalidArgument, limit, actors.PoolPageMax)
	}
	after, err := parsePoolCursor(cursor)
	if err != nil {
		return nil, err
	}
	end, err := e.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	// The pools answer from memory: a pool's key range churns (shared, claimed, deleted), and a
	// store scan would wade through its deletions.
	contacts, err := e.Contacts(ctx, viewer)
	if err != nil {
		return nil, err
	}
	var all []*messages.PoolEntry
	// The pools answer concurrently (each answer waits for a write barrier).
	pages := make([][]*messages.PoolEntry, len(contacts))
	errs := make([]error, len(contacts))
	var wg sync.WaitGroup
	sem := make(chan struct{}, contactPoolsParallel)
	for i, owner := range contacts {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			r, err := e.call(ctx, actors.PoolID(owner), pool.List{Cursor: after, Limit: limit})
			if err == nil {
				pages[i] = r.([]*messages.PoolEntry)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, p := range pages {
		all = append(all, p...)
	}
	sort.Slice(all, func(i, j int) bool { return pool.After(all[j], all[i]) })
	page := &PoolPage{Cards: all[:min(limit, len(all))]}
	if len(all) > limit {
		last := page.Cards[limit-1]
		page.Next = fmt.Sprintf("%d.%d.%d", last.SharedAt, last.Owner, last.CardId)
	}
	return page, nil
}

func parsePoolCursor(c string) (*messages.PoolEntry, error) {
	if c == "" {
		return nil, nil
	}
	parts := strings.Split(c, ".")
	bad := fmt.Errorf("%w: pool cursor %q", ErrInvalidArgument, c)
	if len(parts) != 3 || len(c) > 64 {
		return nil, bad
	}
	at, err1 := strconv.ParseInt(parts[0], 10, 64)
	owner, err2 := strconv.ParseUint(parts[1], 10, 64)
	id, err3 := strconv.ParseUint(parts[2], 10, 64)
	if errors.Join(err1, err2, err3) != nil || at < 0 {
		return nil, bad
	}
	return &messages.PoolEntry{SharedAt: at, Owner: owner, CardId: id}, nil
}

// SetNotifySecret sets the key a merchant's server signs its use notifications with (HMAC-SHA256).
func (e *Engine) SetNotifySecret(ctx context.Context, merchant uint64, secret []byte) error {
	if len(secret) < actors.NotifySecretBytesMin || len(secret) > actors.NotifySecretBytesMax {
		return fmt.Errorf("%w: secret of %d bytes, want %d..%d", ErrInvalidArgument, len(secret), actors.NotifySecretBytesMin, actors.NotifySecretBytesMax)
	}
	end, err := e.begin(ctx)
	if err != nil {
		return err
	}
	defer end()
	mu := e.partyLock(merchant)
	mu.Lock()
	defer mu.Unlock()
	p, err := e.partyOfKind(merchant, messages.PartyKind_PARTY_KIND_MERCHANT)
	if err != nil {
		return err
	}
	p.NotifySecret = append([]byte(nil), secret...)
	v, err := proto.Marshal(p)
	if err != nil {
		return err
	}
	return e.put(persistence.Entry{Key: persistence.PartyKey(merchant), Value: v})
}

// UseNotification is a merchant server's report that a shared card was used outside the engine.
type UseNotification struct {
	ID             string // the merchant's id of this notification: 1..64 bytes
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
	if n.ID == "" || len(n.ID) > actors.NotificationIDBytesMax || strings.ContainsAny(n.ID, "\x00/") {
		return nil, fmt.Errorf("%w: notification id must be 1..%d bytes", ErrInvalidArgument, actors.NotificationIDBytesMax)
	}
	end, err := e.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	m, err := e.partyOfKind(n.Merchant, messages.PartyKind_PARTY_KIND_MERCHANT)
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
	r, err := e.call(ctx, actors.CardID(c.Id), card.ExternalUse{Merchant: n.Merchant, UseID: useID, RewardTemplate: n.RewardTemplate, Now: now})
	if err != nil {
		return nil, err
	}
	first := r.(*messages.Reward) != nil
	settled, err := e.call(ctx, actors.PoolID(c.SharedBy), pool.GetReward{UseID: useID})
	if err != nil {
		return nil, err
	}
	reward, _ := settled.(*messages.Reward)
	if !first {
		return reward, fmt.Errorf("%w: notification %q of merchant %d", ErrDuplicateNotification, n.ID, n.Merchant)
	}
	return reward, nil
}

// RewardsMax bounds one page of a sharer's rewards.
const RewardsMax = 100

// Rewards lists what a sharer's shared cards earned, each with the use that earned it, in use-id
// order after `after` ("" from the start), at most RewardsMax.
func (e *Engine) Rewards(ctx context.Context, sharer uint64, after string) ([]*messages.Reward, error) {
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
