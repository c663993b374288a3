package persistence

import (
	"errors"
	"fmt"
	"testing"
)

// TestBulk: puts beyond the in-flight bound wait rather than fail, Finish returns once all are
// durable, a refused Write frees its place, and after a failed commit Put and Finish report it.
func TestBulk(t *testing.T) {
	s := openTestStore(t, t.TempDir(), DurabilitySync)
	w := startWriter(t, s, DefaultWriterConfig())
	b := NewBulk(w, 2)
	for i := range 50 {
		if err := b.Put([]Entry{{Key: []byte(fmt.Sprintf("k%03d", i)), Value: []byte("v")}}); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 { // refused by Submit, each would hold one of the two places if not given back
		if err := b.Put([]Entry{{Key: nil, Value: []byte("v")}}); !errors.Is(err, ErrBadEntry) {
			t.Fatalf("put of an empty key: %v, want ErrBadEntry", err)
		}
	}
	if err := b.Finish(); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Get([]byte("k049")); err != nil || string(v) != "v" {
		t.Fatalf("last put after Finish: %q, %v", v, err)
	}
	injected := errors.New("injected commit failure")
	w.failNextCommit(injected)
	if err := b.Put([]Entry{{Key: []byte("after"), Value: []byte("v")}}); err != nil {
		t.Fatal(err) // accepted: the failure is not known yet
	}
	if err := b.Finish(); !errors.Is(err, injected) {
		t.Fatalf("finish after a failed commit: %v, want the failure", err)
	}
	if err := b.Put([]Entry{{Key: []byte("later"), Value: []byte("v")}}); !errors.Is(err, injected) {
		t.Fatalf("put after a failed commit: %v, want the failure", err)
	}
}
