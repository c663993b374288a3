package kaquan_test

import (
	"errors"
	"testing"

	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/messages"
)

// Claims check their user's kind from memory after the first read: a merchant stays refused, and a
// user unknown at one claim can claim once created (an unknown id is never remembered).
func TestClaim_PartyKindRemembered(t *testing.T) {
	e := MustOpenEngine(t, inMemory)
	ctx := ctxTimeout(t)
	w := mustWorld(t, e, 1, 0, 10)
	for range 2 {
		if _, err := e.Claim(ctx, kaquan.Claim{Template: w.template, User: w.merchant}); !errors.Is(err, kaquan.ErrInvalidArgument) {
			t.Fatalf("claim by a merchant: %v, want ErrInvalidArgument", err)
		}
	}
	const late = 777
	if _, err := e.Claim(ctx, kaquan.Claim{Template: w.template, User: late}); !errors.Is(err, kaquan.ErrUnknownEntity) {
		t.Fatalf("claim by an unknown user: %v, want ErrUnknownEntity", err)
	}
	must(t)(e.CreateParty(ctx, kaquan.CreateParty{ID: late, Kind: messages.PartyKind_PARTY_KIND_USER, Name: "late"}))
	for range 2 {
		if _, err := e.Claim(ctx, kaquan.Claim{Template: w.template, User: late}); err != nil {
			t.Fatalf("claim once the user exists: %v", err)
		}
	}
}

// TestClaim_SoldOutRemembered: once a template answers that its stock ran out, later claims are
// refused without reaching it (an unknown user too: stock is checked first), also after a reopen
// once the template has said so again; no card is issued past the stock.
func TestClaim_SoldOutRemembered(t *testing.T) {
	dir := t.TempDir()
	e := mustOpenAt(t, dir)
	ctx := ctxTimeout(t)
	w := mustWorld(t, e, 3, 0, 2)
	claim := func(user uint64) error {
		_, err := e.Claim(ctx, kaquan.Claim{Template: w.template, User: user})
		return err
	}
	const unknownUser = 999_999
	if err := claim(unknownUser); !errors.Is(err, kaquan.ErrUnknownEntity) {
		t.Fatalf("unknown user while stock remains: got %v, want ErrUnknownEntity", err)
	}
	for _, u := range w.users[:2] {
		if err := claim(u); err != nil {
			t.Fatal(err)
		}
	}
	if kaquan.SoldOutRemembered(e, w.template) {
		t.Fatal("sold out remembered before any claim was refused")
	}
	// refusedAndRemembered: a claim past the stock is refused, and teaches the engine so.
	refusedAndRemembered := func(when string) {
		t.Helper()
		if err := claim(w.users[2]); !errors.Is(err, kaquan.ErrStockExhausted) {
			t.Fatalf("claim past stock %s: got %v, want ErrStockExhausted", when, err)
		}
		if !kaquan.SoldOutRemembered(e, w.template) {
			t.Fatalf("the refused claim %s did not teach the engine that the template is sold out", when)
		}
	}
	refusedAndRemembered("in the first engine")
	for _, u := range []uint64{w.users[2], w.users[0], unknownUser} {
		if err := claim(u); !errors.Is(err, kaquan.ErrStockExhausted) {
			t.Fatalf("user %d after sell-out: got %v, want ErrStockExhausted", u, err)
		}
	}
	if err := claim(0); !errors.Is(err, kaquan.ErrUnknownEntity) {
		t.Fatalf("user 0 after sell-out: got %v, want ErrUnknownEntity (a zero id is refused first)", err)
	}

	e = reopen(t, dir, e)
	if kaquan.SoldOutRemembered(e, w.template) {
		t.Fatal("a fresh engine remembers a sold-out template it was never told of")
	}
	refusedAndRemembered("after reopen")
	tmpl, err := e.Template(ctx, w.template)
	if err != nil {
		t.Fatal(err)
	}
	if tmpl.Issued != 2 {
		t.Fatalf("issued %d cards from a stock of 2", tmpl.Issued)
	}
	mustAudit(t, e)
}

// TestPartyKinds_RememberedAtCreation: a party's kind is known from its creation, so a first claim
// costs no store read; after a restart it is learnt from the store on first use, and a failed
// creation teaches nothing.
func TestPartyKinds_RememberedAtCreation(t *testing.T) {
	dir := t.TempDir()
	e := mustOpenAt(t, dir)
	ctx := ctxTimeout(t)
	for id, kind := range map[uint64]messages.PartyKind{7: messages.PartyKind_PARTY_KIND_USER, 8: messages.PartyKind_PARTY_KIND_MERCHANT} {
		if _, err := e.CreateParty(ctx, kaquan.CreateParty{ID: id, Kind: kind, Name: "u"}); err != nil {
			t.Fatal(err)
		}
	}
	for id, kind := range map[uint64]messages.PartyKind{7: messages.PartyKind_PARTY_KIND_USER, 8: messages.PartyKind_PARTY_KIND_MERCHANT} {
		if k, ok := kaquan.RememberedKind(e, id); !ok || k != kind {
			t.Fatalf("kind of %d after creation: got %v %v, want %v remembered", id, k, ok, kind)
		}
	}
	if _, err := e.CreateParty(ctx, kaquan.CreateParty{ID: 7, Kind: messages.PartyKind_PARTY_KIND_MERCHANT, Name: "u"}); err == nil {
		t.Fatal("re-creating party 7 as a merchant succeeded")
	}
	if k, _ := kaquan.RememberedKind(e, 7); k != messages.PartyKind_PARTY_KIND_USER {
		t.Fatalf("kind after a refused re-creation: got %v, want USER", k)
	}
	e = reopen(t, dir, e)
	if _, ok := kaquan.RememberedKind(e, 7); ok {
		t.Fatal("a fresh engine remembers a kind it never read")
	}
	tmpl := mustWorld(t, e, 0, 0, 10).template
	if _, err := e.Claim(ctx, kaquan.Claim{Template: tmpl, User: 7}); err != nil {
		t.Fatal(err)
	}
	if k, ok := kaquan.RememberedKind(e, 7); !ok || k != messages.PartyKind_PARTY_KIND_USER {
		t.Fatalf("kind after a claim: got %v %v, want USER remembered", k, ok)
	}
}
