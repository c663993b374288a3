package actors

import (
	"sync"
	"testing"
)

// TestActivations: one activation per id however many goroutines race to create it, and a stale
// activation never deletes its successor.
func TestActivations(t *testing.T) {
	tab := newActivations()
	ids := []ID{AccountID(1), CardID(1), PaymentID("1"), PaymentID("m/key")}
	got := make([][]*activation, len(ids))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i, id := range ids {
				a, _ := tab.loadOrStore(id, &activation{})
				mu.Lock()
				got[i] = append(got[i], a)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for i, as := range got {
		for _, a := range as {
			if a != as[0] {
				t.Fatalf("%s: two activations handed out", ids[i])
			}
		}
		if a, ok := tab.load(ids[i]); !ok || a != as[0] {
			t.Fatalf("%s: load after store: got %p %v", ids[i], a, ok)
		}
	}
	old, _ := tab.load(ids[0])
	tab.compareAndDelete(ids[0], old)
	if _, ok := tab.load(ids[0]); ok {
		t.Fatal("deleted activation still found")
	}
	fresh, stored := tab.loadOrStore(ids[0], &activation{})
	if !stored {
		t.Fatal("no new activation after delete")
	}
	tab.compareAndDelete(ids[0], old) // the old one again: must leave the new one
	if a, ok := tab.load(ids[0]); !ok || a != fresh {
		t.Fatal("a stale compareAndDelete removed the new activation")
	}
}
