package kaquan_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"strings"

	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/messages"
)

// TestCreateParty_Concurrent: racing creations of one id make one party (the losers of another
// kind get ErrExists, same-kind repeats get it back), and creations of many ids run side by side.
func TestCreateParty_Concurrent(t *testing.T) {
	e := MustOpenEngine(t)
	ctx := ctxTimeout(t)
	const racers, ids = 32, 2000
	var wg sync.WaitGroup
	var exists, asUser, asMerchant atomic.Int64
	for i := range racers {
		wg.Go(func() {
			kind := messages.PartyKind_PARTY_KIND_USER
			if i%2 == 1 {
				kind = messages.PartyKind_PARTY_KIND_MERCHANT
			}
			p, err := e.CreateParty(ctx, kaquan.CreateParty{ID: 42, Kind: kind, Name: "racer"})
			switch {
			case errors.Is(err, kaquan.ErrExists):
				exists.Add(1)
			case err != nil:
				t.Error(err)
			case p.Kind == messages.PartyKind_PARTY_KIND_USER:
				asUser.Add(1)
			default:
				asMerchant.Add(1)
			}
		})
	}
	for i := range ids {
		wg.Go(func() {
			if _, err := e.CreateParty(ctx, kaquan.CreateParty{ID: uint64(1000 + i), Kind: messages.PartyKind_PARTY_KIND_USER, Name: "u"}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	p, err := e.Party(ctx, 42)
	if err != nil {
		t.Fatal(err)
	}
	winners := asUser.Load()
	if p.Kind == messages.PartyKind_PARTY_KIND_MERCHANT {
		winners = asMerchant.Load()
	}
	if winners != racers/2 || exists.Load() != racers/2 || asUser.Load()+asMerchant.Load() != racers/2 {
		t.Fatalf("party 42 is a %s: %d user / %d merchant answers, %d ErrExists; want %d of its kind and %d refused",
			p.Kind, asUser.Load(), asMerchant.Load(), exists.Load(), racers/2, racers/2)
	}
	for i := range ids {
		if _, err := e.Party(ctx, uint64(1000+i)); err != nil {
			t.Fatalf("party %d: %v", 1000+i, err)
		}
	}
}

func TestBadInput_Parties(t *testing.T) {
	e := MustOpenEngine(t)
	ctx := ctxTimeout(t)
	w := mustBadWorld(t, e)
	u := w.users[0]
	before := readLedgers(t, e, w.accounts)
	calls := []struct {
		name string
		want error
		call func() error
	}{
		{"Claim by a merchant", kaquan.ErrInvalidArgument, func() error {
			_, err := e.Claim(ctx, kaquan.Claim{Template: w.template, User: w.merchant})
			return err
		}},
		{"CreateParty with id 0", kaquan.ErrInvalidArgument, func() error {
			_, err := e.CreateParty(ctx, kaquan.CreateParty{ID: 0, Kind: messages.PartyKind_PARTY_KIND_USER})
			return err
		}},
		{"CreateParty without a kind", kaquan.ErrInvalidArgument, func() error {
			_, err := e.CreateParty(ctx, kaquan.CreateParty{ID: 5000})
			return err
		}},
		{"CreateParty with kind 99", kaquan.ErrInvalidArgument, func() error {
			_, err := e.CreateParty(ctx, kaquan.CreateParty{ID: 5000, Kind: 99})
			return err
		}},
		{"CreateParty with a 129-byte name", kaquan.ErrInvalidArgument, func() error {
			_, err := e.CreateParty(ctx, kaquan.CreateParty{ID: 5000, Kind: messages.PartyKind_PARTY_KIND_USER, Name: strings.Repeat("n", 129)})
			return err
		}},
		{"CreateParty without a name", kaquan.ErrInvalidArgument, func() error {
			_, err := e.CreateParty(ctx, kaquan.CreateParty{ID: 5000, Kind: messages.PartyKind_PARTY_KIND_USER})
			return err
		}},
		{"CreateParty with NUL in its name", kaquan.ErrInvalidArgument, func() error {
			_, err := e.CreateParty(ctx, kaquan.CreateParty{ID: 5000, Kind: messages.PartyKind_PARTY_KIND_USER, Name: "Ann\x00"})
			return err
		}},
		{"CreateParty with an escape sequence in its name", kaquan.ErrInvalidArgument, func() error {
			_, err := e.CreateParty(ctx, kaquan.CreateParty{ID: 5000, Kind: messages.PartyKind_PARTY_KIND_MERCHANT, Name: "\x1b]0;pwned\x07Tea"})
			return err
		}},
		{"CreateParty with a C1 CSI in its name", kaquan.ErrInvalidArgument, func() error {
			_, err := e.CreateParty(ctx, kaquan.CreateParty{ID: 5000, Kind: messages.PartyKind_PARTY_KIND_USER, Name: "\u009b2J"})
			return err
		}},
		{"CreateParty with a name not UTF-8", kaquan.ErrInvalidArgument, func() error {
			_, err := e.CreateParty(ctx, kaquan.CreateParty{ID: 5000, Kind: messages.PartyKind_PARTY_KIND_USER, Name: "Ann\xff"})
			return err
		}},
		{"CreateParty again as a merchant", kaquan.ErrExists, func() error {
			_, err := e.CreateParty(ctx, kaquan.CreateParty{ID: u, Kind: messages.PartyKind_PARTY_KIND_MERCHANT, Name: "user0"})
			return err
		}},
		{"CreateAccount with id 0", kaquan.ErrInvalidArgument, func() error {
			_, err := e.CreateAccount(ctx, kaquan.CreateAccount{ID: 0, Owner: u})
			return err
		}},
		{"CreateAccount again for another owner", kaquan.ErrExists, func() error {
			_, err := e.CreateAccount(ctx, kaquan.CreateAccount{ID: userAccount(u), Owner: w.users[1]})
			return err
		}},
		{"CreateTemplate for a user", kaquan.ErrInvalidArgument, func() error {
			_, err := e.CreateTemplate(ctx, &messages.Template{Id: 50, MerchantId: u, Kind: messages.TemplateKind_TEMPLATE_KIND_CASH,
				ReduceAmount: 100, StockTotal: 10, PerUserLimit: 1, ValidDays: 1})
			return err
		}},
		{"IssuePaymentCode on another user's account", kaquan.ErrPermissionDenied, func() error {
			_, err := e.IssuePaymentCode(ctx, kaquan.IssuePaymentCode{User: w.users[1], Account: userAccount(u)})
			return err
		}},
		{"IssuePaymentCode by a merchant on a user's account", kaquan.ErrPermissionDenied, func() error {
			_, err := e.IssuePaymentCode(ctx, kaquan.IssuePaymentCode{User: w.merchant, Account: userAccount(u)})
			return err
		}},
		{"VoidCard by another merchant", kaquan.ErrPermissionDenied, func() error {
			c, err := e.Claim(ctx, kaquan.Claim{Template: w.template, User: u})
			if err != nil {
				return err
			}
			_, err = e.VoidCard(ctx, kaquan.VoidCard{Merchant: w.other, Card: c.Id})
			return err
		}},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) { wantErr(t, c.name, c.want, c.call) })
	}
	t.Run("nothing changed", func(t *testing.T) {
		unchanged(t, e, before)
		p := mustV(e.Party(ctx, u))(t)
		if p.Kind != messages.PartyKind_PARTY_KIND_USER {
			t.Errorf("party %d: got kind %s, want USER", u, p.Kind)
		}
		acc := mustV(e.Account(ctx, userAccount(u)))(t)
		if acc.Account.OwnerId != u {
			t.Errorf("account %d: got owner %d, want %d", userAccount(u), acc.Account.OwnerId, u)
		}
		wantErr(t, "party 5000", kaquan.ErrUnknownEntity, func() error { _, err := e.Party(ctx, 5000); return err })
		wantErr(t, "template 50", kaquan.ErrUnknownEntity, func() error { _, err := e.Template(ctx, 50); return err })
		tpl := mustV(e.Template(ctx, w.template))(t)
		if got, want := tpl.Issued, uint32(1); got != want { // the card of the VoidCard case
			t.Errorf("template issued %d, want %d", got, want)
		}
	})
}
