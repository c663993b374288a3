package kaquan_test

import (
	"testing"

	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/messages"
)

// TestPartyKinds_RememberedAtCreation: a party's kind is known from its creation, so a first claim
// costs no store read; after a restart it is learnt from the store on first use, and a failed
// creation teaches nothing.
func TestPartyKinds_RememberedAtCreation(t *testing.T) {
	dir := t.TempDir()
	e, err := kaquan.Open(dir, kaquan.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxTimeout(t)
	if _, err := e.CreateParty(ctx, kaquan.CreateParty{ID: 7, Kind: messages.PartyKind_PARTY_KIND_USER, Name: "u"}); err != nil {
		t.Fatal(err)
	}
	if k, ok := kaquan.RememberedKind(e, 7); !ok || k != messages.PartyKind_PARTY_KIND_USER {
		t.Fatalf("kind after creation: got %v %v, want USER remembered", k, ok)
	}
	if _, err := e.CreateParty(ctx, kaquan.CreateParty{ID: 7, Kind: messages.PartyKind_PARTY_KIND_MERCHANT, Name: "u"}); err == nil {
		t.Fatal("re-creating party 7 as a merchant succeeded")
	}
	if k, _ := kaquan.RememberedKind(e, 7); k != messages.PartyKind_PARTY_KIND_USER {
		t.Fatalf("kind after a refused re-creation: got %v, want USER", k)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	e, err = kaquan.Open(dir, kaquan.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
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
