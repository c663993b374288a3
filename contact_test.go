package kaquan_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/kaquan/kaquan"
)

// TestContact_MutualAndRemoved: a contact is mutual, listed in id order on both sides, gone from
// both at once when removed (also across a restart), and bad pairs change nothing.
func TestContact_MutualAndRemoved(t *testing.T) {
	dir := t.TempDir()
	e := mustOpenAt(t, dir)
	w := mustWorld(t, e, 3, 0, 10)
	a, b, c := w.users[0], w.users[1], w.users[2]
	ctx := ctxTimeout(t)
	for _, p := range []kaquan.ContactPair{{A: a, B: c}, {A: b, B: a}} {
		if err := e.AddContact(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	contacts := func(e *kaquan.Engine, u uint64) []uint64 {
		t.Helper()
		ids, err := e.Contacts(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	if got, want := contacts(e, a), []uint64{b, c}; !slices.Equal(got, want) {
		t.Errorf("contacts of %d: %v, want %v", a, got, want)
	}
	if got, want := contacts(e, b), []uint64{a}; !slices.Equal(got, want) {
		t.Errorf("contacts of %d: %v, want %v", b, got, want)
	}
	if err := e.RemoveContact(ctx, kaquan.ContactPair{A: c, B: a}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct {
		pair kaquan.ContactPair
		want error
	}{
		{kaquan.ContactPair{A: a, B: a}, kaquan.ErrInvalidArgument},          // oneself
		{kaquan.ContactPair{A: a, B: w.merchant}, kaquan.ErrInvalidArgument}, // a merchant
		{kaquan.ContactPair{A: a, B: 999}, kaquan.ErrUnknownEntity},          // nobody
	} {
		if err := e.AddContact(ctx, bad.pair); !errors.Is(err, bad.want) {
			t.Errorf("AddContact(%v): %v, want %v", bad.pair, err, bad.want)
		}
	}
	e = reopen(t, dir, e)
	if got, want := contacts(e, a), []uint64{b}; !slices.Equal(got, want) {
		t.Errorf("after removal and restart, contacts of %d: %v, want %v", a, got, want)
	}
	if got := contacts(e, c); len(got) != 0 {
		t.Errorf("after removal, contacts of %d: %v", c, got)
	}
}
