package actors

import (
	"errors"
	"sync"

	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
)

// acceptancesCachedMax bounds the (acceptor, issuer) pairs kept in memory.
const acceptancesCachedMax = 1 << 16

type acceptancePair struct{ acceptor, issuer uint64 }

// Acceptances caches merchants' acceptances read from the store, absent ones too, so a card
// accepted by a merchant other than its issuer costs no store read per payment. An acceptance
// changes (granted, revoked), so the engine calls Put once each change is durable; a read of the
// store that raced with a change is not cached (epoch), so the cache never holds a stale answer.
// Cards of a merchant's own templates never ask it.
type Acceptances struct {
	store *persistence.Store
	mu    sync.Mutex
	m     map[acceptancePair]*messages.Acceptance // nil: none recorded
	epoch uint64                                  // changes seen by Put
}

// NewAcceptances makes an empty cache over store.
func NewAcceptances(store *persistence.Store) *Acceptances {
	return &Acceptances{store: store, m: map[acceptancePair]*messages.Acceptance{}}
}

// Of returns acceptor's durable acceptance of issuer's cards, or nil when none was ever granted.
// The record returned is shared: callers do not change it.
func (a *Acceptances) Of(acceptor, issuer uint64) (*messages.Acceptance, error) {
	k := acceptancePair{acceptor, issuer}
	a.mu.Lock()
	rec, ok := a.m[k]
	epoch := a.epoch
	a.mu.Unlock()
	if ok {
		return rec, nil
	}
	rec = &messages.Acceptance{}
	err := a.store.GetProto(persistence.AcceptanceKey(acceptor, issuer), rec)
	if errors.Is(err, persistence.ErrNotFound) {
		rec, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	if a.epoch == epoch && len(a.m) < acceptancesCachedMax {
		a.m[k] = rec
	}
	a.mu.Unlock()
	return rec, nil
}

// Put records a durable change of an acceptance: later reads see rec.
func (a *Acceptances) Put(rec *messages.Acceptance) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.epoch++
	k := acceptancePair{rec.Acceptor, rec.Issuer}
	if _, ok := a.m[k]; ok || len(a.m) < acceptancesCachedMax {
		a.m[k] = rec
	}
}
