package kaquan_test

import (
	"errors"
	"testing"

	"github.com/kaquan/kaquan"
)

// TestClaim_SoldOutRemembered: once a template answers that its stock ran out, later claims are
// refused without reaching it (an unknown user too: stock is checked first), also after a reopen
// once the template has said so again; no card is issued past the stock.
func TestClaim_SoldOutRemembered(t *testing.T) {
	dir := t.TempDir()
	e, err := kaquan.Open(dir, kaquan.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxTimeout(t)
	w := mustWorld(t, e, 3, 0, 2)
	const unknownUser = 999_999
	if _, err := e.Claim(ctx, kaquan.Claim{Template: w.template, User: unknownUser}); !errors.Is(err, kaquan.ErrUnknownEntity) {
		t.Fatalf("unknown user while stock remains: got %v, want ErrUnknownEntity", err)
	}
	for _, u := range w.users[:2] {
		if _, err := e.Claim(ctx, kaquan.Claim{Template: w.template, User: u}); err != nil {
			t.Fatal(err)
		}
	}
	if kaquan.SoldOutRemembered(e, w.template) {
		t.Fatal("sold out remembered before any claim was refused")
	}
	if _, err := e.Claim(ctx, kaquan.Claim{Template: w.template, User: w.users[2]}); !errors.Is(err, kaquan.ErrStockExhausted) {
		t.Fatalf("claim past stock: got %v, want ErrStockExhausted", err)
	}
	if !kaquan.SoldOutRemembered(e, w.template) {
		t.Fatal("the refused claim did not teach the engine that the template is sold out")
	}
	for _, u := range []uint64{w.users[2], w.users[0], unknownUser} {
		if _, err := e.Claim(ctx, kaquan.Claim{Template: w.template, User: u}); !errors.Is(err, kaquan.ErrStockExhausted) {
			t.Fatalf("user %d after sell-out: got %v, want ErrStockExhausted", u, err)
		}
	}
	if _, err := e.Claim(ctx, kaquan.Claim{Template: w.template, User: 0}); !errors.Is(err, kaquan.ErrUnknownEntity) {
		t.Fatalf("user 0 after sell-out: got %v, want ErrUnknownEntity (a zero id is refused first)", err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	e, err = kaquan.Open(dir, kaquan.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if kaquan.SoldOutRemembered(e, w.template) {
		t.Fatal("a fresh engine remembers a sold-out template it was never told of")
	}
	if _, err := e.Claim(ctx, kaquan.Claim{Template: w.template, User: w.users[2]}); !errors.Is(err, kaquan.ErrStockExhausted) {
		t.Fatalf("claim past stock after reopen: got %v, want ErrStockExhausted", err)
	}
	if !kaquan.SoldOutRemembered(e, w.template) {
		t.Fatal("not remembered after reopen and a refused claim")
	}
	tmpl, err := e.Template(ctx, w.template)
	if err != nil {
		t.Fatal(err)
	}
	if tmpl.Issued != 2 {
		t.Fatalf("issued %d cards from a stock of 2", tmpl.Issued)
	}
	mustAudit(t, e)
}
