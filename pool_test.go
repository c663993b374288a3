package kaquan_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/messages"
)

const (
	shareTemplate  = 11 // cards that may be shared; their use rewards the sharer with rewardTemplate
	rewardTemplate = 12
)

// poolWorld adds the share and reward templates to w (reward stock rewardStock; rewardUser: the
// user who used the card is rewarded too).
func poolWorld(t *testing.T, e *kaquan.Engine, w world, rewardStock uint32, rewardUser bool) {
	t.Helper()
	ctx := context.Background()
	must(t)(e.CreateTemplate(ctx, &messages.Template{Id: rewardTemplate, MerchantId: w.merchant,
		Kind: messages.TemplateKind_TEMPLATE_KIND_CASH, ReduceAmount: 100, StockTotal: rewardStock, PerUserLimit: 1, ValidDays: 30}))
	must(t)(e.CreateTemplate(ctx, &messages.Template{Id: shareTemplate, MerchantId: w.merchant,
		Kind: messages.TemplateKind_TEMPLATE_KIND_CASH, ReduceAmount: 500, LeastCost: 2000, StockTotal: 100_000,
		PerUserLimit: 100_000, ValidDays: 30, CanShare: true, RewardTemplate: rewardTemplate, RewardUser: rewardUser}))
}

func claimShareable(t *testing.T, e *kaquan.Engine, u uint64) *messages.Card {
	t.Helper()
	c, err := e.Claim(context.Background(), kaquan.Claim{Template: shareTemplate, User: u})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func poolIDs(t *testing.T, e *kaquan.Engine, viewer uint64) []uint64 {
	t.Helper()
	var ids []uint64
	cursor := ""
	for {
		p, err := e.ContactPools(context.Background(), viewer, cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range p.Cards {
			ids = append(ids, c.CardId)
		}
		if p.Next == "" {
			return ids
		}
		cursor = p.Next
	}
}

// TestPool_AccessControl: only contacts see and claim a pool; removing a contact hides it at once.
func TestPool_AccessControl(t *testing.T) {
	e := MustOpenEngine(t)
	ctx := ctxTimeout(t)
	w := mustWorld(t, e, 4, 0, 10)
	poolWorld(t, e, w, 100, false)
	a, b, c, d := w.users[0], w.users[1], w.users[2], w.users[3]
	must(t)(nil, e.AddContact(ctx, kaquan.ContactPair{A: a, B: b}))
	must(t)(nil, e.AddContact(ctx, kaquan.ContactPair{A: d, B: b}))
	card := claimShareable(t, e, a)
	shared, err := e.Share(ctx, kaquan.Share{User: a, Card: card.Id})
	if err != nil {
		t.Fatal(err)
	}
	if shared.State != messages.CardState_CARD_STATE_SHARED {
		t.Fatalf("shared: %v", shared)
	}
	if ids := walletIDs(t, e, a); len(ids) != 0 {
		t.Errorf("sharer's wallet still holds %v", ids)
	}
	// Three more cards, from two pools, to check the merged order: newest first.
	var want []uint64
	for _, owner := range []uint64{d, a, d} {
		x := claimShareable(t, e, owner)
		if _, err := e.Share(ctx, kaquan.Share{User: owner, Card: x.Id}); err != nil {
			t.Fatal(err)
		}
		want = append([]uint64{x.Id}, want...)
	}
	want = append(want, card.Id)
	if got := poolIDs(t, e, b); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("contact's merged view: got %v, want %v (newest first)", got, want)
	}
	if got := poolIDs(t, e, c); len(got) != 0 {
		t.Errorf("non-contact sees %v", got)
	}
	if _, err := e.ClaimShared(ctx, kaquan.ClaimShared{Claimer: c, Sharer: a, Card: card.Id}); !errors.Is(err, kaquan.ErrNotContact) || !errors.Is(err, kaquan.ErrPermissionDenied) {
		t.Errorf("non-contact claim: got %v, want ErrNotContact", err)
	}
	if _, err := e.ClaimShared(ctx, kaquan.ClaimShared{Claimer: a, Sharer: a, Card: card.Id}); !errors.Is(err, kaquan.ErrInvalidArgument) {
		t.Errorf("own claim: got %v, want ErrInvalidArgument", err)
	}
	for _, size := range []int{0, 101} {
		if _, err := e.ContactPools(ctx, b, "", size); !errors.Is(err, kaquan.ErrInvalidArgument) {
			t.Errorf("page size %d: got %v", size, err)
		}
	}
	if _, err := e.ContactPools(ctx, b, "garbage", 10); !errors.Is(err, kaquan.ErrInvalidArgument) {
		t.Errorf("bad cursor: got %v", err)
	}
	must(t)(nil, e.RemoveContact(ctx, kaquan.ContactPair{A: b, B: a}))
	if got := poolIDs(t, e, b); len(got) != 2 {
		t.Errorf("after removing a, b sees %v, want only d's two cards", got)
	}
	if _, err := e.ClaimShared(ctx, kaquan.ClaimShared{Claimer: b, Sharer: a, Card: card.Id}); !errors.Is(err, kaquan.ErrNotContact) {
		t.Errorf("claim after removal: got %v, want ErrNotContact", err)
	}
	must(t)(nil, e.AddContact(ctx, kaquan.ContactPair{A: a, B: b}))
	got, err := e.ClaimShared(ctx, kaquan.ClaimShared{Claimer: b, Sharer: a, Card: card.Id})
	if err != nil {
		t.Fatal(err)
	}
	if got.OwnerId != b || got.SharedBy != a || got.Code == card.Code || got.State != messages.CardState_CARD_STATE_AVAILABLE {
		t.Errorf("claimed: %v", got)
	}
	if _, err := e.ClaimShared(ctx, kaquan.ClaimShared{Claimer: b, Sharer: a, Card: card.Id}); !errors.Is(err, kaquan.ErrNotInPool) {
		t.Errorf("second claim: got %v, want ErrNotInPool", err)
	}
	mustAuditOK(t, e)
}

// TestPool_ShareBadInput: sharing what one may not share changes nothing.
func TestPool_ShareBadInput(t *testing.T) {
	e := MustOpenEngine(t)
	ctx := ctxTimeout(t)
	w := mustWorld(t, e, 2, 0, 10)
	poolWorld(t, e, w, 100, false)
	a, b := w.users[0], w.users[1]
	card := claimShareable(t, e, a)
	plain, err := e.Claim(ctx, kaquan.Claim{Template: w.template, User: a}) // its template forbids sharing
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		user, card uint64
		want       error
	}{
		{"NotOwner", b, card.Id, kaquan.ErrPermissionDenied},
		{"TemplateForbids", a, plain.Id, kaquan.ErrPermissionDenied},
		{"UnknownCard", a, shareTemplate<<32 | 999, kaquan.ErrUnknownEntity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := e.Share(ctx, kaquan.Share{User: tt.user, Card: tt.card}); !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := e.Share(ctx, kaquan.Share{User: a, Card: card.Id}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Share(ctx, kaquan.Share{User: a, Card: card.Id}); !errors.Is(err, kaquan.ErrExists) {
		t.Errorf("share twice: got %v, want ErrExists", err)
	}
	if _, err := e.Unshare(ctx, kaquan.Share{User: b, Card: card.Id}); err == nil {
		t.Errorf("take back from another's pool: got nil")
	}
	back, err := e.Unshare(ctx, kaquan.Share{User: a, Card: card.Id})
	if err != nil || back.State != messages.CardState_CARD_STATE_AVAILABLE {
		t.Fatalf("take back: %v, %v", back, err)
	}
	if ids := walletIDs(t, e, a); len(ids) != 2 {
		t.Errorf("wallet after take-back: %v", ids)
	}
	if err := e.AddContact(ctx, kaquan.ContactPair{A: a, B: a}); !errors.Is(err, kaquan.ErrInvalidArgument) {
		t.Errorf("self contact: %v", err)
	}
	if err := e.AddContact(ctx, kaquan.ContactPair{A: a, B: 99_999}); !errors.Is(err, kaquan.ErrUnknownEntity) {
		t.Errorf("unknown contact: %v", err)
	}
	mustAuditOK(t, e)
}

// TestPool_ThousandClaimers: 1,000 contacts claim one shared card at once: exactly one wins.
func TestPool_ThousandClaimers(t *testing.T) {
	e := MustOpenEngine(t)
	ctx := ctxTimeout(t)
	w := mustWorld(t, e, 1001, 0, 10)
	poolWorld(t, e, w, 100, false)
	owner := w.users[0]
	for _, u := range w.users[1:] {
		must(t)(nil, e.AddContact(ctx, kaquan.ContactPair{A: owner, B: u}))
	}
	card := claimShareable(t, e, owner)
	if _, err := e.Share(ctx, kaquan.Share{User: owner, Card: card.Id}); err != nil {
		t.Fatal(err)
	}
	var wins atomic.Int32
	var winner atomic.Uint64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, u := range w.users[1:] {
		wg.Go(func() {
			<-start
			_, err := e.ClaimShared(ctx, kaquan.ClaimShared{Claimer: u, Sharer: owner, Card: card.Id})
			switch {
			case err == nil:
				wins.Add(1)
				winner.Store(u)
			case !errors.Is(err, kaquan.ErrNotInPool):
				t.Errorf("claimer %d: got %v, want ErrNotInPool", u, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("winners: %d, want 1", wins.Load())
	}
	c, _ := e.Card(ctx, card.Id)
	if c.OwnerId != winner.Load() || c.SharedBy != owner {
		t.Errorf("card: %v, want owned by %d", c, winner.Load())
	}
	mustAuditOK(t, e)
}

// sharedAndClaimed has a share a card and b claim it; it returns the card as b's.
func sharedAndClaimed(t *testing.T, e *kaquan.Engine, a, b uint64) *messages.Card {
	t.Helper()
	ctx := context.Background()
	must(t)(nil, e.AddContact(ctx, kaquan.ContactPair{A: a, B: b}))
	card := claimShareable(t, e, a)
	if _, err := e.Share(ctx, kaquan.Share{User: a, Card: card.Id}); err != nil {
		t.Fatal(err)
	}
	got, err := e.ClaimShared(ctx, kaquan.ClaimShared{Claimer: b, Sharer: a, Card: card.Id})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// notifying is a running engine on a settable clock with users, the pool templates and merchant
// 1's notification secret.
type notifying struct {
	e      *kaquan.Engine
	clock  *fakeClock
	w      world
	secret []byte
}

// use is merchant 1's signed notification that the card with code was used, now.
func (n notifying) use(id, code string) kaquan.UseNotification {
	u := kaquan.UseNotification{ID: id, CardCode: code, Merchant: n.w.merchant, Time: n.clock.Now().Unix()}
	u.Signature = u.Sign(n.secret)
	return u
}

// A listing shows only shares that are on disk, and answers without waiting for the writer.
func TestPool_ListingShowsOnlyDurableShares(t *testing.T) {
	e := MustOpenEngine(t)
	ctx := ctxTimeout(t)
	w := mustWorld(t, e, 2, 0, 10)
	poolWorld(t, e, w, 100, false)
	a, b := w.users[0], w.users[1]
	must(t)(nil, e.AddContact(ctx, kaquan.ContactPair{A: a, B: b}))
	card := claimShareable(t, e, a)

	release, err := kaquan.HoldWriter(e)
	if err != nil {
		t.Fatal(err)
	}
	shared := make(chan error, 1)
	go func() {
		_, err := e.Share(ctx, kaquan.Share{User: a, Card: card.Id})
		shared <- err
	}()
	time.Sleep(200 * time.Millisecond) // the share reaches the card and its write waits for the writer
	listCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	page, err := e.ContactPools(listCtx, b, "", 10)
	cancel()
	if err != nil {
		release()
		t.Fatalf("listing while a share is not durable: %v (it must answer at once)", err)
	}
	if len(page.Cards) != 0 {
		release()
		t.Fatalf("listing showed %v before the share was durable", page.Cards)
	}
	select {
	case err := <-shared:
		release()
		t.Fatalf("share answered (%v) before its write was durable", err)
	default:
	}
	release()
	if err := <-shared; err != nil {
		t.Fatal(err)
	}
	if ids := poolIDs(t, e, b); len(ids) != 1 || ids[0] != card.Id {
		t.Fatalf("after the share: %v, want [%d]", ids, card.Id)
	}
}
