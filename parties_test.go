package kaquan_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/messages"
)

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
