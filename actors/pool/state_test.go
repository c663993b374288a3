package pool

import (
	"errors"
	"fmt"
	"testing"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/messages"
)

const (
	owner   = uint64(7)
	contact = uint64(8)
	cardA   = uint64(100)
	cardB   = uint64(101)
)

// withCards is owner's pool holding cards; busy marks cards with a request under way.
func withCards(busy []uint64, cards ...uint64) *State {
	s := NewState(owner)
	for i, c := range cards {
		s.Entries[c] = &messages.PoolEntry{CardId: c, Owner: owner, SharedAt: int64(i + 1)}
	}
	for _, c := range busy {
		s.Busy[c] = true
	}
	return s
}

func full() *State {
	s := NewState(owner)
	for i := range actors.PoolCardsMax {
		s.Entries[uint64(1000+i)] = &messages.PoolEntry{CardId: uint64(1000 + i)}
	}
	return s
}

func TestPool_Decide(t *testing.T) {
	almostFull := full()
	delete(almostFull.Entries, 1000)
	almostFullBusy := full()
	delete(almostFullBusy.Entries, 1000)
	almostFullBusy.Busy[cardB] = true
	tests := []struct {
		name string
		f    func() error
		want error
	}{
		{"ShareOK", func() error { return DecideShare(withCards(nil), owner, cardA) }, nil},
		{"ShareNotOwner", func() error { return DecideShare(withCards(nil), contact, cardA) }, actors.ErrPermissionDenied},
		{"ShareAlreadyShared", func() error { return DecideShare(withCards(nil, cardA), owner, cardA) }, actors.ErrExists},
		{"ShareBusy", func() error { return DecideShare(withCards([]uint64{cardA}), owner, cardA) }, actors.ErrNotInPool},
		{"ShareFull", func() error { return DecideShare(full(), owner, cardA) }, actors.ErrPoolFull},
		{"ShareLastPlace", func() error { return DecideShare(almostFull, owner, cardA) }, nil},
		{"ShareFullCountingBusy", func() error { return DecideShare(almostFullBusy, owner, cardA) }, actors.ErrPoolFull},
		{"UnshareOK", func() error { return DecideUnshare(withCards(nil, cardA), owner, cardA) }, nil},
		{"UnshareNotOwner", func() error { return DecideUnshare(withCards(nil, cardA), contact, cardA) }, actors.ErrPermissionDenied},
		{"UnshareMissing", func() error { return DecideUnshare(withCards(nil, cardA), owner, cardB) }, actors.ErrNotInPool},
		{"UnshareBusy", func() error { return DecideUnshare(withCards([]uint64{cardA}, cardA), owner, cardA) }, actors.ErrNotInPool},
		{"ClaimOK", func() error { return DecideClaim(withCards(nil, cardA), contact, cardA, true) }, nil},
		{"ClaimOwn", func() error { return DecideClaim(withCards(nil, cardA), owner, cardA, true) }, actors.ErrInvalidArgument},
		{"ClaimNotContact", func() error { return DecideClaim(withCards(nil, cardA), contact, cardA, false) }, actors.ErrNotContact},
		{"ClaimNotContactSeesNothingOfMissing", func() error { return DecideClaim(withCards(nil), contact, cardA, false) }, actors.ErrNotContact},
		{"ClaimMissing", func() error { return DecideClaim(withCards(nil, cardA), contact, cardB, true) }, actors.ErrNotInPool},
		{"ClaimBeingClaimed", func() error { return DecideClaim(withCards([]uint64{cardA}, cardA), contact, cardA, true) }, actors.ErrNotInPool},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.f(); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestPool_Done(t *testing.T) {
	shared := &messages.Card{Id: cardA, OwnerId: owner, TemplateId: 5, State: messages.CardState_CARD_STATE_SHARED, SharedAt: 42}
	claimed := &messages.Card{Id: cardA, OwnerId: contact, State: messages.CardState_CARD_STATE_AVAILABLE}
	s := withCards([]uint64{cardA})
	Done(s, cardA, messages.PoolResult_POOL_RESULT_OK, shared)
	if e := s.Entries[cardA]; e == nil || e.SharedAt != 42 || e.TemplateId != 5 || s.Busy[cardA] {
		t.Fatalf("after share: %v busy %v", s.Entries, s.Busy)
	}
	s.Busy[cardA] = true
	Done(s, cardA, messages.PoolResult_POOL_RESULT_NOT_OWNER, nil)
	if s.Entries[cardA] == nil || s.Busy[cardA] {
		t.Fatalf("a refusal changed the pool: %v busy %v", s.Entries, s.Busy)
	}
	s.Busy[cardA] = true
	Done(s, cardA, messages.PoolResult_POOL_RESULT_OK, claimed)
	if s.Entries[cardA] != nil || s.Busy[cardA] {
		t.Fatalf("after claim: %v busy %v", s.Entries, s.Busy)
	}
}

func TestPool_ResultError(t *testing.T) {
	var ce *actors.CardError
	for r, want := range map[messages.PoolResult]error{
		messages.PoolResult_POOL_RESULT_UNKNOWN_CARD:      actors.ErrUnknownEntity,
		messages.PoolResult_POOL_RESULT_NOT_OWNER:         actors.ErrPermissionDenied,
		messages.PoolResult_POOL_RESULT_SHARE_NOT_ALLOWED: actors.ErrPermissionDenied,
		messages.PoolResult_POOL_RESULT_NOT_IN_POOL:       actors.ErrNotInPool,
		messages.PoolResult_POOL_RESULT_NOT_AVAILABLE:     actors.ErrCardNotUsable,
		messages.PoolResult_POOL_RESULT_EXPIRED:           actors.ErrCardNotUsable,
		messages.PoolResult_POOL_RESULT_UNSPECIFIED:       actors.ErrInvalidArgument,
	} {
		if err := ResultError(r); !errors.Is(err, want) {
			t.Errorf("%s: got %v, want %v", r, err, want)
		}
	}
	if err := ResultError(messages.PoolResult_POOL_RESULT_EXPIRED); !errors.As(err, &ce) || ce.Reason != messages.CardReason_CARD_REASON_EXPIRED {
		t.Errorf("expired: %v", err)
	}
	if ResultError(messages.PoolResult_POOL_RESULT_OK) != nil {
		t.Error("OK is an error")
	}
}

func TestPool_Granted(t *testing.T) {
	pending := func(user bool) *messages.Reward {
		return &messages.Reward{UseId: "pay:1/k", Sharer: owner, User: contact, RewardUser: user, State: messages.RewardState_REWARD_STATE_PENDING}
	}
	tests := []struct {
		name      string
		user      bool
		steps     [][2]uint64 // (is user key, card)
		settledAt int
		want      *messages.Reward
	}{
		{"SharerOnly", false, [][2]uint64{{0, 55}}, 0, &messages.Reward{SharerCard: 55, State: messages.RewardState_REWARD_STATE_GRANTED}},
		{"SharerOutOfStock", false, [][2]uint64{{0, 0}}, 0, &messages.Reward{State: messages.RewardState_REWARD_STATE_OUT_OF_STOCK}},
		{"SharerOutOfStockSkipsUser", true, [][2]uint64{{0, 0}}, 0, &messages.Reward{State: messages.RewardState_REWARD_STATE_OUT_OF_STOCK}},
		{"Both", true, [][2]uint64{{0, 55}, {1, 56}}, 1, &messages.Reward{SharerCard: 55, UserCard: 56, State: messages.RewardState_REWARD_STATE_GRANTED}},
		{"UserOutOfStock", true, [][2]uint64{{0, 55}, {1, 0}}, 1, &messages.Reward{SharerCard: 55, UserOutOfStock: true, State: messages.RewardState_REWARD_STATE_GRANTED}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := pending(tt.user)
			for i, st := range tt.steps {
				key := SharerKey(r.UseId)
				if st[0] == 1 {
					key = UserKey(r.UseId)
				}
				settled := Granted(r, key, st[1], st[1] == 0, 99)
				if settled != (i == tt.settledAt) {
					t.Fatalf("step %d settled %v", i, settled)
				}
			}
			if r.State != tt.want.State || r.SharerCard != tt.want.SharerCard || r.UserCard != tt.want.UserCard ||
				r.UserOutOfStock != tt.want.UserOutOfStock || r.SettledAt != 99 {
				t.Errorf("got %v, want %v", r, tt.want)
			}
		})
	}
	if SharerKey("u") == UserKey("u") {
		t.Error("the sharer's and the user's claim keys collide")
	}
}

func TestPool_PageOrder(t *testing.T) {
	s := NewState(owner)
	// Shared out of order, with a tie in time broken by card id.
	for _, e := range []struct {
		card uint64
		at   int64
	}{{1, 10}, {2, 30}, {3, 20}, {4, 30}, {5, 5}} {
		Add(s, &messages.PoolEntry{CardId: e.card, Owner: owner, SharedAt: e.at})
	}
	ids := func(es []*messages.PoolEntry) (out []uint64) {
		for _, e := range es {
			out = append(out, e.CardId)
		}
		return out
	}
	if got, want := ids(Page(s, nil, 10)), []uint64{2, 4, 3, 1, 5}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("newest first: got %v, want %v", got, want)
	}
	first := Page(s, nil, 2)
	if got := ids(Page(s, first[1], 2)); fmt.Sprint(got) != "[3 1]" {
		t.Errorf("page after %v: got %v, want [3 1]", first[1], got)
	}
	Done(s, 3, messages.PoolResult_POOL_RESULT_OK, &messages.Card{Id: 3, OwnerId: contact, State: messages.CardState_CARD_STATE_AVAILABLE})
	if got := ids(Page(s, first[1], 2)); fmt.Sprint(got) != "[1 5]" {
		t.Errorf("after claiming 3: got %v, want [1 5]", got)
	}
	// The cursor's own card may be gone: the page still continues after it.
	Done(s, 4, messages.PoolResult_POOL_RESULT_OK, &messages.Card{Id: 4, OwnerId: contact, State: messages.CardState_CARD_STATE_AVAILABLE})
	if got := ids(Page(s, first[1], 5)); fmt.Sprint(got) != "[1 5]" {
		t.Errorf("after the cursor's card left: got %v, want [1 5]", got)
	}
	if len(s.Order) != len(s.Entries) || len(s.Order) != 3 {
		t.Errorf("order %d entries %d, want 3", len(s.Order), len(s.Entries))
	}
	// A card being claimed is not listed; it shows again if the claim fails.
	s.Busy[1] = true
	if got := ids(Page(s, nil, 2)); fmt.Sprint(got) != "[2 5]" {
		t.Errorf("while 1 is being claimed: got %v, want [2 5]", got)
	}
	Done(s, 1, messages.PoolResult_POOL_RESULT_NOT_IN_POOL, nil)
	if got := ids(Page(s, nil, 5)); fmt.Sprint(got) != "[2 1 5]" {
		t.Errorf("after the claim of 1 failed: got %v, want [2 1 5]", got)
	}
	Add(s, s.Entries[1]) // adding twice changes nothing
	if len(s.Order) != 3 {
		t.Errorf("double add: %d", len(s.Order))
	}
}
