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
	"github.com/kaquan/kaquan/persistence"
	"google.golang.org/protobuf/proto"
)

func waitReward(t *testing.T, e *kaquan.Engine, sharer uint64, n int) []*messages.Reward {
	t.Helper()
	var rs []*messages.Reward
	waitFor(t, func() bool {
		var err error
		rs, err = e.Rewards(context.Background(), sharer, "")
		if err != nil || len(rs) != n {
			return false
		}
		for _, r := range rs {
			if r.State == messages.RewardState_REWARD_STATE_PENDING {
				return false
			}
		}
		return true
	}, "rewards settled")
	return rs
}

// TestPool_PaymentRewardsSharerAndUser: a claimed card used in a payment rewards its sharer (and,
// as its template says, the user) once.
func TestPool_PaymentRewardsSharerAndUser(t *testing.T) {
	e := MustOpenEngine(t)
	ctx := ctxTimeout(t)
	w := mustWorld(t, e, 2, 100_000, 10)
	poolWorld(t, e, w, 100, true)
	a, b := w.users[0], w.users[1]
	card := sharedAndClaimed(t, e, a, b)
	code, err := e.IssuePaymentCode(ctx, kaquan.IssuePaymentCode{User: b, Account: userAccount(b), Card: card.Id})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Pay(ctx, kaquan.Pay{Merchant: w.merchant, MerchantAccount: w.merchantAccount, Code: code.Code, Amount: 3000, Key: "p1"}); err != nil {
		t.Fatal(err)
	}
	rs := waitReward(t, e, a, 1)
	r := rs[0]
	if r.State != messages.RewardState_REWARD_STATE_GRANTED || r.User != b || r.CardId != card.Id || r.UseId != "pay:"+kaquan.PaymentKey(w.merchant, "p1") {
		t.Fatalf("reward: %v", r)
	}
	for who, id := range map[uint64]uint64{a: r.SharerCard, b: r.UserCard} {
		c, err := e.Card(ctx, id)
		if err != nil || c.OwnerId != who || c.TemplateId != rewardTemplate {
			t.Errorf("reward card %d: %v, %v (want owner %d)", id, c, err, who)
		}
	}
	// A retry of the same payment rewards nothing more.
	if _, err := e.Pay(ctx, kaquan.Pay{Merchant: w.merchant, MerchantAccount: w.merchantAccount, Code: code.Code, Amount: 3000, Key: "p1"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	waitReward(t, e, a, 1)
	r2 := mustAuditOK(t, e)
	if r2.Rewards["GRANTED"] != 1 {
		t.Errorf("audit rewards: %v", r2.Rewards)
	}
}

func startNotifying(t *testing.T, users int, rewardStock uint32) notifying {
	t.Helper()
	clock := newFakeClock()
	e := MustOpenEngine(t, func(o *kaquan.Options) { o.Clock = clock.Now })
	w := mustWorld(t, e, users, 0, 10)
	poolWorld(t, e, w, rewardStock, false)
	return notifying{e: e, clock: clock, w: w, secret: notifyWorld(t, e, w)}
}

func notifyWorld(t *testing.T, e *kaquan.Engine, w world) []byte {
	t.Helper()
	secret := []byte("0123456789abcdef-merchant-secret")
	must(t)(nil, e.SetNotifySecret(context.Background(), kaquan.SetNotifySecret{Merchant: w.merchant, Secret: secret}))
	return secret
}

// TestPool_NotificationFiftyTimes: one notification delivered 50 times at once rewards once.
func TestPool_NotificationFiftyTimes(t *testing.T) {
	nf := startNotifying(t, 2, 100)
	e, w, ctx := nf.e, nf.w, ctxTimeout(t)
	a, b := w.users[0], w.users[1]
	card := sharedAndClaimed(t, e, a, b)
	n := nf.use("n-1", card.Code)
	var firsts, dups atomic.Int32
	rewards := make(chan *messages.Reward, 50)
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			r, err := e.ConfirmUse(ctx, n)
			switch {
			case err == nil:
				firsts.Add(1)
			case errors.Is(err, kaquan.ErrDuplicateNotification) && errors.Is(err, kaquan.ErrExists):
				dups.Add(1)
			default:
				t.Errorf("delivery: %v", err)
			}
			rewards <- r
		})
	}
	wg.Wait()
	close(rewards)
	if firsts.Load() != 1 || dups.Load() != 49 {
		t.Fatalf("first %d, duplicates %d; want 1 and 49", firsts.Load(), dups.Load())
	}
	var sharerCard uint64
	for r := range rewards {
		if r == nil || r.State != messages.RewardState_REWARD_STATE_GRANTED {
			t.Fatalf("a delivery saw reward %v", r)
		}
		if sharerCard != 0 && r.SharerCard != sharerCard {
			t.Fatalf("two different reward cards: %d and %d", sharerCard, r.SharerCard)
		}
		sharerCard = r.SharerCard
	}
	if tpl, _ := e.Template(ctx, rewardTemplate); tpl.Issued != 1 {
		t.Errorf("reward cards issued: %d, want 1", tpl.Issued)
	}
	if c, _ := e.Card(ctx, card.Id); c.State != messages.CardState_CARD_STATE_USED {
		t.Errorf("used card: %v", c)
	}
	mustAuditOK(t, e)
}

// TestPool_NotificationRefused: forged, stale, unaccepted, unshared or malformed notifications
// change nothing.
func TestPool_NotificationRefused(t *testing.T) {
	nf := startNotifying(t, 2, 100)
	e, w, clock, secret, ctx := nf.e, nf.w, nf.clock, nf.secret, ctxTimeout(t)
	must(t)(e.CreateParty(ctx, kaquan.CreateParty{ID: 2, Kind: messages.PartyKind_PARTY_KIND_MERCHANT, Name: "other shop"}))
	must(t)(nil, e.SetNotifySecret(ctx, kaquan.SetNotifySecret{Merchant: 2, Secret: secret}))
	const otherShops = 90 // merchant 2's template: merchant 1 may not reward with its stock
	must(t)(e.CreateTemplate(ctx, &messages.Template{Id: otherShops, MerchantId: 2, Kind: messages.TemplateKind_TEMPLATE_KIND_CASH,
		ReduceAmount: 100, LeastCost: 200, StockTotal: 10, PerUserLimit: 1, ValidDays: 30}))
	_, err := e.CreateTemplate(ctx, &messages.Template{Id: 91, MerchantId: w.merchant, Kind: messages.TemplateKind_TEMPLATE_KIND_CASH,
		ReduceAmount: 100, LeastCost: 200, StockTotal: 10, PerUserLimit: 1, ValidDays: 30, CanShare: true, RewardTemplate: otherShops})
	if !errors.Is(err, kaquan.ErrPermissionDenied) {
		t.Fatalf("a template rewarding with another merchant's template: %v, want ErrPermissionDenied", err)
	}
	a, b := w.users[0], w.users[1]
	card := sharedAndClaimed(t, e, a, b)
	plain := claimShareable(t, e, b) // never shared
	now := clock.Now().Unix()
	signed := func(n kaquan.UseNotification) kaquan.UseNotification { n.Signature = n.Sign(secret); return n }
	good := kaquan.UseNotification{ID: "n-1", CardCode: card.Code, Merchant: w.merchant, Time: now}
	forged := good
	forged.Signature = good.Sign([]byte("not the merchant's secret at all"))
	tampered := signed(good)
	tampered.RewardTemplate = shareTemplate
	tests := []struct {
		name string
		n    kaquan.UseNotification
		want error
	}{
		{"Forged", forged, kaquan.ErrBadSignature},
		{"Tampered", tampered, kaquan.ErrBadSignature},
		{"NotHex", kaquan.UseNotification{ID: "n-1", CardCode: card.Code, Merchant: w.merchant, Time: now, Signature: "zz"}, kaquan.ErrBadSignature},
		{"TooOld", signed(kaquan.UseNotification{ID: "n-2", CardCode: card.Code, Merchant: w.merchant, Time: now - 301}), kaquan.ErrStaleNotification},
		{"FromTheFuture", signed(kaquan.UseNotification{ID: "n-3", CardCode: card.Code, Merchant: w.merchant, Time: now + 301}), kaquan.ErrStaleNotification},
		// In nanoseconds, now + 2^55 s wraps round to about now.
		{"TimeWraps", signed(kaquan.UseNotification{ID: "n-9", CardCode: card.Code, Merchant: w.merchant, Time: now + 1<<55}), kaquan.ErrStaleNotification},
		{"RewardFromAnotherMerchant", signed(kaquan.UseNotification{ID: "n-10", CardCode: card.Code, Merchant: w.merchant, Time: now, RewardTemplate: otherShops}), kaquan.ErrPermissionDenied},
		{"MerchantNotAccepted", signed(kaquan.UseNotification{ID: "n-4", CardCode: card.Code, Merchant: 2, Time: now}), kaquan.ErrCardNotUsable},
		{"NotShared", signed(kaquan.UseNotification{ID: "n-5", CardCode: plain.Code, Merchant: w.merchant, Time: now}), kaquan.ErrNotShared},
		{"UnknownCard", signed(kaquan.UseNotification{ID: "n-6", CardCode: "NOPE", Merchant: w.merchant, Time: now}), kaquan.ErrUnknownEntity},
		{"UnknownMerchant", signed(kaquan.UseNotification{ID: "n-7", CardCode: card.Code, Merchant: 77, Time: now}), kaquan.ErrUnknownEntity},
		{"NoID", signed(kaquan.UseNotification{CardCode: card.Code, Merchant: w.merchant, Time: now}), kaquan.ErrInvalidArgument},
		// Signed, but the id is stored with the reward and answered by Rewards: no escape sequences.
		{"IDWithEscape", signed(kaquan.UseNotification{ID: "n-11\x1b[2J", CardCode: card.Code, Merchant: w.merchant, Time: now}), kaquan.ErrInvalidArgument},
		{"IDWithNewline", signed(kaquan.UseNotification{ID: "n-12\nforged", CardCode: card.Code, Merchant: w.merchant, Time: now}), kaquan.ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := e.ConfirmUse(ctx, tt.n); !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
			if c, _ := e.Card(ctx, card.Id); c.State != messages.CardState_CARD_STATE_AVAILABLE {
				t.Errorf("card changed: %v", c)
			}
		})
	}
	if rs, _ := e.Rewards(ctx, a, ""); len(rs) != 0 {
		t.Errorf("rewards after refused notifications: %v", rs)
	}
	if p, _ := e.Party(ctx, w.merchant); len(p.NotifySecret) != 0 {
		t.Errorf("Party hands out the merchant's secret")
	}
	// Exactly five minutes off is still inside the window.
	if _, err := e.ConfirmUse(ctx, signed(kaquan.UseNotification{ID: "n-8", CardCode: card.Code, Merchant: w.merchant, Time: now - 300})); err != nil {
		t.Errorf("5 minutes old: %v", err)
	}
	mustAuditOK(t, e)
}

// TestPool_RewardStockExhausted: when the reward template runs out, the reward is recorded as out
// of stock, not retried, and the audit holds.
func TestPool_RewardStockExhausted(t *testing.T) {
	nf := startNotifying(t, 3, 1)
	e, w, ctx := nf.e, nf.w, ctxTimeout(t)
	a := w.users[0]
	for i, u := range w.users[1:] {
		card := sharedAndClaimed(t, e, a, u)
		r, err := e.ConfirmUse(ctx, nf.use(fmt.Sprint("use-", i), card.Code))
		if err != nil {
			t.Fatal(err)
		}
		want := messages.RewardState_REWARD_STATE_GRANTED
		if i == 1 {
			want = messages.RewardState_REWARD_STATE_OUT_OF_STOCK
		}
		if r.State != want {
			t.Errorf("use %d: reward %v, want %s", i, r, want)
		}
	}
	r := mustAuditOK(t, e)
	if r.Rewards["GRANTED"] != 1 || r.Rewards["STOCK"] != 1 {
		t.Errorf("audit rewards: %v", r.Rewards)
	}
}

// TestPool_RewardOnceAfterCrash: a reward left PENDING after its card was already claimed from
// the reward template (a crash between the two writes) is settled at the next Open with that same
// card: nothing is issued twice.
func TestPool_RewardOnceAfterCrash(t *testing.T) {
	dir := t.TempDir()
	clock := newFakeClock()
	opts := kaquan.DefaultOptions()
	opts.Clock = clock.Now
	e, err := kaquan.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxTimeout(t)
	w := mustWorld(t, e, 2, 0, 10)
	poolWorld(t, e, w, 100, true)
	secret := notifyWorld(t, e, w)
	a, b := w.users[0], w.users[1]
	card := sharedAndClaimed(t, e, a, b)
	n := kaquan.UseNotification{ID: "n-1", CardCode: card.Code, Merchant: w.merchant, Time: clock.Now().Unix()}
	n.Signature = n.Sign(secret)
	granted, err := e.ConfirmUse(ctx, n)
	if err != nil || granted.State != messages.RewardState_REWARD_STATE_GRANTED {
		t.Fatalf("confirm: %v, %v", granted, err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	// What a crash after the template's claims but before the reward's settlement leaves on disk.
	pending := proto.Clone(granted).(*messages.Reward)
	pending.State, pending.SharerCard, pending.UserCard, pending.SettledAt = messages.RewardState_REWARD_STATE_PENDING, 0, 0, 0
	v, err := proto.Marshal(pending)
	if err != nil {
		t.Fatal(err)
	}
	writeRaw(t, dir, persistence.Entry{Key: persistence.RewardKey(a, pending.UseId), Value: v})
	e, err = kaquan.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	rs, err := e.Rewards(ctx, a, "")
	if err != nil || len(rs) != 1 {
		t.Fatalf("rewards: %v, %v", rs, err)
	}
	if r := rs[0]; r.State != messages.RewardState_REWARD_STATE_GRANTED || r.SharerCard != granted.SharerCard || r.UserCard != granted.UserCard {
		t.Errorf("after recovery: %v, want the cards of %v", r, granted)
	}
	if tpl, _ := e.Template(ctx, rewardTemplate); tpl.Issued != 2 {
		t.Errorf("reward cards issued: %d, want 2 (sharer and user, once)", tpl.Issued)
	}
	mustAuditOK(t, e)
}

// TestPool_RefundedCardRewardsOnce: a shared card's use rewards its sharer once; refunded and
// used again, it earns nothing more.
func TestPool_RefundedCardRewardsOnce(t *testing.T) {
	e := MustOpenEngine(t)
	ctx := ctxTimeout(t)
	w := mustWorld(t, e, 2, 100_000, 10)
	poolWorld(t, e, w, 100, false)
	a, b := w.users[0], w.users[1]
	card := sharedAndClaimed(t, e, a, b)
	pay := func(key string) {
		t.Helper()
		code := mustV(e.IssuePaymentCode(ctx, kaquan.IssuePaymentCode{User: b, Account: userAccount(b), Card: card.Id}))(t)
		o := mustV(e.Pay(ctx, kaquan.Pay{Merchant: w.merchant, MerchantAccount: w.merchantAccount, Code: code.Code, Amount: 3000, Key: key}))(t)
		if o.Payment.CardId != card.Id || o.Payment.State != messages.PaymentState_PAYMENT_STATE_COMPLETED {
			t.Fatalf("payment %s: %v", key, o.Payment)
		}
	}
	pay("p1")
	waitReward(t, e, a, 1)
	must(t)(e.Refund(ctx, kaquan.Refund{Merchant: w.merchant, Key: "p1"}))
	if c := mustV(e.Card(ctx, card.Id))(t); c.State != messages.CardState_CARD_STATE_AVAILABLE {
		t.Fatalf("card after the refund: %s", c.State)
	}
	pay("p2")
	time.Sleep(50 * time.Millisecond) // a second reward, if any, would be settling now
	if rs := waitReward(t, e, a, 1); rs[0].UseId != "pay:"+kaquan.PaymentKey(w.merchant, "p1") {
		t.Fatalf("reward: %v", rs[0])
	}
	mustAuditOK(t, e)
}
