package kaquan

import (
	"context"
	"fmt"
	"sync"

	"github.com/kaquan/kaquan/messages"
)

// facts remembers, per id, a fact that never changes once true (a party's kind, a template being
// sold out), so calls that need it read the store at most once. It holds at most max ids and
// starts over when full: forgetting costs a store read, never a wrong answer.
type facts[V any] struct {
	mu  sync.RWMutex
	m   map[uint64]V
	max int
}

func (f *facts[V]) get(id uint64) (V, bool) {
	f.mu.RLock()
	v, ok := f.m[id]
	f.mu.RUnlock()
	return v, ok
}

func (f *facts[V]) put(id uint64, v V) {
	f.mu.Lock()
	if f.m == nil || len(f.m) >= f.max {
		f.m = make(map[uint64]V)
	}
	f.m[id] = v
	f.mu.Unlock()
}

// soldOutMax bounds the sold-out templates the engine remembers (Engine.soldOut): those that
// answered a claim with ErrStockExhausted. A template's stock is fixed when it is created and its
// issued count only grows, so sold out is for good: a later claim is refused at once, with no user
// lookup and no message to the template. In a flash sale that is every claim after the last card,
// also after a restart, when no user's kind is in memory yet.
const soldOutMax = 1 << 16

// partyKindsMax bounds the party kinds the engine remembers. They are remembered when a party is
// created and on its first check, so a claim checking its user (every claim of a flash sale is a
// user's first) needs no store read.
const partyKindsMax = 1 << 20

// checkKind fails unless party id exists and is of kind.
func (e *Engine) checkKind(ctx context.Context, id uint64, kind messages.PartyKind) error {
	got, ok := e.kinds.get(id)
	if !ok {
		p, err := e.party(ctx, id)
		if err != nil {
			return err
		}
		got = p.Kind
		e.kinds.put(id, got)
	}
	return kindIs(id, got, kind)
}

// kindIs fails unless party id's kind got is want.
func kindIs(id uint64, got, want messages.PartyKind) error {
	if got != want {
		return fmt.Errorf("%w: party %d is a %s", ErrInvalidArgument, id, got)
	}
	return nil
}
