package card

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/messages"
	"google.golang.org/protobuf/proto"
)

const (
	giftReceiver = uint64(8)
	giftNow      = from + 10
	giftImage    = "ab12"
)

var (
	gifting = messages.CardState_CARD_STATE_GIFTING
	direct  = messages.GiftMode_GIFT_MODE_DIRECT
	offer   = messages.GiftMode_GIFT_MODE_OFFER
)

// giftable returns an AVAILABLE card whose template allows gifting at most 3 times.
func giftable() *messages.Card {
	c := newCard()
	c.CanGift, c.GiftLimit, c.ClaimedBy = true, 3, owner
	return c
}

func giftMod(c *messages.Card, f func(*messages.Card)) *messages.Card {
	f(c)
	return c
}

// offered returns the giftable card offered to giftReceiver until giftNow+100.
func offered() *messages.Card {
	c := giftable()
	c.State = gifting
	c.Offer = &messages.GiftOffer{From: owner, To: giftReceiver, OfferedAt: giftNow, ExpiresAt: giftNow + 100, ImageId: giftImage, Message: "hi"}
	return c
}

func directGift() Gift {
	return Gift{From: owner, To: giftReceiver, Mode: direct, NewCode: "new-code", ImageID: giftImage, Message: "生日快乐", Now: giftNow}
}

func giftWith(f func(*Gift)) Gift {
	g := directGift()
	f(&g)
	return g
}

func TestGift_DecideGiftRejections(t *testing.T) {
	notAvailable := &actors.CardError{Reason: messages.CardReason_CARD_REASON_NOT_AVAILABLE}
	tests := []struct {
		name    string
		c       *messages.Card
		g       Gift
		wantErr error
		reason  messages.CardReason
	}{
		{name: "UnknownCard", c: nil, g: directGift(), wantErr: actors.ErrUnknownEntity},
		{name: "NotOwner", c: giftable(), g: giftWith(func(g *Gift) { g.From = 99 }), wantErr: actors.ErrPermissionDenied},
		{name: "ToSelf", c: giftable(), g: giftWith(func(g *Gift) { g.To = owner }), wantErr: actors.ErrInvalidArgument},
		{name: "NoReceiver", c: giftable(), g: giftWith(func(g *Gift) { g.To = 0 }), wantErr: actors.ErrInvalidArgument},
		{name: "OfferTTLTooShort", c: giftable(), g: giftWith(func(g *Gift) { g.Mode, g.OfferTTL = offer, time.Millisecond }), wantErr: actors.ErrInvalidArgument},
		{name: "OfferTTLTooLong", c: giftable(), g: giftWith(func(g *Gift) { g.Mode, g.OfferTTL = offer, actors.GiftOfferTTLMax+1 }), wantErr: actors.ErrInvalidArgument},
		{name: "OfferTTLNegative", c: giftable(), g: giftWith(func(g *Gift) { g.Mode, g.OfferTTL = offer, -time.Second }), wantErr: actors.ErrInvalidArgument},
		{name: "TemplateForbids", c: giftMod(giftable(), func(c *messages.Card) { c.CanGift = false }), g: directGift(), wantErr: actors.ErrGiftNotAllowed},
		{name: "LimitReached", c: giftMod(giftable(), func(c *messages.Card) { c.GiftCount = 3 }), g: directGift(), wantErr: actors.ErrGiftNotAllowed},
		{name: "Reserved", c: withState(giftable(), reserved, payment, 30), g: directGift(), wantErr: notAvailable},
		{name: "Used", c: withState(giftable(), used, payment, 30), g: directGift(), wantErr: notAvailable},
		{name: "Expired", c: withState(giftable(), expired, "", 0), g: directGift(), wantErr: notAvailable},
		{name: "Void", c: withState(giftable(), void, "", 0), g: directGift(), wantErr: notAvailable},
		{name: "GiftingAgain", c: offered(), g: giftWith(func(g *Gift) { g.To = 9 }), wantErr: notAvailable},
		{name: "PastValidity", c: giftable(), g: giftWith(func(g *Gift) { g.Now = until }), wantErr: &actors.CardError{}, reason: messages.CardReason_CARD_REASON_EXPIRED},
		{name: "MessageTooLong", c: giftable(), g: giftWith(func(g *Gift) { g.Message = strings.Repeat("好", actors.GiftMessageRunesMax+1) }), wantErr: actors.ErrMessageTooLong},
		{name: "MessageNotUTF8", c: giftable(), g: giftWith(func(g *Gift) { g.Message = "a\xffb" }), wantErr: actors.ErrMessageTooLong},
		{name: "ModeUnspecified", c: giftable(), g: giftWith(func(g *Gift) { g.Mode = messages.GiftMode_GIFT_MODE_UNSPECIFIED }), wantErr: actors.ErrInvalidArgument},
		{name: "ModeUnknown", c: giftable(), g: giftWith(func(g *Gift) { g.Mode = 9 }), wantErr: actors.ErrInvalidArgument},
		{name: "DirectWithoutCode", c: giftable(), g: giftWith(func(g *Gift) { g.NewCode = "" }), wantErr: actors.ErrInvalidArgument},
		{name: "DirectWithSameCode", c: giftable(), g: giftWith(func(g *Gift) { g.NewCode = "card-code" }), wantErr: actors.ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := clone0(tt.c)
			n, rec, err := give(tt.c, tt.g)
			unchanged(t, tt.c, before)
			if n != nil || rec != nil {
				t.Errorf("got card %v and record %v, want nothing", n, rec)
			}
			var ce *actors.CardError
			if want, ok := tt.wantErr.(*actors.CardError); ok {
				if !errors.As(err, &ce) {
					t.Fatalf("err: got %v, want a CardError", err)
				}
				if wantReason := max(want.Reason, tt.reason); ce.Reason != wantReason {
					t.Errorf("reason: got %s, want %s", ce.Reason, wantReason)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("err: got %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestGift_DecideGiftDirect(t *testing.T) {
	c := giftMod(giftable(), func(c *messages.Card) { c.GiftCount = 2 }) // the last gift the limit allows
	before := clone0(c)
	n, rec, err := give(c, directGift())
	if err != nil {
		t.Fatalf("gift: %v", err)
	}
	unchanged(t, c, before)
	want := clone0(c)
	want.OwnerId, want.Code, want.GiftCount = giftReceiver, "new-code", 3
	if !proto.Equal(n, want) {
		t.Errorf("card: got %v, want %v", n, want)
	}
	wantRec := &messages.GiftRecord{CardId: c.Id, Seq: 3, From: owner, To: giftReceiver, At: giftNow, ImageId: giftImage, Message: "生日快乐", Mode: direct}
	if !proto.Equal(rec, wantRec) {
		t.Errorf("record: got %v, want %v", rec, wantRec)
	}
	if _, _, err := give(n, giftWith(func(g *Gift) { g.From, g.To, g.NewCode = giftReceiver, 9, "c3" })); !errors.Is(err, actors.ErrGiftNotAllowed) {
		t.Errorf("gift past the limit: got %v, want ErrGiftNotAllowed", err)
	}
	t.Run("NoLimit", func(t *testing.T) {
		c := giftMod(giftable(), func(c *messages.Card) { c.GiftLimit, c.GiftCount = 0, 500 })
		n, rec, err := give(c, directGift())
		if err != nil || n.GiftCount != 501 || rec.Seq != 501 {
			t.Errorf("got %v, %v, %v; want count and seq 501", n, rec, err)
		}
	})
	t.Run("MessageAtLimit", func(t *testing.T) {
		g := giftWith(func(g *Gift) { g.Message = strings.Repeat("好", actors.GiftMessageRunesMax) })
		if _, _, err := give(giftable(), g); err != nil {
			t.Errorf("280 characters: %v", err)
		}
	})
	t.Run("LastNanosecondOfValidity", func(t *testing.T) {
		if _, _, err := give(giftable(), giftWith(func(g *Gift) { g.Now = until - 1 })); err != nil {
			t.Errorf("gift: %v", err)
		}
	})
}

func TestGift_DecideGiftOffer(t *testing.T) {
	tests := []struct {
		name     string
		c        *messages.Card
		ttl      time.Duration
		expireAt int64
	}{
		{name: "EngineDefault", c: giftable(), expireAt: giftNow + int64(actors.GiftOfferTTLDefault)},
		{name: "TemplateSetting", c: giftMod(giftable(), func(c *messages.Card) { c.GiftOfferTtl = int64(time.Hour) }), expireAt: giftNow + int64(time.Hour)},
		{name: "RequestWins", c: giftMod(giftable(), func(c *messages.Card) { c.GiftOfferTtl = int64(time.Hour) }), ttl: time.Minute, expireAt: giftNow + int64(time.Minute)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := giftWith(func(g *Gift) { g.Mode, g.OfferTTL, g.NewCode = offer, tt.ttl, "" })
			n, rec, err := give(tt.c, g)
			if err != nil {
				t.Fatalf("offer: %v", err)
			}
			if rec != nil {
				t.Errorf("record: got %v, want none until accepted", rec)
			}
			want := clone0(tt.c)
			want.State = gifting
			want.Offer = &messages.GiftOffer{From: owner, To: giftReceiver, OfferedAt: giftNow, ExpiresAt: tt.expireAt, ImageId: giftImage, Message: "生日快乐"}
			if !proto.Equal(n, want) {
				t.Errorf("card: got %v, want %v", n, want)
			}
		})
	}
}

func TestGift_DecideAccept(t *testing.T) {
	tests := []struct {
		name    string
		c       *messages.Card
		user    uint64
		code    string
		at      int64
		wantErr error
	}{
		{name: "UnknownCard", c: nil, user: giftReceiver, code: "n", at: giftNow, wantErr: actors.ErrUnknownEntity},
		{name: "NotGifting", c: giftable(), user: giftReceiver, code: "n", at: giftNow, wantErr: actors.ErrGiftNotPending},
		{name: "NotTheReceiver", c: offered(), user: 9, code: "n", at: giftNow, wantErr: actors.ErrGiftNotPending},
		{name: "TheGiver", c: offered(), user: owner, code: "n", at: giftNow, wantErr: actors.ErrGiftNotPending},
		{name: "TimedOutExactly", c: offered(), user: giftReceiver, code: "n", at: giftNow + 100, wantErr: actors.ErrGiftNotPending},
		{name: "NoCode", c: offered(), user: giftReceiver, code: "", at: giftNow, wantErr: actors.ErrInvalidArgument},
		{name: "SameCode", c: offered(), user: giftReceiver, code: "card-code", at: giftNow, wantErr: actors.ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := clone0(tt.c)
			n, rec, err := accept(tt.c, tt.user, tt.code, tt.at)
			unchanged(t, tt.c, before)
			if n != nil || rec != nil || !errors.Is(err, tt.wantErr) {
				t.Errorf("got %v, %v, %v; want nothing and %v", n, rec, err, tt.wantErr)
			}
		})
	}
	t.Run("Accepted", func(t *testing.T) {
		c := offered()
		n, rec, err := accept(c, giftReceiver, "new-code", giftNow+99)
		if err != nil {
			t.Fatalf("accept: %v", err)
		}
		want := giftable()
		want.OwnerId, want.Code, want.GiftCount = giftReceiver, "new-code", 1
		if !proto.Equal(n, want) {
			t.Errorf("card: got %v, want %v", n, want)
		}
		wantRec := &messages.GiftRecord{CardId: c.Id, Seq: 1, From: owner, To: giftReceiver, At: giftNow + 99, ImageId: giftImage, Message: "hi", Mode: offer}
		if !proto.Equal(rec, wantRec) {
			t.Errorf("record: got %v, want %v", rec, wantRec)
		}
	})
}

func TestGift_DeclineAndTimeout(t *testing.T) {
	back := giftable()
	tests := []struct {
		name    string
		c       *messages.Card
		user    uint64
		at      int64
		want    *messages.Card
		wantErr error
	}{
		{name: "ReceiverDeclines", c: offered(), user: giftReceiver, at: giftNow, want: back},
		{name: "GiverWithdraws", c: offered(), user: owner, at: giftNow, want: back},
		{name: "Stranger", c: offered(), user: 9, at: giftNow, wantErr: actors.ErrGiftNotPending},
		{name: "NotGifting", c: giftable(), user: giftReceiver, at: giftNow, wantErr: actors.ErrGiftNotPending},
		{name: "UnknownCard", c: nil, user: giftReceiver, at: giftNow, wantErr: actors.ErrUnknownEntity},
		{name: "AfterTimeout", c: offered(), user: giftReceiver, at: giftNow + 100, wantErr: actors.ErrGiftNotPending},
		{name: "DeclinedAfterValidity", c: giftMod(offered(), func(c *messages.Card) { c.Offer.ExpiresAt = until + 100 }), user: giftReceiver, at: until,
			want: giftMod(giftable(), func(c *messages.Card) { c.State = expired })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := clone0(tt.c)
			n, err := decline(tt.c, tt.user, tt.at)
			unchanged(t, tt.c, before)
			if !errors.Is(err, tt.wantErr) || !proto.Equal(n, tt.want) {
				t.Errorf("got %v, %v; want %v, %v", n, err, tt.want, tt.wantErr)
			}
		})
	}
	timeouts := []struct {
		name string
		c    *messages.Card
		at   int64
		want *messages.Card
	}{
		{name: "BeforeTimeout", c: offered(), at: giftNow + 99, want: nil},
		{name: "AtTimeout", c: offered(), at: giftNow + 100, want: back},
		{name: "AfterValidity", c: offered(), at: until, want: giftMod(giftable(), func(c *messages.Card) { c.State = expired })},
		{name: "NotGifting", c: giftable(), at: until, want: nil},
		{name: "NoCard", c: nil, at: until, want: nil},
	}
	for _, tt := range timeouts {
		t.Run("Timeout"+tt.name, func(t *testing.T) {
			before := clone0(tt.c)
			n := timeoutOf(tt.c, tt.at)
			unchanged(t, tt.c, before)
			if !proto.Equal(n, tt.want) || (n == nil) != (tt.want == nil) {
				t.Errorf("got %v, want %v", n, tt.want)
			}
		})
	}
}

func TestGift_OfferedCardCannotBeSpent(t *testing.T) {
	_, reason := DecideReserve(offered(), &messages.ReserveCard{Payment: payment, PayerId: owner, MerchantId: merchant, Amount: 100, Now: giftNow}, nil)
	if reason != messages.CardReason_CARD_REASON_NOT_AVAILABLE {
		t.Errorf("reserve a GIFTING card: got %s, want NOT_AVAILABLE", reason)
	}
	if _, err := voidOf(offered(), merchant); err == nil {
		t.Errorf("void a GIFTING card: got nil, want an error")
	}
}

func TestGift_ChainKeepsHistory(t *testing.T) {
	c := giftMod(giftable(), func(c *messages.Card) { c.GiftLimit = 0 })
	users := []uint64{owner, 8, 9, 10}
	var records []*messages.GiftRecord
	for i := 1; i < len(users); i++ {
		n, rec, err := give(c, Gift{From: users[i-1], To: users[i], Mode: direct, NewCode: strings.Repeat("c", i), Now: giftNow + int64(i)})
		if err != nil {
			t.Fatalf("gift %d: %v", i, err)
		}
		c, records = n, append(records, rec)
	}
	for i, r := range records {
		if r.Seq != uint32(i+1) || r.From != users[i] || r.To != users[i+1] {
			t.Errorf("record %d: got %v", i, r)
		}
	}
	if c.OwnerId != 10 || c.GiftCount != 3 || c.ClaimedBy != owner {
		t.Errorf("card after chain: got %v", c)
	}
}
