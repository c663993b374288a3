package persistence

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// putAll writes entries through a fresh writer and waits for them to be durable.
func putAll(t *testing.T, s *Store, entries ...Entry) {
	t.Helper()
	w, err := NewWriter(s, DefaultWriterConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := submitWait(t, w, entries...); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestStore_GetMissing(t *testing.T) {
	s := openTestStore(t, "", DurabilityMemory)
	if v, err := s.Get(AccountKey(1)); !errors.Is(err, ErrNotFound) || v != nil {
		t.Fatalf("Get(missing) = %q, %v; want nil, ErrNotFound", v, err)
	}
	putAll(t, s, Entry{Key: AccountKey(1), Value: []byte("one")})
	if got, want := mustGet(t, s, AccountKey(1)), []byte("one"); !bytes.Equal(got, want) {
		t.Fatalf("Get = %q, want %q", got, want)
	}
	mustMissing(t, s, AccountKey(2))
	mustMissing(t, s, AccountKey(0))
}

func TestStore_GetProto(t *testing.T) {
	s := openTestStore(t, "", DurabilityMemory)
	in := wrapperspb.String("hello, ledger")
	b, err := proto.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	putAll(t, s, Entry{Key: TemplateKey(5), Value: b}, Entry{Key: TemplateKey(6), Value: []byte{0xff, 0xff, 0xff}})

	var out wrapperspb.StringValue
	if err := s.GetProto(TemplateKey(5), &out); err != nil {
		t.Fatalf("GetProto: %v", err)
	}
	if got, want := out.GetValue(), in.GetValue(); got != want {
		t.Fatalf("GetProto value = %q, want %q", got, want)
	}
	if err := s.GetProto(TemplateKey(7), &out); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetProto(missing) = %v, want ErrNotFound", err)
	}
	err = s.GetProto(TemplateKey(6), &out)
	if err == nil || errors.Is(err, ErrNotFound) {
		t.Fatalf("GetProto(garbage) = %v, want a decode error", err)
	}
}

func TestStore_Scan(t *testing.T) {
	s := openTestStore(t, "", DurabilityMemory)
	// Keys of the scanned account, interleaved with keys of the neighbouring accounts and prefixes.
	const acct = 42
	var want [][]byte
	var entries []Entry
	for _, seq := range []uint64{0, 1, 2, 255, 256, 1 << 32, 1<<64 - 1} {
		k := LedgerKey(acct, seq)
		want = append(want, k)
		entries = append(entries, Entry{Key: k, Value: []byte(fmt.Sprint(seq))})
	}
	for _, k := range [][]byte{
		LedgerKey(acct-1, 1<<64-1), LedgerKey(acct+1, 0), LedgerPrefix(acct + 1),
		AccountKey(acct), {PrefixLedger - 1, 0xff}, {PrefixLedger + 1}, {PrefixLedger + 1, 0},
	} {
		entries = append(entries, Entry{Key: k, Value: []byte("neighbour")})
	}
	putAll(t, s, entries...)

	for _, reverse := range []bool{false, true} {
		var got [][]byte
		err := s.Scan(LedgerPrefix(acct), reverse, func(k, v []byte) (bool, error) {
			got = append(got, k)
			if seq := parseID(k, 9); string(v) != fmt.Sprint(seq) {
				t.Errorf("reverse %v: value of seq %d = %q", reverse, seq, v)
			}
			return true, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		exp := want
		if reverse {
			exp = make([][]byte, len(want))
			for i, k := range want {
				exp[len(want)-1-i] = k
			}
		}
		if g, w := fmt.Sprintf("%x", got), fmt.Sprintf("%x", exp); g != w {
			t.Errorf("Scan(reverse %v) keys = %s, want %s", reverse, g, w)
		}
		// Keys handed to fn are copies: still intact after the scan.
		for i, k := range got {
			if !bytes.Equal(k, exp[i]) {
				t.Errorf("reverse %v: kept key %d = %x, want %x", reverse, i, k, exp[i])
			}
		}

		// Early stop: fn returning false ends the scan.
		n := 0
		err = s.Scan(LedgerPrefix(acct), reverse, func(k, _ []byte) (bool, error) {
			n++
			return n < 3, nil
		})
		if err != nil || n != 3 {
			t.Errorf("Scan(reverse %v) stopping at the 3rd key: %d calls, %v; want 3, nil", reverse, n, err)
		}
		// An error from fn ends the scan and is returned.
		boom := errors.New("boom")
		n = 0
		err = s.Scan(LedgerPrefix(acct), reverse, func(k, _ []byte) (bool, error) {
			n++
			return true, boom
		})
		if !errors.Is(err, boom) || n != 1 {
			t.Errorf("Scan(reverse %v) with failing fn: %d calls, %v; want 1, boom", reverse, n, err)
		}
		// A prefix with no keys visits nothing, even between populated neighbours.
		err = s.Scan(LedgerPrefix(acct-2), reverse, func(k, _ []byte) (bool, error) {
			t.Errorf("Scan(empty prefix, reverse %v) visited %x", reverse, k)
			return true, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	// The whole ledger prefix: every ledger key of every account, none of the other prefixes.
	for _, reverse := range []bool{false, true} {
		var got [][]byte
		if err := s.Scan([]byte{PrefixLedger}, reverse, func(k, _ []byte) (bool, error) {
			got = append(got, k)
			return true, nil
		}); err != nil {
			t.Fatal(err)
		}
		if g, w := len(got), len(want)+3; g != w {
			t.Errorf("Scan(ledger, reverse %v) visited %d keys, want %d: %x", reverse, g, w, got)
		}
		for i := 1; i < len(got); i++ {
			if c := bytes.Compare(got[i-1], got[i]); (c >= 0) != reverse {
				t.Errorf("Scan(ledger, reverse %v): %x then %x, out of order", reverse, got[i-1], got[i])
			}
		}
		for _, k := range got {
			if k[0] != PrefixLedger {
				t.Errorf("Scan(ledger, reverse %v) visited %x of another prefix", reverse, k)
			}
		}
	}
}

func TestParseDurability(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Durability
		ok   bool
	}{
		{"sync", DurabilitySync, true},
		{"none", DurabilityNone, true},
		{"memory", DurabilityMemory, true},
		{"", "", false},
		{"Sync", "", false},
		{"fsync", "", false},
		{" sync", "", false},
	} {
		got, err := ParseDurability(c.in)
		if got != c.want || (err == nil) != c.ok {
			t.Errorf("ParseDurability(%q) = %q, %v; want %q, ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}

func TestStore_DurabilityMemoryKeepsNothingOnDisk(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "unused")
	s, err := Open(dir, DurabilityMemory, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.Durability(), DurabilityMemory; got != want {
		t.Fatalf("Durability() = %q, want %q", got, want)
	}
	putAll(t, s, Entry{Key: MarkerKey("m"), Value: []byte("v")})
	if got := mustGet(t, s, MarkerKey("m")); string(got) != "v" {
		t.Fatalf("Get = %q, want %q", got, "v")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Stat(%q) = %v, want not exist", dir, err)
	}
	if ents, err := os.ReadDir(parent); err != nil || len(ents) != 0 {
		t.Fatalf("ReadDir(parent) = %v, %v; want empty", ents, err)
	}
	// Nothing survives Close.
	s = openTestStore(t, dir, DurabilityMemory)
	mustMissing(t, s, MarkerKey("m"))
}

func TestStore_DurabilityNoneSurvivesClose(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, DurabilityNone, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.Durability(), DurabilityNone; got != want {
		t.Fatalf("Durability() = %q, want %q", got, want)
	}
	putAll(t, s, Entry{Key: MarkerKey("n"), Value: []byte("v")})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTestStore(t, dir, DurabilitySync)
	if got := mustGet(t, s, MarkerKey("n")); string(got) != "v" {
		t.Fatalf("Get after reopen = %q, want %q", got, "v")
	}
	if lsm, vlog := s.Size(); lsm < 0 || vlog < 0 {
		t.Fatalf("Size() = %d, %d", lsm, vlog)
	}
}

func TestStore_OpenFails(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(f, DurabilitySync, testLogger()); err == nil {
		_ = s.Close()
		t.Fatalf("Open on a regular file succeeded, want an error")
	}
}

func TestSnapshot_Consistent(t *testing.T) {
	s := openTestStore(t, t.TempDir(), DurabilityNone)
	w := startWriter(t, s, DefaultWriterConfig())
	if err := submitWait(t, w, Entry{Key: WalletKey(1, 10), Value: []byte("old")}, Entry{Key: WalletKey(1, 11)}); err != nil {
		t.Fatal(err)
	}

	err := s.View(func(snap *Snapshot) error {
		// Committed after the snapshot started: a change, a new key and a delete.
		if err := submitWait(t, w,
			Entry{Key: WalletKey(1, 10), Value: []byte("new")},
			Entry{Key: WalletKey(1, 12), Value: []byte("added")},
			Entry{Key: WalletKey(1, 11), Delete: true},
		); err != nil {
			return err
		}
		if got := mustGet(t, s, WalletKey(1, 12)); string(got) != "added" {
			t.Errorf("Store.Get during the snapshot = %q, want the committed %q", got, "added")
		}
		for _, c := range []struct {
			key  []byte
			want bool
		}{{WalletKey(1, 10), true}, {WalletKey(1, 11), true}, {WalletKey(1, 12), false}, {WalletKey(2, 10), false}} {
			got, err := snap.Has(c.key)
			if err != nil {
				return err
			}
			if got != c.want {
				t.Errorf("Has(%x) = %v, want %v", c.key, got, c.want)
			}
		}
		var got []string
		err := snap.Scan(WalletPrefix(1), func(k, v []byte) (bool, error) {
			got = append(got, fmt.Sprintf("%d=%s", parseID(k, 9), v))
			return true, nil
		})
		if err != nil {
			return err
		}
		if g, w := fmt.Sprint(got), "[10=old 11=]"; g != w {
			t.Errorf("snapshot Scan = %s, want %s", g, w)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// A new snapshot sees the later commit.
	err = s.View(func(snap *Snapshot) error {
		var got []string
		if err := snap.Scan(WalletPrefix(1), func(k, v []byte) (bool, error) {
			got = append(got, fmt.Sprintf("%d=%s", parseID(k, 9), v))
			return true, nil
		}); err != nil {
			return err
		}
		if g, w := fmt.Sprint(got), "[10=new 12=added]"; g != w {
			t.Errorf("later snapshot Scan = %s, want %s", g, w)
		}
		if has, err := snap.Has(WalletKey(1, 11)); err != nil || has {
			t.Errorf("later snapshot Has(deleted) = %v, %v; want false, nil", has, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestSnapshot_Scan(t *testing.T) {
	s := openTestStore(t, "", DurabilityMemory)
	var entries []Entry
	for u := uint64(1); u <= 3; u++ {
		for _, c := range []uint64{300, 2, 1 << 40, 7} {
			entries = append(entries, Entry{Key: WalletKey(u, c), Value: Uint64(u*1000 + c)})
		}
	}
	putAll(t, s, entries...)
	err := s.View(func(snap *Snapshot) error {
		var cards []uint64
		if err := snap.Scan(WalletPrefix(2), func(k, v []byte) (bool, error) {
			if got, want := parseID(k, 1), uint64(2); got != want {
				t.Errorf("wallet owner = %d, want %d", got, want)
			}
			c := parseID(k, 9)
			if got, ok := ParseUint64(v); !ok || got != 2000+c {
				t.Errorf("value of card %d = %d (ok %v), want %d", c, got, ok, 2000+c)
			}
			cards = append(cards, c)
			return true, nil
		}); err != nil {
			return err
		}
		if got, want := fmt.Sprint(cards), fmt.Sprint([]uint64{2, 7, 300, 1 << 40}); got != want {
			t.Errorf("snapshot Scan cards = %s, want %s", got, want)
		}
		n := 0
		if err := snap.Scan(WalletPrefix(3), func(_, _ []byte) (bool, error) { n++; return false, nil }); err != nil {
			return err
		}
		if n != 1 {
			t.Errorf("snapshot Scan stopped by fn: %d calls, want 1", n)
		}
		boom := errors.New("boom")
		if err := snap.Scan(WalletPrefix(1), func(_, _ []byte) (bool, error) { return true, boom }); !errors.Is(err, boom) {
			t.Errorf("snapshot Scan with failing fn = %v, want boom", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
