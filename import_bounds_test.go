package kaquan_test

import (
	"errors"
	"math"
	"testing"

	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/messages"
)

// TestImport_CardsOverflow: a population whose card count overflows int (4 users with 2^62 cards
// each multiply to 0) is refused as invalid, as are counts just over the bound.
func TestImport_CardsOverflow(t *testing.T) {
	e := MustOpenEngine(t, inMemory)
	ctx := ctxTimeout(t)
	w := mustWorld(t, e, 0, 0, 10)
	for _, c := range []struct{ users, cards int }{
		{4, 1 << 62},
		{1 << 20, 1 << 44},
		{1, kaquan.ImportCardsMax + 1},
		{10, kaquan.ImportCardsMax/10 + 1},
		{3, math.MaxInt},
	} {
		tpl := &messages.Template{Id: 51, MerchantId: w.merchant, Kind: messages.TemplateKind_TEMPLATE_KIND_CASH, ReduceAmount: 1,
			StockTotal: 1000, PerUserLimit: 1 << 31, ValidDays: 30}
		err := e.ImportPopulation(ctx, kaquan.Population{FirstUser: 5000, AccountBase: 9000, Users: c.users, Template: tpl, CardsPerUser: c.cards}, nil)
		if !errors.Is(err, kaquan.ErrInvalidArgument) {
			t.Errorf("%d users x %d cards: got %v, want ErrInvalidArgument", c.users, c.cards, err)
		}
	}
}

// TestImport_IDsWrap: user or account ids that would pass 2^64-1 (and wrap to party 0 and
// account 0) are refused, and nothing is written; the last ids that fit are accepted.
func TestImport_IDsWrap(t *testing.T) {
	e := MustOpenEngine(t, inMemory)
	ctx := ctxTimeout(t)
	w := mustWorld(t, e, 0, 0, 10)
	tpl := func(id uint64) *messages.Template {
		return &messages.Template{Id: id, MerchantId: w.merchant, Kind: messages.TemplateKind_TEMPLATE_KIND_CASH, ReduceAmount: 1,
			StockTotal: 2, PerUserLimit: 1, ValidDays: 30}
	}
	for _, p := range []kaquan.Population{
		{FirstUser: math.MaxUint64, AccountBase: math.MaxUint64, Users: 2, Template: tpl(53)},
		{FirstUser: math.MaxUint64, AccountBase: 9000, Users: 2, Template: tpl(53)},
		{FirstUser: 5000, AccountBase: math.MaxUint64 - 1, Users: 3, Template: tpl(53)},
	} {
		err := e.ImportPopulation(ctx, p, nil)
		if !errors.Is(err, kaquan.ErrInvalidArgument) {
			t.Errorf("users %d.. and accounts %d.., %d of them: got %v, want ErrInvalidArgument", p.FirstUser, p.AccountBase, p.Users, err)
		}
	}
	if p, err := e.Party(ctx, 0); err == nil {
		t.Errorf("party 0: got %v, want none", p)
	}
	if a, err := e.Account(ctx, 0); err == nil {
		t.Errorf("account 0: got %v, want none", a.Account)
	}
	last := kaquan.Population{FirstUser: math.MaxUint64 - 1, AccountBase: math.MaxUint64 - 1, Users: 2, Template: tpl(54)}
	if err := e.ImportPopulation(ctx, last, nil); err != nil {
		t.Errorf("users and accounts 2^64-2 and 2^64-1: got %v, want them imported", err)
	}
}
