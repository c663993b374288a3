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

// decide is Decide of cmd on s, checking that s is left as it was.
func decide(s *State, cmd Command) error {
	before := fmt.Sprint(s.Entries, s.Order, s.Busy, s.Contacts)
	_, err := Decide(s, cmd, 1)
	if fmt.Sprint(s.Entries, s.Order, s.Busy, s.Contacts) != before {
		panic("Decide changed the pool")
	}
	return err
}

// claim is Decide of claimer's Claim of card, with isContact known to s.
func claim(s *State, claimer, card uint64, isContact bool) error {
	s.Contacts[claimer] = isContact
	return decide(s, Claim{Claimer: claimer, Card: card, NewCode: "n"})
}

// answer applies the card's answer to the pool.
func answer(s *State, card uint64, r messages.PoolResult, c *messages.Card) {
	ch, err := Decide(s, Answer{CardID: card, Result: r, Card: c}, 1)
	if err != nil {
		panic(err)
	}
	Apply(s, ch)
}

// enter applies a stored entry, as Load does.
func enter(s *State, e *messages.PoolEntry) { Apply(s, Change{Card: e.CardId, Enter: e}) }

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
		{"ShareOK", func() error { return decide(withCards(nil), Share{User: owner, Card: cardA}) }, nil},
		{"ShareNotOwner", func() error { return decide(withCards(nil), Share{User: contact, Card: cardA}) }, actors.ErrPermissionDenied},
		{"ShareAlreadyShared", func() error { return decide(withCards(nil, cardA), Share{User: owner, Card: cardA}) }, actors.ErrExists},
		{"ShareBusy", func() error { return decide(withCards([]uint64{cardA}), Share{User: owner, Card: cardA}) }, actors.ErrNotInPool},
		{"ShareFull", func() error { return decide(full(), Share{User: owner, Card: cardA}) }, actors.ErrPoolFull},
		{"ShareLastPlace", func() error { return decide(almostFull, Share{User: owner, Card: cardA}) }, nil},
		{"ShareFullCountingBusy", func() error { return decide(almostFullBusy, Share{User: owner, Card: cardA}) }, actors.ErrPoolFull},
		{"UnshareOK", func() error { return decide(withCards(nil, cardA), Unshare{User: owner, Card: cardA}) }, nil},
		{"UnshareNotOwner", func() error { return decide(withCards(nil, cardA), Unshare{User: contact, Card: cardA}) }, actors.ErrPermissionDenied},
		{"UnshareMissing", func() error { return decide(withCards(nil, cardA), Unshare{User: owner, Card: cardB}) }, actors.ErrNotInPool},
		{"UnshareBusy", func() error { return decide(withCards([]uint64{cardA}, cardA), Unshare{User: owner, Card: cardA}) }, actors.ErrNotInPool},
		{"ClaimOK", func() error { return claim(withCards(nil, cardA), contact, cardA, true) }, nil},
		{"ClaimOwn", func() error { return claim(withCards(nil, cardA), owner, cardA, true) }, actors.ErrInvalidArgument},
		{"ClaimNotContact", func() error { return claim(withCards(nil, cardA), contact, cardA, false) }, actors.ErrNotContact},
		{"ClaimNotContactSeesNothingOfMissing", func() error { return claim(withCards(nil), contact, cardA, false) }, actors.ErrNotContact},
		{"ClaimMissing", func() error { return claim(withCards(nil, cardA), contact, cardB, true) }, actors.ErrNotInPool},
		{"ClaimBeingClaimed", func() error { return claim(withCards([]uint64{cardA}, cardA), contact, cardA, true) }, actors.ErrNotInPool},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.f(); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestPool_Answer(t *testing.T) {
	shared := &messages.Card{Id: cardA, OwnerId: owner, TemplateId: 5, State: messages.CardState_CARD_STATE_SHARED, SharedAt: 42}
	claimed := &messages.Card{Id: cardA, OwnerId: contact, State: messages.CardState_CARD_STATE_AVAILABLE}
	s := withCards([]uint64{cardA})
	answer(s, cardA, messages.PoolResult_POOL_RESULT_OK, shared)
	if e := s.Entries[cardA]; e == nil || e.SharedAt != 42 || e.TemplateId != 5 || s.Busy[cardA] {
		t.Fatalf("after share: %v busy %v", s.Entries, s.Busy)
	}
	s.Busy[cardA] = true
	answer(s, cardA, messages.PoolResult_POOL_RESULT_NOT_OWNER, nil)
	if s.Entries[cardA] == nil || s.Busy[cardA] {
		t.Fatalf("a refusal changed the pool: %v busy %v", s.Entries, s.Busy)
	}
	s.Busy[cardA] = true
	answer(s, cardA, messages.PoolResult_POOL_RESULT_OK, claimed)
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
		enter(s, &messages.PoolEntry{CardId: e.card, Owner: owner, SharedAt: e.at})
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
	answer(s, 3, messages.PoolResult_POOL_RESULT_OK, &messages.Card{Id: 3, OwnerId: contact, State: messages.CardState_CARD_STATE_AVAILABLE})
	if got := ids(Page(s, first[1], 2)); fmt.Sprint(got) != "[1 5]" {
		t.Errorf("after claiming 3: got %v, want [1 5]", got)
	}
	// The cursor's own card may be gone: the page still continues after it.
	answer(s, 4, messages.PoolResult_POOL_RESULT_OK, &messages.Card{Id: 4, OwnerId: contact, State: messages.CardState_CARD_STATE_AVAILABLE})
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
	answer(s, 1, messages.PoolResult_POOL_RESULT_NOT_IN_POOL, nil)
	if got := ids(Page(s, nil, 5)); fmt.Sprint(got) != "[2 1 5]" {
		t.Errorf("after the claim of 1 failed: got %v, want [2 1 5]", got)
	}
	enter(s, s.Entries[1]) // entering twice changes nothing
	if len(s.Order) != 3 {
		t.Errorf("double add: %d", len(s.Order))
	}
}

func TestPool_Apply(t *testing.T) {
	t.Run("Requests", func(t *testing.T) {
		s := withCards(nil, cardA)
		s.Contacts[contact] = true
		tests := []struct {
			name string
			cmd  Command
			card uint64
			want any
		}{
			{"Share", Share{User: owner, Card: cardB, Now: 9}, cardB, &messages.ShareCard{Owner: owner, Now: 5}},
			{"Unshare", Unshare{User: owner, Card: cardA, Now: 9}, cardA, &messages.UnshareCard{Owner: owner, Now: 5}},
			{"Claim", Claim{Claimer: contact, Card: cardA, NewCode: "n", Now: 9}, cardA,
				&messages.ClaimSharedCard{Claimer: contact, Sharer: owner, NewCode: "n", Now: 5}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ch, err := Decide(s, tt.cmd, 5) // the time passed in, not the request's
				if err != nil {
					t.Fatalf("err: got %v, want nil", err)
				}
				if ch.Card != tt.card || fmt.Sprint(ch.Request) != fmt.Sprint(tt.want) {
					t.Errorf("change: got card %d request %v, want %d %v", ch.Card, ch.Request, tt.card, tt.want)
				}
				if s.Busy[tt.card] {
					t.Errorf("Decide marked card %d busy", tt.card)
				}
			})
		}
		ch, _ := Decide(s, Claim{Claimer: contact, Card: cardA, NewCode: "n"}, 5)
		Apply(s, ch)
		if !s.Busy[cardA] || s.Entries[cardA] == nil {
			t.Errorf("after a claim request: busy %v entries %v; want card busy and still in the pool", s.Busy, s.Entries)
		}
		if err := decide(s, Claim{Claimer: contact, Card: cardA, NewCode: "n"}); !errors.Is(err, actors.ErrNotInPool) {
			t.Errorf("second claim while the first is under way: got %v, want %v", err, actors.ErrNotInPool)
		}
	})
	t.Run("ContactChanged", func(t *testing.T) {
		s := NewState(owner)
		for _, on := range []bool{true, false} {
			ch, err := Decide(s, ContactChanged{User: contact, On: on}, 1)
			if err != nil {
				t.Fatalf("err: got %v, want nil", err)
			}
			Apply(s, ch)
			if known, ok := s.Contacts[contact]; !ok || known != on {
				t.Errorf("contact after change to %v: got %v (known %v)", on, known, ok)
			}
		}
		for i := range contactCacheMax {
			s.Contacts[uint64(1000+i)] = true
		}
		ch, _ := Decide(s, ContactChanged{User: contact, On: true}, 1)
		Apply(s, ch)
		if _, ok := s.Contacts[contact]; ok || len(s.Contacts) != contactCacheMax {
			t.Errorf("a change to a full cache: known %v, %d cached; want forgotten, %d", ok, len(s.Contacts), contactCacheMax)
		}
	})
}
