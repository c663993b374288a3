package kaquan_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
)

const giftTemplate = 8

// giftWorld adds to w a template whose cards may be gifted at most limit times (0: no limit).
func giftWorld(t *testing.T, e *kaquan.Engine, w world, limit uint32, canGift bool) {
	t.Helper()
	must(t)(e.CreateTemplate(context.Background(), &messages.Template{Id: giftTemplate, MerchantId: w.merchant,
		Kind: messages.TemplateKind_TEMPLATE_KIND_CASH, ReduceAmount: 500, LeastCost: 2000,
		StockTotal: 1000, PerUserLimit: 100, ValidDays: 30, CanGift: canGift, GiftLimit: limit}))
}

// testPNG returns a w x h PNG whose pixels depend on seed.
func testPNG(t testing.TB, w, h int, seed byte) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	for i := range img.Pix {
		img.Pix[i] = byte(rng.Uint32()) // noise: PNG cannot compress it, so sizes are predictable
	}
	img.Set(0, 0, color.NRGBA{seed, seed, seed, 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func mustAuditOK(t *testing.T, e *kaquan.Engine) *kaquan.AuditReport {
	t.Helper()
	r, err := e.Audit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() {
		t.Fatalf("audit: %s %v", r, r.Problems)
	}
	return r
}

func walletIDs(t *testing.T, e *kaquan.Engine, u uint64) []uint64 {
	t.Helper()
	cards, err := e.WalletCards(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	var ids []uint64
	for _, c := range cards {
		ids = append(ids, c.Id)
	}
	return ids
}

// TestGift_ChainKeepsLibrary: A -> B -> C, each with an image; the library keeps both transfers,
// the same image bytes are stored once, each gift gives a new code and kills the old one.
func TestGift_ChainKeepsLibrary(t *testing.T) {
	e := MustOpenEngine(t)
	ctx := ctxTimeout(t)
	w := mustWorld(t, e, 3, 0, 10)
	giftWorld(t, e, w, 0, true)
	a, b, c := w.users[0], w.users[1], w.users[2]
	card, err := e.Claim(ctx, kaquan.Claim{Template: giftTemplate, User: a})
	if err != nil {
		t.Fatal(err)
	}
	pic := testPNG(t, 64, 48, 1)
	g1, err := e.Gift(ctx, kaquan.Gift{From: a, To: b, Card: card.Id, Image: pic, Message: "生日快乐"})
	if err != nil {
		t.Fatal(err)
	}
	if g1.OwnerId != b || g1.Code == card.Code || g1.GiftCount != 1 {
		t.Fatalf("after first gift: %v", g1)
	}
	if _, err := e.CardByCode(ctx, card.Code); !errors.Is(err, kaquan.ErrUnknownEntity) {
		t.Errorf("old code after gift: got %v, want ErrUnknownEntity", err)
	}
	if got, err := e.CardByCode(ctx, g1.Code); err != nil || got.Id != card.Id {
		t.Errorf("new code: got %v, %v", got, err)
	}
	g2, err := e.Gift(ctx, kaquan.Gift{From: b, To: c, Card: card.Id, Image: pic, Message: "passing it on\nenjoy"})
	if err != nil {
		t.Fatal(err)
	}
	if g2.OwnerId != c || g2.GiftCount != 2 {
		t.Fatalf("after second gift: %v", g2)
	}
	if _, err := e.Gift(ctx, kaquan.Gift{From: b, To: a, Card: card.Id}); !errors.Is(err, kaquan.ErrPermissionDenied) {
		t.Errorf("gift by the previous owner: got %v, want ErrPermissionDenied", err)
	}
	lib, err := e.GiftLibrary(ctx, card.Id, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(lib) != 2 || lib[0].From != a || lib[0].To != b || lib[1].From != b || lib[1].To != c ||
		lib[0].Message != "生日快乐" || lib[1].Message != "passing it on\nenjoy" || lib[0].ImageId == "" || lib[0].ImageId != lib[1].ImageId {
		t.Fatalf("library: %v", lib)
	}
	if rest, err := e.GiftLibrary(ctx, card.Id, 1); err != nil || len(rest) != 1 || rest[0].Seq != 2 {
		t.Errorf("library after seq 1: %v, %v", rest, err)
	}
	img, err := e.Image(ctx, lib[0].ImageId)
	if err != nil {
		t.Fatal(err)
	}
	if img.ContentType != "image/png" || img.Width != 64 || img.Height != 48 || !bytes.Equal(img.Data, pic) {
		t.Errorf("image: %s %dx%d, %d bytes (want %d)", img.ContentType, img.Width, img.Height, len(img.Data), len(pic))
	}
	if _, err := e.Image(ctx, strings.Repeat("0", 64)); !errors.Is(err, kaquan.ErrUnknownEntity) {
		t.Errorf("unknown image: got %v, want ErrUnknownEntity", err)
	}
	for u, want := range map[uint64]int{a: 0, b: 0, c: 1} {
		if ids := walletIDs(t, e, u); len(ids) != want {
			t.Errorf("wallet of %d: %v, want %d cards", u, ids, want)
		}
	}
	r := mustAuditOK(t, e)
	if r.Gifts != 2 || r.WalletEntries != 1 {
		t.Errorf("audit counts: %d gifts, %d wallet entries", r.Gifts, r.WalletEntries)
	}
}

func mustClaim(t *testing.T, e *kaquan.Engine, u uint64) *messages.Card {
	t.Helper()
	c, err := e.Claim(context.Background(), kaquan.Claim{Template: giftTemplate, User: u})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestGift_BadInput: every refused gift names its reason with a typed error and changes nothing.
func TestGift_BadInput(t *testing.T) {
	e := MustOpenEngine(t)
	ctx := ctxTimeout(t)
	w := mustWorld(t, e, 3, 0, 10)
	giftWorld(t, e, w, 1, true)
	must(t)(e.CreateTemplate(ctx, &messages.Template{Id: 9, MerchantId: w.merchant, Kind: messages.TemplateKind_TEMPLATE_KIND_CASH,
		ReduceAmount: 1, StockTotal: 10, PerUserLimit: 10, ValidDays: 1}))
	a, b, c := w.users[0], w.users[1], w.users[2]
	card := mustClaim(t, e, a)
	noGift, err := e.Claim(ctx, kaquan.Claim{Template: 9, User: a})
	if err != nil {
		t.Fatal(err)
	}
	good := testPNG(t, 16, 16, 3)
	hugePNG := append([]byte(nil), good...)
	// IHDR width and height (bytes 16..23) set to 100000 x 100000 with a valid CRC.
	setPNGSize(hugePNG, 100_000, 100_000)
	tests := []struct {
		name string
		g    kaquan.Gift
		want error
	}{
		{"UnknownReceiver", kaquan.Gift{From: a, To: 999, Card: card.Id}, kaquan.ErrUnknownEntity},
		{"MerchantReceiver", kaquan.Gift{From: a, To: w.merchant, Card: card.Id}, nil}, // any typed error
		{"UnknownCard", kaquan.Gift{From: a, To: b, Card: giftTemplate<<32 | 999}, kaquan.ErrUnknownEntity},
		{"NoCard", kaquan.Gift{From: a, To: b}, kaquan.ErrInvalidArgument},
		{"NotOwner", kaquan.Gift{From: b, To: c, Card: card.Id}, kaquan.ErrPermissionDenied},
		{"ToSelf", kaquan.Gift{From: a, To: a, Card: card.Id}, kaquan.ErrInvalidArgument},
		{"TemplateForbids", kaquan.Gift{From: a, To: b, Card: noGift.Id}, kaquan.ErrGiftNotAllowed},
		{"MessageTooLong", kaquan.Gift{From: a, To: b, Card: card.Id, Message: strings.Repeat("字", 281)}, kaquan.ErrMessageTooLong},
		{"MessageNotUTF8", kaquan.Gift{From: a, To: b, Card: card.Id, Message: "\xff\xfe"}, kaquan.ErrMessageTooLong},
		{"MessageEscape", kaquan.Gift{From: a, To: b, Card: card.Id, Message: "hi\x1b[2J"}, kaquan.ErrInvalidArgument},
		{"MessageNUL", kaquan.Gift{From: a, To: b, Card: card.Id, Message: "hi\x00"}, kaquan.ErrInvalidArgument},
		{"MessageCarriageReturn", kaquan.Gift{From: a, To: b, Card: card.Id, Message: "hi\r\nthere"}, kaquan.ErrInvalidArgument},
		{"MessageC1", kaquan.Gift{From: a, To: b, Card: card.Id, Message: "hi\u009b2J"}, kaquan.ErrInvalidArgument},
		{"ImageNotAnImage", kaquan.Gift{From: a, To: b, Card: card.Id, Image: []byte("just some text, not an image")}, kaquan.ErrImageInvalid},
		{"ImageTruncated", kaquan.Gift{From: a, To: b, Card: card.Id, Image: good[:len(good)/2]}, kaquan.ErrImageInvalid},
		{"ImageTooManyBytes", kaquan.Gift{From: a, To: b, Card: card.Id, Image: append(append([]byte(nil), good...), make([]byte, 2<<20)...)}, kaquan.ErrImageTooLarge},
		{"ImageHugeDimensions", kaquan.Gift{From: a, To: b, Card: card.Id, Image: hugePNG}, kaquan.ErrImageTooLarge},
		{"OfferTTLTooLong", kaquan.Gift{From: a, To: b, Card: card.Id, Offer: true, OfferTTL: 365 * 24 * time.Hour}, kaquan.ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.Gift(ctx, tt.g)
			if err == nil || got != nil {
				t.Fatalf("got %v, %v; want an error", got, err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("err: got %v, want %v", err, tt.want)
			}
			now, err := e.Card(ctx, card.Id)
			if err != nil || now.OwnerId != a || now.Code != card.Code || now.GiftCount != 0 || now.State != messages.CardState_CARD_STATE_AVAILABLE {
				t.Errorf("card changed: %v, %v", now, err)
			}
		})
	}
	// The limit: one gift allowed, the second refused.
	if _, err := e.Gift(ctx, kaquan.Gift{From: a, To: b, Card: card.Id}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Gift(ctx, kaquan.Gift{From: b, To: c, Card: card.Id}); !errors.Is(err, kaquan.ErrGiftNotAllowed) {
		t.Errorf("second gift past a limit of 1: got %v, want ErrGiftNotAllowed", err)
	}
	if lib, _ := e.GiftLibrary(ctx, card.Id, 0); len(lib) != 1 {
		t.Errorf("library: %v, want one gift", lib)
	}
	mustAuditOK(t, e)
}

// TestGift_OfferAcceptDecline: an offered card cannot be spent or gifted again; only its receiver
// accepts; a decline returns it.
func TestGift_OfferAcceptDecline(t *testing.T) {
	e := MustOpenEngine(t)
	ctx := ctxTimeout(t)
	w := mustWorld(t, e, 3, 100_000, 10)
	giftWorld(t, e, w, 0, true)
	a, b, c := w.users[0], w.users[1], w.users[2]
	card := mustClaim(t, e, a)
	off, err := e.Gift(ctx, kaquan.Gift{From: a, To: b, Card: card.Id, Offer: true, Image: testPNG(t, 8, 8, 9), Message: "for you"})
	if err != nil {
		t.Fatal(err)
	}
	if off.State != messages.CardState_CARD_STATE_GIFTING || off.OwnerId != a || off.Offer.GetTo() != b {
		t.Fatalf("offer: %v", off)
	}
	if ids := walletIDs(t, e, a); len(ids) != 1 {
		t.Errorf("giver's wallet while offered: %v", ids)
	}
	code, err := e.IssuePaymentCode(ctx, kaquan.IssuePaymentCode{User: a, Account: userAccount(a), Card: card.Id})
	if err != nil {
		t.Fatal(err)
	}
	var ce *kaquan.CardError
	if _, err := e.Pay(ctx, kaquan.Pay{Merchant: w.merchant, MerchantAccount: w.merchantAccount, Code: code.Code, Amount: 3000, Key: "k1"}); !errors.As(err, &ce) ||
		ce.Reason != messages.CardReason_CARD_REASON_NOT_AVAILABLE {
		t.Errorf("pay with an offered card: got %v, want NOT_AVAILABLE", err)
	}
	if _, err := e.Gift(ctx, kaquan.Gift{From: a, To: c, Card: card.Id}); !errors.As(err, &ce) {
		t.Errorf("gift an offered card again: got %v, want a CardError", err)
	}
	if _, err := e.AcceptGift(ctx, kaquan.AcceptGift{User: c, Card: card.Id}); !errors.Is(err, kaquan.ErrGiftNotPending) {
		t.Errorf("accept by a stranger: got %v, want ErrGiftNotPending", err)
	}
	got, err := e.AcceptGift(ctx, kaquan.AcceptGift{User: b, Card: card.Id})
	if err != nil {
		t.Fatal(err)
	}
	if got.OwnerId != b || got.State != messages.CardState_CARD_STATE_AVAILABLE || got.Code == card.Code {
		t.Fatalf("accepted: %v", got)
	}
	if _, err := e.AcceptGift(ctx, kaquan.AcceptGift{User: b, Card: card.Id}); !errors.Is(err, kaquan.ErrGiftNotPending) {
		t.Errorf("accept twice: got %v, want ErrGiftNotPending", err)
	}
	// b offers it on to c, who declines: it stays b's.
	if _, err := e.Gift(ctx, kaquan.Gift{From: b, To: c, Card: card.Id, Offer: true}); err != nil {
		t.Fatal(err)
	}
	back, err := e.DeclineGift(ctx, kaquan.DeclineGift{User: c, Card: card.Id})
	if err != nil || back.OwnerId != b || back.State != messages.CardState_CARD_STATE_AVAILABLE {
		t.Fatalf("declined: %v, %v", back, err)
	}
	lib, _ := e.GiftLibrary(ctx, card.Id, 0)
	if len(lib) != 1 || lib[0].Mode != messages.GiftMode_GIFT_MODE_OFFER || lib[0].Message != "for you" || lib[0].ImageId == "" {
		t.Errorf("library: %v", lib)
	}
	mustAuditOK(t, e)
}

// TestGift_OfferTimeout: an unanswered offer returns to the giver, while running and across a
// restart.
func TestGift_OfferTimeout(t *testing.T) {
	clock := newFakeClock()
	dir := t.TempDir()
	opts := kaquan.DefaultOptions()
	opts.Clock = clock.Now
	opts.GiftSweepEvery = 10 * time.Millisecond
	e, err := kaquan.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxTimeout(t)
	w := mustWorld(t, e, 2, 0, 10)
	giftWorld(t, e, w, 0, true)
	a, b := w.users[0], w.users[1]
	running, restarted := mustClaim(t, e, a), mustClaim(t, e, a)
	for _, id := range []uint64{running.Id, restarted.Id} {
		ttl := time.Minute
		if id == restarted.Id {
			ttl = time.Hour
		}
		if _, err := e.Gift(ctx, kaquan.Gift{From: a, To: b, Card: id, Offer: true, OfferTTL: ttl}); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(2 * time.Minute)
	waitFor(t, func() bool {
		c, err := e.Card(ctx, running.Id)
		return err == nil && c.State == messages.CardState_CARD_STATE_AVAILABLE && c.OwnerId == a
	}, "the timed-out offer returns")
	if _, err := e.AcceptGift(ctx, kaquan.AcceptGift{User: b, Card: running.Id}); !errors.Is(err, kaquan.ErrGiftNotPending) {
		t.Errorf("accept after time-out: got %v, want ErrGiftNotPending", err)
	}
	if c, _ := e.Card(ctx, restarted.Id); c.State != messages.CardState_CARD_STATE_GIFTING {
		t.Fatalf("the hour-long offer: %v", c)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Hour)
	opts.GiftSweepEvery = time.Hour // only the sweep at Open can return it
	e, err = kaquan.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	c, err := e.Card(ctx, restarted.Id)
	if err != nil || c.State != messages.CardState_CARD_STATE_AVAILABLE || c.OwnerId != a || c.Offer != nil {
		t.Fatalf("after restart: %v, %v", c, err)
	}
	r := mustAuditOK(t, e)
	if r.GiftOffers != 0 {
		t.Errorf("offers indexed: %d, want 0", r.GiftOffers)
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestGift_RaceWithPayments: 100 goroutines race for one card, 84 giving it to different users and
// 16 paying with it: exactly one wins, every other gets a typed error, and the audit holds.
func TestGift_RaceWithPayments(t *testing.T) {
	e := MustOpenEngine(t)
	ctx := ctxTimeout(t)
	w := mustWorld(t, e, 85, 100_000, 10)
	giftWorld(t, e, w, 0, true)
	owner := w.users[0]
	card := mustClaim(t, e, owner)
	var codes []string
	for range 16 {
		pc, err := e.IssuePaymentCode(ctx, kaquan.IssuePaymentCode{User: owner, Account: userAccount(owner), Card: card.Id})
		if err != nil {
			t.Fatal(err)
		}
		codes = append(codes, pc.Code)
	}
	var wins, gifts, pays atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	typed := func(err error) bool {
		var ce *kaquan.CardError
		return errors.As(err, &ce) || errors.Is(err, kaquan.ErrPermissionDenied)
	}
	for i := range 100 {
		wg.Go(func() {
			<-start
			var err error
			if i < 16 {
				_, err = e.Pay(ctx, kaquan.Pay{Merchant: w.merchant, MerchantAccount: w.merchantAccount, Code: codes[i], Amount: 3000, Key: "race" + codes[i]})
				if err == nil {
					pays.Add(1)
				}
			} else {
				_, err = e.Gift(ctx, kaquan.Gift{From: owner, To: w.users[i-15], Card: card.Id})
				if err == nil {
					gifts.Add(1)
				}
			}
			if err == nil {
				wins.Add(1)
			} else if !typed(err) {
				t.Errorf("loser %d: untyped error %v", i, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("winners: %d (gifts %d, payments %d), want 1", wins.Load(), gifts.Load(), pays.Load())
	}
	c, _ := e.Card(ctx, card.Id)
	if gifts.Load() == 1 && (c.OwnerId == owner || c.State != messages.CardState_CARD_STATE_AVAILABLE) {
		t.Errorf("gift won but card is %v", c)
	}
	if pays.Load() == 1 && (c.OwnerId != owner || c.State != messages.CardState_CARD_STATE_USED) {
		t.Errorf("payment won but card is %v", c)
	}
	mustAuditOK(t, e)
}

// TestGift_AuditCatchesBrokenOwnership: the ownership checks of the audit fail on a card in no
// wallet, in two wallets, or with a library that does not end with its owner.
func TestGift_AuditCatchesBrokenOwnership(t *testing.T) {
	tamper := map[string]func(card *messages.Card, a, b uint64) persistence.Entry{
		"NoWallet": func(c *messages.Card, a, _ uint64) persistence.Entry {
			return persistence.Entry{Key: persistence.WalletKey(c.OwnerId, c.Id), Delete: true}
		},
		"TwoWallets": func(c *messages.Card, a, _ uint64) persistence.Entry {
			return persistence.Entry{Key: persistence.WalletKey(a, c.Id)}
		},
		"LibraryBroken": func(c *messages.Card, _, _ uint64) persistence.Entry {
			return persistence.Entry{Key: persistence.GiftKey(c.Id, 1), Delete: true}
		},
	}
	for name, change := range tamper {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			e, err := kaquan.Open(dir, kaquan.DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			ctx := ctxTimeout(t)
			w := mustWorld(t, e, 2, 0, 10)
			giftWorld(t, e, w, 0, true)
			a, b := w.users[0], w.users[1]
			card := mustClaim(t, e, a)
			given, err := e.Gift(ctx, kaquan.Gift{From: a, To: b, Card: card.Id})
			if err != nil {
				t.Fatal(err)
			}
			mustAuditOK(t, e)
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			writeRaw(t, dir, change(given, a, b))
			e, err = kaquan.Open(dir, kaquan.DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			r, err := e.Audit(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if r.OK() {
				t.Fatalf("audit passed a tampered store: %s", r)
			}
			t.Logf("audit found: %v", r.Problems)
		})
	}
}

// TestGift_LibraryAfterTheLastSeq: a page after the largest seq is empty, not the library again.
func TestGift_LibraryAfterTheLastSeq(t *testing.T) {
	e := MustOpenEngine(t)
	ctx := ctxTimeout(t)
	w := mustWorld(t, e, 2, 100_000, 10)
	giftWorld(t, e, w, 0, true)
	c := mustV(e.Claim(ctx, kaquan.Claim{Template: giftTemplate, User: w.users[0]}))(t)
	must(t)(e.Gift(ctx, kaquan.Gift{From: w.users[0], To: w.users[1], Card: c.Id}))
	if recs := mustV(e.GiftLibrary(ctx, c.Id, 0))(t); len(recs) != 1 {
		t.Fatalf("library: %d records, want 1", len(recs))
	}
	if recs := mustV(e.GiftLibrary(ctx, c.Id, math.MaxUint32))(t); len(recs) != 0 {
		t.Fatalf("page after seq 2^32-1: %d records, want 0", len(recs))
	}
}
