package kaquan_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/messages"
)

func TestBadInput_Templates(t *testing.T) {
	e := MustOpenEngine(t)
	ctx := ctxTimeout(t)
	w := mustBadWorld(t, e)
	now := time.Now().UnixNano()
	valid := func() *messages.Template {
		return &messages.Template{Id: 70, MerchantId: w.merchant, Kind: messages.TemplateKind_TEMPLATE_KIND_CASH,
			ReduceAmount: 500, LeastCost: 2000, StockTotal: 10, PerUserLimit: 1, ValidDays: 30}
	}
	discount := func() *messages.Template {
		t := valid()
		t.Kind, t.ReduceAmount, t.DiscountBp, t.DiscountCap = messages.TemplateKind_TEMPLATE_KIND_DISCOUNT, 0, 1000, 0
		return t
	}
	tooMany := make([]uint64, actors.AcceptedMerchantsMax+1)
	for i := range tooMany {
		tooMany[i] = uint64(i + 1)
	}
	cases := map[string]func(*messages.Template){
		"id 0":                             func(t *messages.Template) { t.Id = 0 },
		"id 2^32":                          func(t *messages.Template) { t.Id = 1 << 32 },
		"no kind":                          func(t *messages.Template) { t.Kind = messages.TemplateKind_TEMPLATE_KIND_UNSPECIFIED },
		"kind 99":                          func(t *messages.Template) { t.Kind = 99 },
		"stock 0":                          func(t *messages.Template) { t.StockTotal = 0 },
		"per-user limit 0":                 func(t *messages.Template) { t.PerUserLimit = 0 },
		"negative least cost":              func(t *messages.Template) { t.LeastCost = -1 },
		"least cost above AmountMax":       func(t *messages.Template) { t.LeastCost = actors.AmountMax + 1 },
		"CASH reducing 0":                  func(t *messages.Template) { t.ReduceAmount = 0 },
		"CASH reducing a negative amount":  func(t *messages.Template) { t.ReduceAmount = -500 },
		"CASH reducing math.MaxInt64":      func(t *messages.Template) { t.ReduceAmount = math.MaxInt64 },
		"CASH with a percentage":           func(t *messages.Template) { t.DiscountBp = 100 },
		"CASH with a cap":                  func(t *messages.Template) { t.DiscountCap = 100 },
		"no validity":                      func(t *messages.Template) { t.ValidDays = 0 },
		"3661 valid days":                  func(t *messages.Template) { t.ValidDays = actors.ValidDaysMax + 1 },
		"both days and a range":            func(t *messages.Template) { t.ValidFrom, t.ValidUntil = now, now+1 },
		"an empty range":                   func(t *messages.Template) { t.ValidDays, t.ValidFrom, t.ValidUntil = 0, now, now },
		"a reversed range":                 func(t *messages.Template) { t.ValidDays, t.ValidFrom, t.ValidUntil = 0, now, now-1 },
		"a range from before 1970":         func(t *messages.Template) { t.ValidDays, t.ValidFrom, t.ValidUntil = 0, -10, now },
		"a 129-byte title":                 func(t *messages.Template) { t.Title = strings.Repeat("t", actors.NameBytesMax+1) },
		"257 accepted merchants":           func(t *messages.Template) { t.AcceptedMerchants = tooMany },
		"DISCOUNT with 0 basis points":     func(t *messages.Template) { *t = *discount(); t.DiscountBp = 0 },
		"DISCOUNT with 10000 basis points": func(t *messages.Template) { *t = *discount(); t.DiscountBp = 10_000 },
		"DISCOUNT with negative bp":        func(t *messages.Template) { *t = *discount(); t.DiscountBp = -1 },
		"DISCOUNT with a negative cap":     func(t *messages.Template) { *t = *discount(); t.DiscountCap = -1 },
		"DISCOUNT with a fixed reduction":  func(t *messages.Template) { *t = *discount(); t.ReduceAmount = 1 },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			tpl := valid()
			mutate(tpl)
			wantErr(t, "create", kaquan.ErrInvalidArgument, func() error { _, err := e.CreateTemplate(ctx, tpl); return err })
		})
	}
	t.Run("no template", func(t *testing.T) {
		wantErr(t, "create", kaquan.ErrInvalidArgument, func() error { _, err := e.CreateTemplate(ctx, nil); return err })
	})
	t.Run("nothing was created", func(t *testing.T) {
		wantErr(t, "template 70", kaquan.ErrUnknownEntity, func() error { _, err := e.Template(ctx, 70); return err })
		mustEngineOK(t, e)
		if r := mustAudit(t, e); r.Templates != 1 {
			t.Errorf("audit: got %d templates, want 1", r.Templates)
		}
	})
	t.Run("the same id with other fields", func(t *testing.T) {
		must(t)(e.CreateTemplate(ctx, valid()))
		if _, err := e.CreateTemplate(ctx, valid()); err != nil {
			t.Errorf("create again with the same fields: got %v, want the template", err)
		}
		changed := valid()
		changed.StockTotal++
		wantErr(t, "create", kaquan.ErrExists, func() error { _, err := e.CreateTemplate(ctx, changed); return err })
		if tpl := mustV(e.Template(ctx, 70))(t); tpl.StockTotal != 10 {
			t.Errorf("template: got stock %d, want 10", tpl.StockTotal)
		}
		wantErr(t, "create the world's template id for another merchant", kaquan.ErrExists, func() error {
			tpl := valid()
			tpl.Id, tpl.MerchantId = w.template, w.other
			_, err := e.CreateTemplate(ctx, tpl)
			return err
		})
	})
}
