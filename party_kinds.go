package kaquan

import (
	"fmt"
	"sync"

	"github.com/kaquan/kaquan/messages"
)

// partyKindsMax bounds the party kinds the engine remembers; the cache starts over when full.
const partyKindsMax = 1 << 20

// partyKinds remembers the kind of parties seen (a party's kind never changes once created), so
// that the calls checking one, a claim checking its user on every call, need no store read.
type partyKinds struct {
	mu sync.RWMutex
	m  map[uint64]messages.PartyKind
}

// checkKind fails unless party id exists and is of kind.
func (e *Engine) checkKind(id uint64, kind messages.PartyKind) error {
	k := &e.kinds
	k.mu.RLock()
	got, ok := k.m[id]
	k.mu.RUnlock()
	if !ok {
		p, err := e.party(id)
		if err != nil {
			return err
		}
		got = p.Kind
		k.remember(id, got)
	}
	return kindIs(id, got, kind)
}

// remember records party id's kind: on its first check, and when the party is created (a user who
// claims in a flash sale right after signing up costs no store read).
func (k *partyKinds) remember(id uint64, kind messages.PartyKind) {
	k.mu.Lock()
	if k.m == nil || len(k.m) >= partyKindsMax {
		k.m = make(map[uint64]messages.PartyKind)
	}
	k.m[id] = kind
	k.mu.Unlock()
}

// kindIs fails unless party id's kind got is want.
func kindIs(id uint64, got, want messages.PartyKind) error {
	if got != want {
		return fmt.Errorf("%w: party %d is a %s", ErrInvalidArgument, id, got)
	}
	return nil
}
