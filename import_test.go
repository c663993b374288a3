package kaquan_test

import (
	"context"
	"errors"
	"testing"

	"math"

	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/messages"
)

// TestImportPopulation: a bulk-loaded population is what the API would have made: the audit holds,
// wallets list the cards, and the cards pay.
func TestImportPopulation(t *testing.T) {
	e := MustOpenEngine(t)
	ctx := ctxTimeout(t)
	w := mustWorld(t, e, 0, 0, 10)
	tpl := &messages.Template{Id: 50, MerchantId: w.merchant, Kind: messages.TemplateKind_TEMPLATE_KIND_CASH, ReduceAmount: 500,
		LeastCost: 2000, StockTotal: 1, PerUserLimit: 3, ValidDays: 30}
	var seen int
	err := e.ImportPopulation(ctx, kaquan.Population{FirstUser: 5000, AccountBase: 9000, Users: 100, Deposit: 10_000, Template: tpl, CardsPerUser: 3},
		func(n int) { seen = n })
	if err != nil {
		t.Fatal(err)
	}
	if seen != 100 {
		t.Errorf("progress saw %d users", seen)
	}
	r := mustAuditOK(t, e)
	if r.Accounts != 101 || r.Cards["AVAILABLE"] != 300 || r.WalletEntries != 300 {
		t.Errorf("audit: %s", r)
	}
	got, err := e.Template(ctx, 50)
	if err != nil || got.Issued != 300 || got.StockTotal != 300 {
		t.Errorf("template: %v %v", got, err)
	}
	ids, _ := e.Wallet(ctx, 5007)
	if len(ids) != 3 || ids[0] != 50<<32|22 {
		t.Errorf("wallet of user 7: %v", ids)
	}
	// The limit of 3 per user holds for imported users too.
	if _, err := e.Claim(ctx, kaquan.Claim{Template: 50, User: 5007}); !errors.Is(err, kaquan.ErrLimitReached) && !errors.Is(err, kaquan.ErrStockExhausted) {
		t.Errorf("claim past the limit: %v", err)
	}
	code, err := e.IssuePaymentCode(ctx, kaquan.IssuePaymentCode{User: 5007, Account: 9007, Card: ids[0]})
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.Pay(ctx, kaquan.Pay{Merchant: w.merchant, MerchantAccount: w.merchantAccount, Code: code.Code, Amount: 3000, Key: "imp"})
	if err != nil || out.Payment.Charged != 2500 {
		t.Fatalf("pay with an imported card: %v %v", out, err)
	}
	mustAuditOK(t, e)
	// A template that exists already is refused.
	if err := e.ImportPopulation(context.Background(), kaquan.Population{FirstUser: 7000, AccountBase: 8000, Users: 1, Template: tpl}, nil); !errors.Is(err, kaquan.ErrExists) {
		t.Errorf("import onto an existing template: %v", err)
	}
}

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
