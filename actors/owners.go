package actors

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
)

// ownersCachedMax bounds the account owners kept in memory.
const ownersCachedMax = 1 << 20

// Owner is who owns an account: fixed when the account is created, never changed.
type Owner struct {
	ID   uint64
	Kind messages.PartyKind
}

// Owners caches account owners read from the store. An owner never changes, so a cached answer is
// never stale; it saves a store read on every payment for the merchant's account.
type Owners struct {
	store *persistence.Store
	m     sync.Map // account id -> Owner
	n     atomic.Int64
}

// NewOwners makes an empty cache over store.
func NewOwners(store *persistence.Store) *Owners { return &Owners{store: store} }

// Of returns the owner of a durable account, or ErrUnknownEntity.
func (o *Owners) Of(account uint64) (Owner, error) {
	if v, ok := o.m.Load(account); ok {
		return v.(Owner), nil
	}
	acc := &messages.Account{}
	err := o.store.GetProto(persistence.AccountKey(account), acc)
	if errors.Is(err, persistence.ErrNotFound) {
		return Owner{}, fmt.Errorf("%w: account %d", ErrUnknownEntity, account)
	}
	if err != nil {
		return Owner{}, err
	}
	owner := Owner{ID: acc.OwnerId, Kind: acc.OwnerKind}
	if o.n.Load() < ownersCachedMax {
		if _, loaded := o.m.LoadOrStore(account, owner); !loaded {
			o.n.Add(1)
		}
	}
	return owner, nil
}
