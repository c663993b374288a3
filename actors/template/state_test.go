package template

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
	now  = int64(50 * day)
	user = uint64(7)
)

var (
	cashKind     = messages.TemplateKind_TEMPLATE_KIND_CASH
	discountKind = messages.TemplateKind_TEMPLATE_KIND_DISCOUNT
)

// cash returns a valid CASH template with a fixed validity range.
func cash() *messages.Template {
	return &messages.Template{Id: 5, MerchantId: 10, Kind: cashKind, ReduceAmount: 30, LeastCost: 50,
		StockTotal: 3, PerUserLimit: 2, ValidFrom: now - day, ValidUntil: now + day, Title: "30 off"}
}

// discount returns a valid DISCOUNT template valid for a number of days after claiming.
func discount() *messages.Template {
	return &messages.Template{Id: 6, MerchantId: 10, Kind: discountKind, DiscountBp: 1500, DiscountCap: 200,
		StockTotal: 100, PerUserLimit: 1, ValidDays: 30, AcceptedMerchants: []uint64{10, 11, 12}, Title: "15% off",
		CanGift: true, CanShare: true, GiftLimit: 3, GiftOfferTtl: int64(time.Hour)}
}

func mod(t *messages.Template, f func(*messages.Template)) *messages.Template {
	f(t)
	return t
}

func checkErr(t *testing.T, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("err: got %v, want nil", err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("err: got %v, want %v", err, want)
	}
}

func mustPanic(t *testing.T, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("panic: got none, want a panic")
		}
	}()
	f()
}

// create and claim are Decide of a Create and of a Claim by a user holding claimed cards, returning
// what the change holds.
func create(existing, t *messages.Template, at int64) (*messages.Template, error) {
	ch, err := Decide(&State{Template: existing}, Create{Template: t, Now: at}, at)
	return ch.Template, err
}

func claim(t *messages.Template, claimed uint32, user uint64, code string, at int64) (*messages.Card, error) {
	s := &State{Template: t, Claimed: map[uint64]uint32{user: claimed}}
	ch, err := Decide(s, Claim{User: user, Code: code, Now: at}, at)
	if s.Claimed[user] != claimed || len(s.Claimed) != 1 {
		panic("Decide changed the claim counts")
	}
	return ch.Card, err
}

func TestTemplate_DecideCreate(t *testing.T) {
	many := func(n int) []uint64 {
		ms := make([]uint64, n)
		for i := range ms {
			ms[i] = uint64(i + 1)
		}
		return ms
	}
	bad := actors.ErrInvalidArgument
	tests := []struct {
		name    string
		t       *messages.Template
		wantErr error
	}{
		// id bounds
		{name: "IdZero", t: mod(cash(), func(t *messages.Template) { t.Id = 0 }), wantErr: bad},
		{name: "IdTooLarge", t: mod(cash(), func(t *messages.Template) { t.Id = 1 << 32 }), wantErr: bad},
		{name: "IdHuge", t: mod(cash(), func(t *messages.Template) { t.Id = 1<<64 - 1 }), wantErr: bad},
		{name: "IdOne", t: mod(cash(), func(t *messages.Template) { t.Id = 1 })},
		{name: "IdMax", t: mod(cash(), func(t *messages.Template) { t.Id = 1<<32 - 1 })},
		// merchant
		{name: "NoMerchant", t: mod(cash(), func(t *messages.Template) { t.MerchantId = 0 }), wantErr: bad},
		// least cost
		{name: "LeastCostNegative", t: mod(cash(), func(t *messages.Template) { t.LeastCost = -1 }), wantErr: bad},
		{name: "LeastCostOverMax", t: mod(cash(), func(t *messages.Template) { t.LeastCost = actors.AmountMax + 1 }), wantErr: bad},
		{name: "LeastCostZero", t: mod(cash(), func(t *messages.Template) { t.LeastCost = 0 })},
		{name: "LeastCostMax", t: mod(cash(), func(t *messages.Template) { t.LeastCost = actors.AmountMax })},
		// stock and per-user limit
		{name: "NoStock", t: mod(cash(), func(t *messages.Template) { t.StockTotal = 0 }), wantErr: bad},
		{name: "StockOne", t: mod(cash(), func(t *messages.Template) { t.StockTotal = 1 })},
		{name: "StockMax", t: mod(cash(), func(t *messages.Template) { t.StockTotal = actors.TemplateStockMax })},
		{name: "NoPerUserLimit", t: mod(cash(), func(t *messages.Template) { t.PerUserLimit = 0 }), wantErr: bad},
		{name: "PerUserLimitAboveStock", t: mod(cash(), func(t *messages.Template) { t.PerUserLimit = 1000 })},
		// accepted merchants
		{name: "TooManyAcceptedMerchants", t: mod(cash(), func(t *messages.Template) { t.AcceptedMerchants = many(actors.AcceptedMerchantsMax + 1) }), wantErr: bad},
		{name: "MaxAcceptedMerchants", t: mod(cash(), func(t *messages.Template) { t.AcceptedMerchants = many(actors.AcceptedMerchantsMax) })},
		// title
		{name: "TitleTooLong", t: mod(cash(), func(t *messages.Template) { t.Title = strings.Repeat("x", actors.NameBytesMax+1) }), wantErr: bad},
		{name: "TitleTooLongInBytes", t: mod(cash(), func(t *messages.Template) { t.Title = strings.Repeat("é", actors.NameBytesMax/2+1) }), wantErr: bad},
		{name: "TitleMax", t: mod(cash(), func(t *messages.Template) { t.Title = strings.Repeat("x", actors.NameBytesMax) })},
		{name: "TitleEmpty", t: mod(cash(), func(t *messages.Template) { t.Title = "" })},
		{name: "TitleNUL", t: mod(cash(), func(t *messages.Template) { t.Title = "30\x00off" }), wantErr: bad},
		{name: "TitleEscape", t: mod(cash(), func(t *messages.Template) { t.Title = "\x1b[2J30 off" }), wantErr: bad},
		{name: "TitleNewline", t: mod(cash(), func(t *messages.Template) { t.Title = "30\noff" }), wantErr: bad},
		{name: "TitleDEL", t: mod(cash(), func(t *messages.Template) { t.Title = "30\x7foff" }), wantErr: bad},
		{name: "TitleC1", t: mod(cash(), func(t *messages.Template) { t.Title = "\u009b2J" }), wantErr: bad},
		{name: "TitleNotUTF8", t: mod(cash(), func(t *messages.Template) { t.Title = "30\xffoff" }), wantErr: bad},
		{name: "TitleUnicode", t: mod(cash(), func(t *messages.Template) { t.Title = "满30减5 ☕" })},
		// kind
		{name: "KindUnspecified", t: mod(cash(), func(t *messages.Template) { t.Kind = messages.TemplateKind_TEMPLATE_KIND_UNSPECIFIED }), wantErr: bad},
		{name: "KindUnknown", t: mod(cash(), func(t *messages.Template) { t.Kind = 99 }), wantErr: bad},
		// CASH field combinations
		{name: "CashNoReduction", t: mod(cash(), func(t *messages.Template) { t.ReduceAmount = 0 }), wantErr: bad},
		{name: "CashNegativeReduction", t: mod(cash(), func(t *messages.Template) { t.ReduceAmount = -1 }), wantErr: bad},
		{name: "CashReductionOverMax", t: mod(cash(), func(t *messages.Template) { t.ReduceAmount = actors.AmountMax + 1 }), wantErr: bad},
		{name: "CashReductionMax", t: mod(cash(), func(t *messages.Template) { t.ReduceAmount = actors.AmountMax })},
		{name: "CashReductionOne", t: mod(cash(), func(t *messages.Template) { t.ReduceAmount = 1 })},
		{name: "CashWithBasisPoints", t: mod(cash(), func(t *messages.Template) { t.DiscountBp = 100 }), wantErr: bad},
		{name: "CashWithCap", t: mod(cash(), func(t *messages.Template) { t.DiscountCap = 100 }), wantErr: bad},
		// DISCOUNT field combinations
		{name: "DiscountNoBasisPoints", t: mod(discount(), func(t *messages.Template) { t.DiscountBp = 0 }), wantErr: bad},
		{name: "DiscountNegativeBasisPoints", t: mod(discount(), func(t *messages.Template) { t.DiscountBp = -1 }), wantErr: bad},
		{name: "DiscountFullBasisPoints", t: mod(discount(), func(t *messages.Template) { t.DiscountBp = 10_000 }), wantErr: bad},
		{name: "DiscountMinBasisPoints", t: mod(discount(), func(t *messages.Template) { t.DiscountBp = 1 })},
		{name: "DiscountMaxBasisPoints", t: mod(discount(), func(t *messages.Template) { t.DiscountBp = actors.DiscountBasisPointsMax })},
		{name: "DiscountNegativeCap", t: mod(discount(), func(t *messages.Template) { t.DiscountCap = -1 }), wantErr: bad},
		{name: "DiscountNoCap", t: mod(discount(), func(t *messages.Template) { t.DiscountCap = 0 })},
		// gifting
		{name: "GiftLimitMax", t: mod(cash(), func(t *messages.Template) { t.GiftLimit = actors.GiftLimitMax })},
		{name: "GiftLimitOverMax", t: mod(cash(), func(t *messages.Template) { t.GiftLimit = actors.GiftLimitMax + 1 }), wantErr: bad},
		{name: "GiftOfferTTLDefault", t: mod(cash(), func(t *messages.Template) { t.GiftOfferTtl = 0 })},
		{name: "GiftOfferTTLMin", t: mod(cash(), func(t *messages.Template) { t.GiftOfferTtl = int64(actors.GiftOfferTTLMin) })},
		{name: "GiftOfferTTLMax", t: mod(cash(), func(t *messages.Template) { t.GiftOfferTtl = int64(actors.GiftOfferTTLMax) })},
		{name: "GiftOfferTTLBelowMin", t: mod(cash(), func(t *messages.Template) { t.GiftOfferTtl = int64(actors.GiftOfferTTLMin) - 1 }), wantErr: bad},
		{name: "GiftOfferTTLOverMax", t: mod(cash(), func(t *messages.Template) { t.GiftOfferTtl = int64(actors.GiftOfferTTLMax) + 1 }), wantErr: bad},
		{name: "GiftOfferTTLNegative", t: mod(cash(), func(t *messages.Template) { t.GiftOfferTtl = -1 }), wantErr: bad},
		{name: "DiscountWithReduction", t: mod(discount(), func(t *messages.Template) { t.ReduceAmount = 10 }), wantErr: bad},
		// validity: fixed range or valid days
		{name: "RangeAndDays", t: mod(cash(), func(t *messages.Template) { t.ValidDays = 1 }), wantErr: bad},
		{name: "UntilOnlyAndDays", t: mod(discount(), func(t *messages.Template) { t.ValidUntil = now }), wantErr: bad},
		{name: "FromOnlyAndDays", t: mod(discount(), func(t *messages.Template) { t.ValidFrom = now }), wantErr: bad},
		{name: "RangeNegativeFrom", t: mod(cash(), func(t *messages.Template) { t.ValidFrom = -1 }), wantErr: bad},
		{name: "RangeEmpty", t: mod(cash(), func(t *messages.Template) { t.ValidUntil = t.ValidFrom }), wantErr: bad},
		{name: "RangeReversed", t: mod(cash(), func(t *messages.Template) { t.ValidUntil = t.ValidFrom - 1 }), wantErr: bad},
		{name: "RangeFromOnly", t: mod(cash(), func(t *messages.Template) { t.ValidUntil = 0 }), wantErr: bad},
		{name: "RangeUntilOnly", t: mod(cash(), func(t *messages.Template) { t.ValidFrom = 0 })},
		{name: "RangeOneNanosecond", t: mod(cash(), func(t *messages.Template) { t.ValidUntil = t.ValidFrom + 1 })},
		{name: "RangeInThePast", t: mod(cash(), func(t *messages.Template) { t.ValidFrom, t.ValidUntil = 1, 2 })},
		{name: "NoValidity", t: mod(discount(), func(t *messages.Template) { t.ValidDays = 0 }), wantErr: bad},
		{name: "TooManyDays", t: mod(discount(), func(t *messages.Template) { t.ValidDays = actors.ValidDaysMax + 1 }), wantErr: bad},
		{name: "OneDay", t: mod(discount(), func(t *messages.Template) { t.ValidDays = 1 })},
		{name: "MaxDays", t: mod(discount(), func(t *messages.Template) { t.ValidDays = actors.ValidDaysMax })},
		// valid as given
		{name: "Cash", t: cash()},
		{name: "Discount", t: discount()},
		{name: "FlagsKept", t: mod(cash(), func(t *messages.Template) { t.CanGift, t.CanShare = true, true })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := proto.Clone(tt.t).(*messages.Template)
			in.Issued, in.CreatedAt = 9, 1 // the caller's counters are ignored
			before := proto.Clone(in)
			got, err := create(nil, in, now)
			if !proto.Equal(in, before) {
				t.Errorf("input mutated: got %v, want %v", in, before)
			}
			checkErr(t, err, tt.wantErr)
			if tt.wantErr != nil {
				if got != nil {
					t.Errorf("template: got %v, want nil", got)
				}
				return
			}
			want := proto.Clone(tt.t).(*messages.Template)
			want.Issued, want.CreatedAt = 0, now
			if len(want.AcceptedMerchants) == 0 {
				want.AcceptedMerchants = []uint64{want.MerchantId}
			}
			if !proto.Equal(got, want) {
				t.Errorf("template: got %v, want %v", got, want)
			}
		})
	}
}

func TestTemplate_DecideCreateExisting(t *testing.T) {
	// stored is cash() as DecideCreate stored it earlier, with cards issued since.
	stored := func() *messages.Template {
		s, err := create(nil, cash(), now-day)
		if err != nil {
			panic(err)
		}
		s.Issued = 2
		return s
	}
	tests := []struct {
		name     string
		existing *messages.Template
		t        *messages.Template
		wantErr  error
	}{
		{name: "IdempotentRetry", existing: stored(), t: cash()},
		{name: "IdempotentRetryExplicitDefaultMerchants", existing: stored(), t: mod(cash(), func(t *messages.Template) { t.AcceptedMerchants = []uint64{10} })},
		{name: "IdempotentRetryIgnoresIssuedAndCreatedAt", existing: stored(), t: mod(cash(), func(t *messages.Template) { t.Issued, t.CreatedAt = 1, 123 })},
		{name: "ConflictTitle", existing: stored(), t: mod(cash(), func(t *messages.Template) { t.Title = "other" }), wantErr: actors.ErrExists},
		{name: "ConflictStock", existing: stored(), t: mod(cash(), func(t *messages.Template) { t.StockTotal = 4 }), wantErr: actors.ErrExists},
		{name: "ConflictMerchants", existing: stored(), t: mod(cash(), func(t *messages.Template) { t.AcceptedMerchants = []uint64{10, 11} }), wantErr: actors.ErrExists},
		{name: "ConflictKind", existing: stored(), t: mod(discount(), func(t *messages.Template) { t.Id = 5 }), wantErr: actors.ErrExists},
		{name: "InvalidRetry", existing: stored(), t: mod(cash(), func(t *messages.Template) { t.MerchantId = 0 }), wantErr: actors.ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := proto.Clone(tt.existing)
			got, err := create(tt.existing, tt.t, now)
			checkErr(t, err, tt.wantErr)
			if got != nil {
				t.Errorf("template: got %v, want nil", got)
			}
			if !proto.Equal(tt.existing, before) {
				t.Errorf("existing mutated: got %v, want %v", tt.existing, before)
			}
		})
	}
}

func TestTemplate_claim(t *testing.T) {
	created := func(t *messages.Template) *messages.Template {
		n, err := create(nil, t, 1)
		if err != nil {
			panic(err)
		}
		return n
	}
	tests := []struct {
		name    string
		t       *messages.Template
		claimed uint32
		code    string
		at      int64
		want    *messages.Card
		wantErr error
	}{
		{name: "UnknownTemplate", t: nil, code: "c", at: now, wantErr: actors.ErrUnknownEntity},
		{name: "StockExhausted", t: mod(created(cash()), func(t *messages.Template) { t.Issued = 3 }), code: "c", at: now, wantErr: actors.ErrStockExhausted},
		{name: "StockExhaustedBeforeLimit", t: mod(created(cash()), func(t *messages.Template) { t.Issued = 3 }), claimed: 2, code: "", at: now + 2*day,
			wantErr: actors.ErrStockExhausted},
		{name: "LimitReached", t: created(cash()), claimed: 2, code: "c", at: now, wantErr: actors.ErrLimitReached},
		{name: "LimitExceeded", t: created(cash()), claimed: 3, code: "c", at: now, wantErr: actors.ErrLimitReached},
		{name: "FixedRangeExpired", t: created(cash()), code: "c", at: now + day, wantErr: actors.ErrTemplateExpired},
		{name: "FixedRangeLongExpired", t: created(cash()), code: "c", at: now + 100*day, wantErr: actors.ErrTemplateExpired},
		{name: "EmptyCode", t: created(cash()), code: "", at: now, wantErr: actors.ErrInvalidArgument},
		{name: "FixedRange", t: mod(created(cash()), func(t *messages.Template) { t.Issued = 1 }), claimed: 1, code: "c2", at: now,
			want: &messages.Card{Id: 5<<32 | 2, TemplateId: 5, OwnerId: user, Code: "c2", State: messages.CardState_CARD_STATE_AVAILABLE,
				ValidFrom: now - day, ValidUntil: now + day, ClaimedAt: now, Kind: cashKind, ReduceAmount: 30, LeastCost: 50,
				AcceptedMerchants: []uint64{10}, MerchantId: 10, ClaimedBy: user}},
		{name: "FixedRangeBeforeItStarts", t: created(cash()), code: "c1", at: now - 2*day,
			want: &messages.Card{Id: 5<<32 | 1, TemplateId: 5, OwnerId: user, Code: "c1", State: messages.CardState_CARD_STATE_AVAILABLE,
				ValidFrom: now - day, ValidUntil: now + day, ClaimedAt: now - 2*day, Kind: cashKind, ReduceAmount: 30, LeastCost: 50,
				AcceptedMerchants: []uint64{10}, MerchantId: 10, ClaimedBy: user}},
		{name: "FixedRangeLastNanosecond", t: created(cash()), code: "c1", at: now + day - 1,
			want: &messages.Card{Id: 5<<32 | 1, TemplateId: 5, OwnerId: user, Code: "c1", State: messages.CardState_CARD_STATE_AVAILABLE,
				ValidFrom: now - day, ValidUntil: now + day, ClaimedAt: now + day - 1, Kind: cashKind, ReduceAmount: 30, LeastCost: 50,
				AcceptedMerchants: []uint64{10}, MerchantId: 10, ClaimedBy: user}},
		{name: "ValidDays", t: mod(created(discount()), func(t *messages.Template) { t.Issued = 41 }), code: "d", at: now,
			want: &messages.Card{Id: 6<<32 | 42, TemplateId: 6, OwnerId: user, Code: "d", State: messages.CardState_CARD_STATE_AVAILABLE,
				ValidFrom: now, ValidUntil: now + 30*day, ClaimedAt: now, Kind: discountKind, DiscountBp: 1500, DiscountCap: 200,
				AcceptedMerchants: []uint64{10, 11, 12}, MerchantId: 10, ClaimedBy: user, CanGift: true, CanShare: true, GiftLimit: 3, GiftOfferTtl: int64(time.Hour)}},
		{name: "ValidDaysNeverExpires", t: created(discount()), code: "d", at: now + 10_000*day,
			want: &messages.Card{Id: 6<<32 | 1, TemplateId: 6, OwnerId: user, Code: "d", State: messages.CardState_CARD_STATE_AVAILABLE,
				ValidFrom: now + 10_000*day, ValidUntil: now + 10_030*day, ClaimedAt: now + 10_000*day, Kind: discountKind, DiscountBp: 1500,
				DiscountCap: 200, AcceptedMerchants: []uint64{10, 11, 12}, MerchantId: 10, ClaimedBy: user, CanGift: true, CanShare: true, GiftLimit: 3, GiftOfferTtl: int64(time.Hour)}},
		{name: "MaxValidDays", t: mod(created(discount()), func(t *messages.Template) { t.ValidDays = actors.ValidDaysMax }), code: "d", at: now,
			want: &messages.Card{Id: 6<<32 | 1, TemplateId: 6, OwnerId: user, Code: "d", State: messages.CardState_CARD_STATE_AVAILABLE,
				ValidFrom: now, ValidUntil: now + actors.ValidDaysMax*day, ClaimedAt: now, Kind: discountKind, DiscountBp: 1500,
				DiscountCap: 200, AcceptedMerchants: []uint64{10, 11, 12}, MerchantId: 10, ClaimedBy: user, CanGift: true, CanShare: true, GiftLimit: 3, GiftOfferTtl: int64(time.Hour)}},
		{name: "LargestIds", t: mod(created(discount()), func(t *messages.Template) {
			t.Id, t.StockTotal, t.Issued = 1<<32-1, actors.TemplateStockMax, actors.TemplateStockMax-1
		}), code: "d", at: now,
			want: &messages.Card{Id: 1<<64 - 1, TemplateId: 1<<32 - 1, OwnerId: user, Code: "d", State: messages.CardState_CARD_STATE_AVAILABLE,
				ValidFrom: now, ValidUntil: now + 30*day, ClaimedAt: now, Kind: discountKind, DiscountBp: 1500, DiscountCap: 200,
				AcceptedMerchants: []uint64{10, 11, 12}, MerchantId: 10, ClaimedBy: user, CanGift: true, CanShare: true, GiftLimit: 3, GiftOfferTtl: int64(time.Hour)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before proto.Message
			if tt.t != nil {
				before = proto.Clone(tt.t)
			}
			got, err := claim(tt.t, tt.claimed, user, tt.code, tt.at)
			if tt.t != nil && !proto.Equal(tt.t, before) {
				t.Errorf("template mutated: got %v, want %v", tt.t, before)
			}
			checkErr(t, err, tt.wantErr)
			if !proto.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
				t.Errorf("card: got %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("AcceptedMerchantsCopied", func(t *testing.T) {
		tmpl := created(discount())
		c, err := claim(tmpl, 0, user, "d", now)
		if err != nil {
			t.Fatalf("err: got %v, want nil", err)
		}
		c.AcceptedMerchants[0] = 99
		if tmpl.AcceptedMerchants[0] != 10 {
			t.Errorf("template accepted merchant: got %d, want 10", tmpl.AcceptedMerchants[0])
		}
	})
}

func TestTemplate_Apply(t *testing.T) {
	t.Run("ClaimsUntilStockExhausted", func(t *testing.T) {
		tmpl, err := create(nil, mod(cash(), func(t *messages.Template) { t.PerUserLimit = 10 }), 1)
		if err != nil {
			t.Fatalf("create: got %v, want nil", err)
		}
		for i := range tmpl.StockTotal {
			if SoldOut(tmpl) {
				t.Fatalf("sold out after %d of %d", i, tmpl.StockTotal)
			}
			c, err := claim(tmpl, i, user, "c", now)
			if err != nil {
				t.Fatalf("claim %d: got %v, want nil", i+1, err)
			}
			if want := tmpl.Id<<32 | uint64(i+1); c.Id != want {
				t.Errorf("claim %d card id: got %#x, want %#x", i+1, c.Id, want)
			}
			s := &State{Template: tmpl}
			Apply(s, Change{Card: c})
			if s.Claimed[user] != 1 {
				t.Errorf("claim count after claim %d: got %d, want 1", i+1, s.Claimed[user])
			}
			if tmpl.Issued != i+1 {
				t.Errorf("issued after claim %d: got %d, want %d", i+1, tmpl.Issued, i+1)
			}
		}
		if _, err := claim(tmpl, 0, user+1, "c", now); !errors.Is(err, actors.ErrStockExhausted) {
			t.Errorf("claim past stock: got %v, want %v", err, actors.ErrStockExhausted)
		}
		// Sold out, the refusal is the same whatever the claimer's count (the actor skips reading it).
		if !SoldOut(tmpl) || SoldOut(nil) {
			t.Errorf("SoldOut(after the stock) = %v, SoldOut(nil) = %v; want true, false", SoldOut(tmpl), SoldOut(nil))
		}
		if _, err := claim(tmpl, tmpl.PerUserLimit, user, "c", now); !errors.Is(err, actors.ErrStockExhausted) {
			t.Errorf("claim past stock by a user at the limit: got %v, want %v", err, actors.ErrStockExhausted)
		}
	})
	tests := []struct {
		name   string
		issued uint32
		cardID uint64
	}{
		{name: "OverStock", issued: 3, cardID: 5<<32 | 4},
		{name: "OutOfOrder", issued: 1, cardID: 5<<32 | 3},
		{name: "Repeated", issued: 1, cardID: 5<<32 | 1},
		{name: "OtherTemplate", issued: 0, cardID: 6<<32 | 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl := mod(cash(), func(t *messages.Template) { t.Issued = tt.issued })
			mustPanic(t, func() { Apply(&State{Template: tmpl}, Change{Card: &messages.Card{Id: tt.cardID}}) })
			if tmpl.Issued != tt.issued {
				t.Errorf("issued after a rejected claim: got %d, want %d", tmpl.Issued, tt.issued)
			}
		})
	}
}

func TestTemplate_Decide(t *testing.T) {
	t.Run("CreateThenClaimThenReward", func(t *testing.T) {
		s := NewState(nil)
		ch, err := Decide(s, Create{Template: cash()}, now)
		if err != nil || ch.Template == nil || s.Template != nil {
			t.Fatalf("create: got %v, %v and state %v; want a template, nil and the state untouched", ch, err, s.Template)
		}
		Apply(s, ch)
		if s.Template != ch.Template {
			t.Fatalf("template after create: got %v, want %v", s.Template, ch.Template)
		}
		if ch, err := Decide(s, Create{Template: cash()}, now+1); err != nil || !ch.IsZero() {
			t.Errorf("create again: got %v, %v; want no change, nil", ch, err)
		}
		ch, err = Decide(s, Claim{User: user, Code: "c1"}, now)
		if err != nil || s.Template.Issued != 0 || len(s.Claimed) != 0 {
			t.Fatalf("claim: got %v, issued %d, counts %v; want nil, 0, none", err, s.Template.Issued, s.Claimed)
		}
		Apply(s, ch)
		if s.Template.Issued != 1 || s.Claimed[user] != 1 || len(s.Rewards) != 0 {
			t.Errorf("after claim: issued %d, count %d, rewards %v; want 1, 1, none", s.Template.Issued, s.Claimed[user], s.Rewards)
		}
		// A reward draws on the stock, not on the limit: the user at the limit still gets one.
		s.Claimed[user] = s.Template.PerUserLimit
		ch, err = Decide(s, ClaimReward{User: user, Key: "u/sharer", Code: "r1"}, now)
		if err != nil || ch.RewardKey != "u/sharer" || ch.Card.Id != 5<<32|2 {
			t.Fatalf("reward: got %v, %v; want card %#x under its key", ch, err, uint64(5<<32|2))
		}
		Apply(s, ch)
		if s.Template.Issued != 2 || s.Claimed[user] != s.Template.PerUserLimit || s.Rewards["u/sharer"] != ch.Card.Id {
			t.Errorf("after reward: issued %d, count %d, rewards %v; want 2, %d, the card", s.Template.Issued, s.Claimed[user], s.Rewards, s.Template.PerUserLimit)
		}
		if _, err := Decide(s, Claim{User: user, Code: "c3"}, now); !errors.Is(err, actors.ErrLimitReached) {
			t.Errorf("claim at the limit: got %v, want %v", err, actors.ErrLimitReached)
		}
		Apply(s, mustDecide(t, s, ClaimReward{User: user + 1, Key: "v/sharer", Code: "r2"}))
		if _, err := Decide(s, ClaimReward{User: user, Key: "w/sharer", Code: "r3"}, now); !errors.Is(err, actors.ErrStockExhausted) {
			t.Errorf("reward past the stock: got %v, want %v", err, actors.ErrStockExhausted)
		}
	})
	t.Run("RewardUnknownTemplate", func(t *testing.T) {
		if _, err := Decide(NewState(nil), ClaimReward{User: user, Key: "k", Code: "c"}, now); !errors.Is(err, actors.ErrUnknownEntity) {
			t.Errorf("err: got %v, want %v", err, actors.ErrUnknownEntity)
		}
	})
}

func mustDecide(t *testing.T, s *State, cmd Command) Change {
	t.Helper()
	ch, err := Decide(s, cmd, now)
	if err != nil {
		t.Fatalf("decide %T: got %v, want nil", cmd, err)
	}
	return ch
}
