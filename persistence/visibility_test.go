package persistence

import (
	"errors"
	"testing"

	badger "github.com/dgraph-io/badger/v4"
)

func TestVisibility_DiscardWaitsForOpenReaders(t *testing.T) {
	v := newVisibility(5)
	if got := v.discardTs(); got != 5 {
		t.Fatalf("discardTs with no readers = %d, want the durable 5", got)
	}
	r1 := v.beginRead()
	if r1 != 5 {
		t.Fatalf("beginRead = %d, want the durable 5", r1)
	}
	v.durable.Store(9)
	r2 := v.beginRead()
	r3 := v.beginRead()
	if r2 != 9 || r3 != 9 {
		t.Fatalf("beginRead after commit 9 = %d, %d; want 9", r2, r3)
	}
	v.durable.Store(12)
	if got := v.discardTs(); got != 5 {
		t.Fatalf("discardTs with readers at 5 and 9 = %d, want 5", got)
	}
	v.endRead(r1)
	if got := v.discardTs(); got != 9 {
		t.Fatalf("discardTs with readers at 9 = %d, want 9", got)
	}
	v.endRead(r2)
	if got := v.discardTs(); got != 9 {
		t.Fatalf("discardTs with one reader left at 9 = %d, want 9", got)
	}
	v.endRead(r3)
	if got := v.discardTs(); got != 12 {
		t.Fatalf("discardTs with no readers = %d, want the durable 12", got)
	}
}

// A snapshot keeps reading what was durable when it began, while later commits land.
func TestStore_SnapshotStableAcrossCommits(t *testing.T) {
	s := openTestStore(t, t.TempDir(), DurabilitySync)
	w := startWriter(t, s, DefaultWriterConfig())
	k := MarkerKey("k")
	if err := submitWait(t, w, Entry{Key: k, Value: []byte("one")}); err != nil {
		t.Fatal(err)
	}
	err := s.View(func(snap *Snapshot) error {
		for i := range 20 {
			if err := submitWait(t, w, Entry{Key: k, Value: []byte{byte('a' + i)}}); err != nil {
				return err
			}
			got, err := snap.Get(k)
			if err != nil || string(got) != "one" {
				t.Fatalf("snapshot Get after commit %d = %q, %v; want the value when it began", i, got, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s, k); string(got) != "t" {
		t.Fatalf("Get after the snapshot = %q, want the last commit's", got)
	}
}

// Folders written before the store picked its own timestamps (Badger's own transactions) open,
// read, and take newer writes that win over the old versions, also after reopening.
func TestStore_OpensFolderWrittenWithBadgersTimestamps(t *testing.T) {
	dir := t.TempDir()
	opts := badger.DefaultOptions(dir).WithLogger(nil)
	db, err := badger.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	old, kept := MarkerKey("old"), MarkerKey("kept")
	for i := range 50 { // many of Badger's timestamps
		if err := db.Update(func(txn *badger.Txn) error {
			if err := txn.Set(kept, []byte("kept")); err != nil {
				return err
			}
			return txn.Set(old, []byte{byte(i)})
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := Open(dir, DurabilitySync, testLogger())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if got, err := s.Get(kept); err != nil || string(got) != "kept" {
		t.Fatalf("Get(kept) = %q, %v; want kept", got, err)
	}
	if got, err := s.Get(old); err != nil || string(got) != "\x31" {
		t.Fatalf("Get(old) = %q, %v; want the last of Badger's versions", got, err)
	}
	w, err := NewWriter(s, DefaultWriterConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := submitWait(t, w, Entry{Key: old, Value: []byte("new")}, Entry{Key: kept, Delete: true}); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		if got, err := s.Get(old); err != nil || string(got) != "new" {
			t.Fatalf("%s: Get(old) = %q, %v; want new", when, got, err)
		}
		if _, err := s.Get(kept); !errors.Is(err, ErrNotFound) {
			t.Fatalf("%s: Get(kept) = %v, want the delete to win", when, err)
		}
	}
	check("after writing")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTestStore(t, dir, DurabilitySync)
	check("after reopening")
}
