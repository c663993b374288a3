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
