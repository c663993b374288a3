package persistence

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"
)

// testIDs are edge ids plus random ones, from a fixed seed.
func testIDs() []uint64 {
	ids := []uint64{0, 1, 2, 0xff, 0x100, 0xffff, 0x10000, 1<<32 - 1, 1 << 32, 1<<63 - 1, 1 << 63, math.MaxUint64 - 1, math.MaxUint64}
	r := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		ids = append(ids, r.Uint64(), r.Uint64N(1000), r.Uint64()>>r.UintN(64))
	}
	return ids
}

func TestKeys_OrderFollowsIDs(t *testing.T) {
	ids := testIDs()
	single := map[string]func(uint64) []byte{
		"PartyKey": PartyKey, "AccountKey": AccountKey, "TemplateKey": TemplateKey, "CardKey": CardKey,
		"LedgerPrefix": LedgerPrefix, "WalletPrefix": WalletPrefix,
	}
	pair := map[string]func(uint64, uint64) []byte{
		"LedgerKey": LedgerKey, "WalletKey": WalletKey, "ClaimCountKey": ClaimCountKey,
	}
	for _, a := range ids {
		for _, b := range ids {
			if a >= b {
				continue
			}
			for name, f := range single {
				if bytes.Compare(f(a), f(b)) >= 0 {
					t.Errorf("%s(%d) = %x not below %s(%d) = %x", name, a, f(a), name, b, f(b))
				}
			}
			for name, f := range pair {
				for _, outer := range []uint64{0, 7, math.MaxUint64} {
					if bytes.Compare(f(outer, a), f(outer, b)) >= 0 {
						t.Errorf("%s(%d, %d) not below %s(%d, %d)", name, outer, a, name, outer, b)
					}
				}
				// The first id orders before the second: all of a's keys come before any of b's.
				if bytes.Compare(f(a, math.MaxUint64), f(b, 0)) >= 0 {
					t.Errorf("%s(%d, max) not below %s(%d, 0)", name, a, name, b)
				}
			}
		}
	}
}

func TestKeys_PrefixesAndLayout(t *testing.T) {
	// Every record kind has its own prefix byte.
	prefixes := map[byte]string{}
	for name, p := range map[string]byte{
		"Party": PrefixParty, "Account": PrefixAccount, "Ledger": PrefixLedger, "Template": PrefixTemplate,
		"ClaimCount": PrefixClaimCount, "Card": PrefixCard, "CardCode": PrefixCardCode, "Wallet": PrefixWallet,
		"PaymentCode": PrefixPaymentCode, "CodeExpiry": PrefixCodeExpiry, "Payment": PrefixPayment, "Transfer": PrefixTransfer, "EngineMarker": PrefixEngineMarker,
		"Gift": PrefixGift, "Image": PrefixImage, "ImageChunk": PrefixImageChunk, "GiftOffer": PrefixGiftOffer,
		"PoolEntry": PrefixPoolEntry, "Contact": PrefixContact, "Reward": PrefixReward, "RewardClaim": PrefixRewardClaim,
		"Acceptance": PrefixAcceptance, "Token": PrefixToken,
	} {
		if other, dup := prefixes[p]; dup {
			t.Errorf("prefix %q used by %s and %s", p, name, other)
		}
		prefixes[p] = name
	}
	for _, c := range []struct {
		name   string
		key    []byte
		prefix byte
		length int
	}{
		{"PartyKey", PartyKey(1), PrefixParty, 9},
		{"AccountKey", AccountKey(1), PrefixAccount, 9},
		{"LedgerKey", LedgerKey(1, 2), PrefixLedger, 17},
		{"LedgerPrefix", LedgerPrefix(1), PrefixLedger, 9},
		{"TemplateKey", TemplateKey(1), PrefixTemplate, 9},
		{"ClaimCountKey", ClaimCountKey(1, 2), PrefixClaimCount, 17},
		{"CardKey", CardKey(1), PrefixCard, 9},
		{"CardCodeKey", CardCodeKey("ABC"), PrefixCardCode, 4},
		{"WalletKey", WalletKey(1, 2), PrefixWallet, 17},
		{"WalletPrefix", WalletPrefix(1), PrefixWallet, 9},
		{"PaymentCodeKey", PaymentCodeKey("pc"), PrefixPaymentCode, 3},
		{"CodeExpiryKey", CodeExpiryKey(1, "pc"), PrefixCodeExpiry, 11},
		{"PaymentKey", PaymentKey("pay-1"), PrefixPayment, 6},
		{"TransferKey", TransferKey(1, "tr"), PrefixTransfer, 11},
		{"MarkerKey", MarkerKey("clean"), PrefixEngineMarker, 6},
		{"AcceptanceKey", AcceptanceKey(1, 2), PrefixAcceptance, 17},
	} {
		if got, want := c.key[0], c.prefix; got != want {
			t.Errorf("%s prefix = %q, want %q", c.name, got, want)
		}
		if got, want := len(c.key), c.length; got != want {
			t.Errorf("len(%s) = %d, want %d", c.name, got, want)
		}
	}
	if got, want := string(CardCodeKey("ABC")[1:]), "ABC"; got != want {
		t.Errorf("CardCodeKey suffix = %q, want %q", got, want)
	}
	if got, want := string(TransferKey(5, "tr")[9:]), "tr"; got != want {
		t.Errorf("TransferKey suffix = %q, want %q", got, want)
	}
	if a, i, ok := AcceptanceOfKey(AcceptanceKey(7, 1<<40)); !ok || a != 7 || i != 1<<40 {
		t.Errorf("AcceptanceOfKey(AcceptanceKey(7, 2^40)) = %d, %d, %v", a, i, ok)
	}
	if _, _, ok := AcceptanceOfKey(WalletKey(7, 1)); ok {
		t.Error("a wallet key read as an acceptance")
	}
}

func TestKeys_LedgerAndWalletPrefix(t *testing.T) {
	for _, acct := range testIDs() {
		for _, n := range []uint64{0, 1, acct, math.MaxUint64} {
			if !bytes.HasPrefix(LedgerKey(acct, n), LedgerPrefix(acct)) {
				t.Errorf("LedgerPrefix(%d) is not a prefix of LedgerKey(%d, %d)", acct, acct, n)
			}
			if !bytes.HasPrefix(WalletKey(acct, n), WalletPrefix(acct)) {
				t.Errorf("WalletPrefix(%d) is not a prefix of WalletKey(%d, %d)", acct, acct, n)
			}
			if acct < math.MaxUint64 {
				if bytes.HasPrefix(LedgerKey(acct+1, n), LedgerPrefix(acct)) {
					t.Errorf("LedgerPrefix(%d) is a prefix of LedgerKey(%d, %d)", acct, acct+1, n)
				}
				if bytes.HasPrefix(WalletKey(acct+1, n), WalletPrefix(acct)) {
					t.Errorf("WalletPrefix(%d) is a prefix of WalletKey(%d, %d)", acct, acct+1, n)
				}
			}
			if acct > 0 && bytes.HasPrefix(LedgerKey(acct-1, n), LedgerPrefix(acct)) {
				t.Errorf("LedgerPrefix(%d) is a prefix of LedgerKey(%d, %d)", acct, acct-1, n)
			}
			if bytes.HasPrefix(TransferKey(acct, "x"), LedgerPrefix(acct)) || bytes.HasPrefix(AccountKey(acct), LedgerPrefix(acct)) {
				t.Errorf("LedgerPrefix(%d) matches a key of another kind", acct)
			}
		}
	}
}

func TestKeys_Uint64RoundTrip(t *testing.T) {
	for _, v := range testIDs() {
		b := Uint64(v)
		if len(b) != 8 {
			t.Fatalf("len(Uint64(%d)) = %d, want 8", v, len(b))
		}
		got, ok := ParseUint64(b)
		if !ok || got != v {
			t.Errorf("ParseUint64(Uint64(%d)) = %d, %v; want %d, true", v, got, ok, v)
		}
	}
	for _, b := range [][]byte{nil, {}, {1}, make([]byte, 7), make([]byte, 9), make([]byte, 16)} {
		if got, ok := ParseUint64(b); ok || got != 0 {
			t.Errorf("ParseUint64(%d bytes) = %d, %v; want 0, false", len(b), got, ok)
		}
	}
	// Big-endian: encoded values sort like the numbers.
	if bytes.Compare(Uint64(255), Uint64(256)) >= 0 {
		t.Errorf("Uint64(255) = %x not below Uint64(256) = %x", Uint64(255), Uint64(256))
	}
}

func TestKeys_ParseID(t *testing.T) {
	for _, a := range testIDs() {
		for _, b := range []uint64{0, 3, a, math.MaxUint64} {
			for name, k := range map[string][]byte{
				"LedgerKey": LedgerKey(a, b), "WalletKey": WalletKey(a, b), "ClaimCountKey": ClaimCountKey(a, b),
			} {
				if got := parseID(k, 1); got != a {
					t.Errorf("parseID(%s(%d, %d), 1) = %d, want %d", name, a, b, got, a)
				}
				if got := parseID(k, 9); got != b {
					t.Errorf("parseID(%s(%d, %d), 9) = %d, want %d", name, a, b, got, b)
				}
			}
		}
		for name, k := range map[string][]byte{
			"PartyKey": PartyKey(a), "AccountKey": AccountKey(a), "CardKey": CardKey(a),
			"TemplateKey": TemplateKey(a), "TransferKey": TransferKey(a, "t"),
		} {
			if got := parseID(k, 1); got != a {
				t.Errorf("parseID(%s(%d), 1) = %d, want %d", name, a, got, a)
			}
		}
	}
}

// Each parser reads back what its builder took.
func TestKeys_ParsersRoundTrip(t *testing.T) {
	for _, a := range testIDs() {
		for _, b := range []uint64{0, 3, a, math.MaxUint64} {
			if got := WalletCardOf(WalletKey(a, b)); got != b {
				t.Errorf("WalletCardOf(WalletKey(%d, %d)) = %d, want %d", a, b, got, b)
			}
			if got := ContactOf(ContactKey(a, b)); got != b {
				t.Errorf("ContactOf(ContactKey(%d, %d)) = %d, want %d", a, b, got, b)
			}
			expiresAt := int64(a >> 1) // never negative
			expires, card := GiftOfferOf(GiftOfferKey(expiresAt, b))
			if expires != expiresAt || card != b {
				t.Errorf("GiftOfferOf(GiftOfferKey(%d, %d)) = %d, %d; want %d, %d", expiresAt, b, expires, card, expiresAt, b)
			}
			const code = "123456789012345678"
			if expires, got := CodeExpiryOf(CodeExpiryKey(expiresAt, code)); expires != expiresAt || got != code {
				t.Errorf("CodeExpiryOf(CodeExpiryKey(%d, %q)) = %d, %q", expiresAt, code, expires, got)
			}
		}
	}
	// The index is ordered by expiry first, so a sweep stops at the first code not yet due.
	if a, b := CodeExpiryKey(1, "999999999999999999"), CodeExpiryKey(256, "000000000000000000"); bytes.Compare(a, b) >= 0 {
		t.Errorf("CodeExpiryKey(1, ...) sorts after CodeExpiryKey(256, ...)")
	}
}

// A key of another kind is a bug: the parser panics rather than read ids that are not there.
func TestKeys_ParserRefusesOtherKinds(t *testing.T) {
	for name, parse := range map[string]func(){
		"WalletCardOf(ContactKey)":     func() { WalletCardOf(ContactKey(1, 2)) },
		"ContactOf(ContactPrefix)":     func() { ContactOf(ContactPrefix(1)) },
		"GiftOfferOf(TransferKey)":     func() { GiftOfferOf(TransferKey(1, "12345678")) },
		"WalletCardOf(nil)":            func() { WalletCardOf(nil) },
		"ContactOf(a longer key)":      func() { ContactOf(append(ContactKey(1, 2), 0)) },
		"GiftOfferOf(WalletKey)":       func() { GiftOfferOf(WalletKey(1, 2)) },
		"CodeExpiryOf(PaymentCodeKey)": func() { CodeExpiryOf(PaymentCodeKey("123456789012345678")) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", name)
				}
			}()
			parse()
		}()
	}
}
