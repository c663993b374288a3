package card

import (
	"errors"
	"testing"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/messages"
	"google.golang.org/protobuf/proto"
)

const (
	poolNow     = from + 10
	poolClaimer = uint64(8)
)

var shared = messages.CardState_CARD_STATE_SHARED

func shareable() *messages.Card {
	c := newCard()
	c.CanShare, c.RewardTemplate = true, 77
	return c
}

func inPool() *messages.Card {
	c := shareable()
	c.State, c.SharedAt = shared, poolNow-5
	return c
}

func TestPool_DecideShare(t *testing.T) {
	tests := []struct {
		name string
		c    *messages.Card
		user uint64
		at   int64
		want messages.PoolResult
	}{
		{"OK", shareable(), owner, poolNow, messages.PoolResult_POOL_RESULT_OK},
		{"Unknown", nil, owner, poolNow, messages.PoolResult_POOL_RESULT_UNKNOWN_CARD},
		{"NotOwner", shareable(), 9, poolNow, messages.PoolResult_POOL_RESULT_NOT_OWNER},
		{"TemplateForbids", newCard(), owner, poolNow, messages.PoolResult_POOL_RESULT_SHARE_NOT_ALLOWED},
		{"Reserved", withState(shareable(), reserved, payment, 1), owner, poolNow, messages.PoolResult_POOL_RESULT_NOT_AVAILABLE},
		{"AlreadyShared", inPool(), owner, poolNow, messages.PoolResult_POOL_RESULT_NOT_AVAILABLE},
		{"Used", withState(shareable(), used, payment, 1), owner, poolNow, messages.PoolResult_POOL_RESULT_NOT_AVAILABLE},
		{"Expired", shareable(), owner, until, messages.PoolResult_POOL_RESULT_EXPIRED},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := clone0(tt.c)
			n, r := share(tt.c, tt.user, tt.at)
			unchanged(t, tt.c, before)
			if r != tt.want || (n != nil) != (r == messages.PoolResult_POOL_RESULT_OK) {
				t.Fatalf("got %v, %s; want %s", n, r, tt.want)
			}
			if n != nil && (n.State != shared || n.SharedAt != tt.at || n.OwnerId != owner) {
				t.Errorf("shared card: %v", n)
			}
		})
	}
}

func TestPool_DecideUnshareAndClaim(t *testing.T) {
	n, r := unshare(inPool(), owner, poolNow)
	if r != messages.PoolResult_POOL_RESULT_OK || n.State != available || n.SharedAt != 0 || n.OwnerId != owner {
		t.Errorf("take back: %v %s", n, r)
	}
	if n, _ := unshare(inPool(), owner, until); n.State != expired {
		t.Errorf("take back after validity: %v", n)
	}
	for name, f := range map[string]func() messages.PoolResult{
		"UnshareUnknown":  func() messages.PoolResult { _, r := unshare(nil, owner, poolNow); return r },
		"UnshareNotOwner": func() messages.PoolResult { _, r := unshare(inPool(), 9, poolNow); return r },
		"UnshareNotInPool": func() messages.PoolResult {
			_, r := unshare(shareable(), owner, poolNow)
			return r
		},
	} {
		if got := f(); got == messages.PoolResult_POOL_RESULT_OK {
			t.Errorf("%s: got OK", name)
		}
	}
	got, r := claimShared(inPool(), poolClaimer, owner, "new", poolNow)
	want := inPool()
	want.State, want.OwnerId, want.SharedBy, want.SharedAt, want.Code = available, poolClaimer, owner, 0, "new"
	if r != messages.PoolResult_POOL_RESULT_OK || !proto.Equal(got, want) {
		t.Errorf("claim: %v %s, want %v", got, r, want)
	}
	refusals := []struct {
		name    string
		c       *messages.Card
		claimer uint64
		sharer  uint64
		code    string
		at      int64
		want    messages.PoolResult
	}{
		{"NotInPool", shareable(), poolClaimer, owner, "new", poolNow, messages.PoolResult_POOL_RESULT_NOT_IN_POOL},
		{"WrongPool", inPool(), poolClaimer, 9, "new", poolNow, messages.PoolResult_POOL_RESULT_NOT_OWNER},
		{"Own", inPool(), owner, owner, "new", poolNow, messages.PoolResult_POOL_RESULT_NOT_OWNER},
		{"Expired", inPool(), poolClaimer, owner, "new", until, messages.PoolResult_POOL_RESULT_EXPIRED},
		{"NoCode", inPool(), poolClaimer, owner, "", poolNow, messages.PoolResult_POOL_RESULT_UNSPECIFIED},
		{"Unknown", nil, poolClaimer, owner, "new", poolNow, messages.PoolResult_POOL_RESULT_UNKNOWN_CARD},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			before := clone0(tt.c)
			n, r := claimShared(tt.c, tt.claimer, tt.sharer, tt.code, tt.at)
			unchanged(t, tt.c, before)
			if n != nil || r != tt.want {
				t.Errorf("got %v, %s; want %s", n, r, tt.want)
			}
		})
	}
	// A card in a pool cannot be spent or gifted.
	if _, reason := DecideReserve(inPool(), &messages.ReserveCard{PayerId: owner, MerchantId: merchant, Amount: 100, Now: poolNow}, nil); reason != messages.CardReason_CARD_REASON_NOT_AVAILABLE {
		t.Errorf("reserve a shared card: %s", reason)
	}
}

func TestPool_DecideExternalUse(t *testing.T) {
	claimed := func() *messages.Card { c := shareable(); c.SharedBy, c.OwnerId = 9, poolClaimer; return c }
	n, err := externalUse(claimed(), merchant, "ntf:10:a", poolNow)
	if err != nil || n.State != used || n.Payment != "ntf:10:a" {
		t.Fatalf("use: %v %v", n, err)
	}
	if again, err := externalUse(n, merchant, "ntf:10:a", poolNow+1); again != nil || err != nil {
		t.Errorf("the same notification again: %v %v, want nil, nil", again, err)
	}
	tests := []struct {
		name   string
		c      *messages.Card
		m      uint64
		at     int64
		want   error
		reason messages.CardReason
	}{
		{"Unknown", nil, merchant, poolNow, actors.ErrUnknownEntity, 0},
		{"NotShared", shareable(), merchant, poolNow, actors.ErrNotShared, 0},
		{"MerchantNotAccepted", claimed(), 99, poolNow, actors.ErrCardNotUsable, messages.CardReason_CARD_REASON_MERCHANT_NOT_ACCEPTED},
		{"ListedWithoutAcceptance", claimed(), 11, poolNow, actors.ErrCardNotUsable, messages.CardReason_CARD_REASON_ACCEPTANCE_NOT_GRANTED},
		{"OtherUse", withState(claimed(), used, "pay:x", 1), merchant, poolNow, actors.ErrCardNotUsable, messages.CardReason_CARD_REASON_NOT_AVAILABLE},
		{"NotYetValid", claimed(), merchant, from - 1, actors.ErrCardNotUsable, messages.CardReason_CARD_REASON_NOT_YET_VALID},
		{"Expired", claimed(), merchant, until, actors.ErrCardNotUsable, messages.CardReason_CARD_REASON_EXPIRED},
	}
	t.Run("ListedAndGranted", func(t *testing.T) {
		cmd := ExternalUse{Merchant: 11, UseID: "ntf:11:a", Now: poolNow, Acceptance: acceptance(11, merchant, granted)}
		if n, err := cardOf(Decide(on(claimed()), cmd, poolNow)); err != nil || n.State != used {
			t.Errorf("got %v, %v; want USED", n, err)
		}
	})
	t.Run("RepeatAfterRevoke", func(t *testing.T) {
		cmd := ExternalUse{Merchant: 11, UseID: "ntf:11:a", Now: poolNow, Acceptance: acceptance(11, merchant, revoked)}
		if n, err := cardOf(Decide(on(withState(claimed(), used, "ntf:11:a", 0)), cmd, poolNow)); n != nil || err != nil {
			t.Errorf("got %v, %v; want nil, nil (the same notification again)", n, err)
		}
		cmd.UseID = "ntf:11:b"
		_, err := cardOf(Decide(on(claimed()), cmd, poolNow))
		checkCardErr(t, err, actors.ErrCardNotUsable, messages.CardReason_CARD_REASON_ACCEPTANCE_REVOKED)
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := clone0(tt.c)
			n, err := externalUse(tt.c, tt.m, "ntf:10:b", tt.at)
			unchanged(t, tt.c, before)
			var ce *actors.CardError
			if n != nil || !errors.Is(err, tt.want) || (tt.reason != 0 && (!errors.As(err, &ce) || ce.Reason != tt.reason)) {
				t.Errorf("got %v, %v; want %v (%s)", n, err, tt.want, tt.reason)
			}
		})
	}
}

func TestPool_RewardFor(t *testing.T) {
	c := shareable()
	if rewardFor(c, "u", 0, 0, poolNow) != nil {
		t.Error("a card never shared earns a reward")
	}
	c.SharedBy, c.OwnerId, c.RewardUser = 9, poolClaimer, true
	r := rewardFor(c, "u", 0, merchant, poolNow)
	want := &messages.Reward{UseId: "u", CardId: c.Id, Sharer: 9, User: poolClaimer, RewardTemplate: 77, RewardUser: true,
		State: messages.RewardState_REWARD_STATE_PENDING, ConfirmedAt: poolNow, Merchant: merchant}
	if !proto.Equal(r, want) {
		t.Errorf("got %v, want %v", r, want)
	}
	if r := rewardFor(c, "u", 88, 0, poolNow); r.RewardTemplate != 88 {
		t.Errorf("a notification's reward template: got %d", r.RewardTemplate)
	}
	c.RewardTemplate = 0
	if rewardFor(c, "u", 0, 0, poolNow) != nil {
		t.Error("no reward template, yet a reward")
	}
}
