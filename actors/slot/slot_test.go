package slot

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/kaquan/kaquan/actors"
)

// The golden values below are part of the data format: a cluster's records and codes were placed
// by them. They must never change; a new mapping needs a new layout version.

func TestLayout_Validate(t *testing.T) {
	for _, tc := range []struct {
		l  Layout
		ok bool
	}{
		{Layout{Slots: 64, Nodes: 3}, true},
		{Layout{Slots: 1, Nodes: 1}, true},
		{Layout{Slots: SlotsMax, Nodes: NodesMax}, true},
		{Layout{Slots: 64, Nodes: 64}, true},
		{Layout{Slots: 0, Nodes: 1}, false},
		{Layout{Slots: 48, Nodes: 3}, false}, // not a power of two
		{Layout{Slots: SlotsMax * 2, Nodes: 3}, false},
		{Layout{Slots: 64, Nodes: 0}, false},
		{Layout{Slots: 64, Nodes: 65}, false}, // a node without a slot
		{Layout{Slots: SlotsMax, Nodes: NodesMax + 1}, false},
	} {
		if err := tc.l.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: got %v, want ok=%v", tc.l, err, tc.ok)
		}
	}
	if err := (Node{Layout: Layout{Slots: 64, Nodes: 2}, Ordinal: 2}).Validate(); err == nil {
		t.Error("ordinal 2 of 2 nodes: valid")
	}
}

func TestLayout_Golden(t *testing.T) {
	s64 := Layout{Slots: 64, Nodes: 3}
	s4096 := Layout{Slots: 4096, Nodes: 3}
	one := Layout{Slots: 1, Nodes: 1}
	for _, tc := range []struct {
		name string
		got  uint32
		want uint32
	}{
		{"account 0", s64.OfAccount(0), 0},
		{"account 1", s64.OfAccount(1), 1},
		{"account 63", s64.OfAccount(63), 63},
		{"account 64", s64.OfAccount(64), 0},
		{"account 1000001", s64.OfAccount(1_000_001), 1},
		{"account max", s64.OfAccount(math.MaxUint64), 63},
		{"account 1000001 S4096", s4096.OfAccount(1_000_001), 577},
		{"account max S4096", s4096.OfAccount(math.MaxUint64), 4095},
		{"account S1", one.OfAccount(12345), 0},
		{"party 65", s64.OfParty(65), 1},
		{"template 7", s64.OfTemplate(7), 7},
		{"template 130", s64.OfTemplate(130), 2},
		{"card 7<<32|5", s64.OfCard(7<<32 | 5), 7},
		{"card 100<<32|99", s64.OfCard(100<<32 | 99), 36},
		{"card 1 (template 0)", s64.OfCard(1), 0},
		{"card max", s64.OfCard(math.MaxUint64), 63},
		{"user 66", s64.OfUser(66), 2},
		{"merchant 129", s64.OfMerchant(129), 1},
		{"token 00..05 ff..", s64.OfToken([32]byte{0, 0, 0, 0, 0, 0, 0, 0x45, 0xff}), 5},
		{"token ff..", s64.OfToken([32]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}), 63},
		{"owner of slot 0", s64.NodeOf(0), 0},
		{"owner of slot 1", s64.NodeOf(1), 1},
		{"owner of slot 5", s64.NodeOf(5), 2},
		{"owner of slot 63", s64.NodeOf(63), 0},
		{"owner of slot 4095 S4096", s4096.NodeOf(4095), 0},
		{"owner of slot 4094 S4096", s4096.NodeOf(4094), 2},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %d, want %d", tc.name, tc.got, tc.want)
		}
	}
}

func TestLayout_OfPayment(t *testing.T) {
	l := Layout{Slots: 64, Nodes: 2}
	for _, tc := range []struct {
		key  string
		want uint32
		ok   bool
	}{
		{"1/abc", 1, true},
		{"130/key/with/slashes", 2, true},
		{"18446744073709551615/k", 63, true},
		{"64/", 0, true},
		{"nokey", 0, false},
		{"/k", 0, false},
		{"x/k", 0, false},
		{"-1/k", 0, false},
		{"18446744073709551616/k", 0, false},
	} {
		got, ok := l.OfPayment(tc.key)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%q: got %d %v, want %d %v", tc.key, got, ok, tc.want, tc.ok)
		}
	}
}

func TestLayout_Of(t *testing.T) {
	l := Layout{Slots: 64, Nodes: 2}
	for _, tc := range []struct {
		id   actors.ID
		want uint32
		ok   bool
	}{
		{actors.AccountID(65), 1, true},
		{actors.TemplateID(66), 2, true},
		{actors.CardID(67<<32 | 1), 3, true},
		{actors.PaymentID("68/k"), 4, true},
		{actors.PoolID(69), 5, true},
		{actors.PaymentID("k"), 0, false},
		{actors.ID{Kind: 99, Num: 1}, 0, false},
	} {
		got, ok := l.Of(tc.id)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%v: got %d %v, want %d %v", tc.id, got, ok, tc.want, tc.ok)
		}
	}
}

func TestNode_Record(t *testing.T) {
	n := Node{Layout: Layout{Slots: 64, Nodes: 3}, Ordinal: 2}
	want := []byte{1, 0, 0, 0, 64, 0, 0, 0, 3, 0, 0, 0, 2} // golden: the record on disk
	if got := n.Record(); !bytes.Equal(got, want) {
		t.Fatalf("record: got %v, want %v", got, want)
	}
	back, err := ParseRecord(want)
	if err != nil || back != n {
		t.Fatalf("parse: got %+v %v, want %+v", back, err, n)
	}
	if !n.Owns(2) || !n.Owns(5) || n.Owns(0) || n.Owns(4) {
		t.Error("node 2 of 3 owns slots 2, 5, ... only")
	}
	for _, bad := range [][]byte{nil, {2, 0, 0, 0, 64, 0, 0, 0, 3, 0, 0, 0, 2}, want[:12],
		{1, 0, 0, 0, 64, 0, 0, 0, 3, 0, 0, 0, 3}, {1, 0, 0, 0, 48, 0, 0, 0, 3, 0, 0, 0, 0}} {
		if _, err := ParseRecord(bad); err == nil {
			t.Errorf("%v: parsed", bad)
		}
	}
}

func TestLayout_SlotOfPaymentCode(t *testing.T) {
	s64 := Layout{Slots: 64, Nodes: 2}
	s4096 := Layout{Slots: 4096, Nodes: 2}
	for _, tc := range []struct {
		l    Layout
		code string
		want uint32
		ok   bool
	}{
		{s64, "000000000000000000", 0, true},
		{s64, "000000000000000063", 63, true},
		{s64, "000000000000000064", 0, true},
		{s64, "123456789012345678", 14, true},
		{s64, "999999999999999999", 63, true},
		{s4096, "123456789012345678", 846, true},
		{s4096, "999999999999999999", 4095, true},
		{s64, "12345678901234567", 0, false},
		{s64, "12345678901234567x", 0, false},
		{s64, "1234567890123456789", 0, false},
	} {
		got, ok := tc.l.SlotOfPaymentCode(tc.code)
		if got != tc.want || ok != tc.ok {
			t.Errorf("S=%d %q: got %d %v, want %d %v", tc.l.Slots, tc.code, got, ok, tc.want, tc.ok)
		}
	}
}

func TestLayout_NewPaymentCode(t *testing.T) {
	for _, l := range []Layout{{Slots: 1, Nodes: 1}, {Slots: 64, Nodes: 3}, {Slots: SlotsMax, Nodes: 2}} {
		seen := map[string]bool{}
		leading := map[byte]bool{}
		for s := uint32(0); s < l.Slots; s += 1 + l.Slots/64 {
			for range 20 {
				code := l.NewPaymentCode(s)
				if !actors.IsPaymentCode(code) {
					t.Fatalf("S=%d: %q is not a payment code", l.Slots, code)
				}
				if got, _ := l.SlotOfPaymentCode(code); got != s {
					t.Fatalf("S=%d: %q carries slot %d, want %d", l.Slots, code, got, s)
				}
				if seen[code] {
					t.Fatalf("S=%d: %q drawn twice", l.Slots, code)
				}
				seen[code] = true
				leading[code[0]] = true
			}
		}
		if len(leading) < 5 { // over 1,000 draws every leading digit should appear
			t.Errorf("S=%d: only %d leading digits drawn", l.Slots, len(leading))
		}
	}
}

// fixed is a reader of the bytes 0, 1, 2, ...: a deterministic draw for golden codes.
type fixed struct{ next byte }

func (f *fixed) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = f.next
		f.next++
	}
	return len(p), nil
}

func TestLayout_CardCode(t *testing.T) {
	s64 := Layout{Slots: 64, Nodes: 2}
	s4096 := Layout{Slots: 4096, Nodes: 2}
	// Golden: the residue replaces the low bits of the 80-bit value, nothing else.
	if got := s64.newCardCode(&fixed{}, 5); got != "AAAQEAYEAUDAOCAF" {
		t.Errorf("golden S=64 slot 5: got %q", got)
	}
	if got := s4096.newCardCode(&fixed{}, 4095); got != "AAAQEAYEAUDAOD77" {
		t.Errorf("golden S=4096 slot 4095: got %q", got)
	}
	for _, tc := range []struct {
		l    Layout
		code string
		want uint32
		ok   bool
	}{
		{s64, "AAAAAAAAAAAAAAAA", 0, true},
		{s64, "AAAAAAAAAAAAAABA", 32, true},
		{s64, "MFRGGZDFMZTWQ2LK", 42, true},
		{s4096, "MFRGGZDFMZTWQ2LK", 2410, true},
		{s64, "KAQUANKAQUANKAQU", 20, true},
		{s4096, "7777777777777777", 4095, true},
		{s64, "AAAAAAAAAAAAAAA", 0, false},   // 15 characters
		{s64, "AAAAAAAAAAAAAAA1", 0, false},  // not base32
		{s64, "aaaaaaaaaaaaaaaa", 0, false},  // base32 is upper case
		{s64, "AAAAAAAAAAAAAAAA=", 0, false}, // 17 characters
	} {
		got, ok := tc.l.SlotOfCardCode(tc.code)
		if got != tc.want || ok != tc.ok {
			t.Errorf("S=%d %q: got %d %v, want %d %v", tc.l.Slots, tc.code, got, ok, tc.want, tc.ok)
		}
	}
	// Drawn codes have today's shape and carry their slot.
	shape := actors.NewCardCode()
	for s := uint32(0); s < s64.Slots; s++ {
		code := s64.NewCardCode(s)
		if len(code) != len(shape) || strings.Trim(code, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") != "" {
			t.Fatalf("%q: not the shape of %q", code, shape)
		}
		if got, _ := s64.SlotOfCardCode(code); got != s {
			t.Fatalf("%q carries slot %d, want %d", code, got, s)
		}
	}
}
