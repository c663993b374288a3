package kaquan

import (
	"context"
	"fmt"

	"slices"
	"sync"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/actors/pool"
	"github.com/kaquan/kaquan/persistence"
)

// ContactPair names two users whose contact relation changes (it is mutual: the order does not
// matter).
type ContactPair struct {
	A, B uint64
}

// AddContact records that users A and B are contacts. The social graph lives outside the engine;
// the platform reports its changes.
func (e *Engine) AddContact(ctx context.Context, req ContactPair) error {
	if err := e.singleNode("contacts"); err != nil {
		return err
	}
	return e.setContact(ctx, req.A, req.B, true)
}

// RemoveContact ends the contact relation of A and B: at once, neither sees the other's pool.
func (e *Engine) RemoveContact(ctx context.Context, req ContactPair) error {
	if err := e.singleNode("contacts"); err != nil {
		return err
	}
	return e.setContact(ctx, req.A, req.B, false)
}

func (e *Engine) setContact(ctx context.Context, a, b uint64, on bool) error {
	if a == b {
		return fmt.Errorf("%w: a user is not their own contact", ErrInvalidArgument)
	}
	end, err := e.begin(ctx)
	if err != nil {
		return err
	}
	defer end()
	for _, u := range []uint64{a, b} {
		if err := e.checkKind(ctx, u, PartyUser); err != nil {
			return err
		}
	}
	// Contact changes are administrative and rare next to payments: one at a time keeps the
	// per-user bound exact.
	e.contactsMu.Lock()
	defer e.contactsMu.Unlock()
	if on {
		for _, u := range []uint64{a, b} {
			n, err := e.countContacts(u)
			if err != nil {
				return err
			}
			if n >= actors.ContactsMax {
				return fmt.Errorf("%w: user %d has %d contacts, the most", ErrLimitReached, u, n)
			}
		}
	}
	err = e.put(persistence.Entry{Key: persistence.ContactKey(a, b), Delete: !on},
		persistence.Entry{Key: persistence.ContactKey(b, a), Delete: !on})
	e.contactsChanged() // even after a failed write: it may have landed
	if err != nil {
		return err
	}
	// Both pools answer claims from what they were told: tell them before returning, so a removed
	// contact is refused from now on.
	for _, p := range [][2]uint64{{a, b}, {b, a}} {
		if _, err := e.call(ctx, actors.PoolID(p[0]), pool.ContactChanged{User: p[1], On: on}); err != nil {
			return err
		}
	}
	return nil
}

func (e *Engine) countContacts(u uint64) (int, error) {
	n := 0
	err := e.store.Scan(persistence.ContactPrefix(u), false, func(_, _ []byte) (bool, error) { n++; return true, nil })
	return n, err
}

// Contacts lists a user's contacts in id order (at most actors.ContactsMax).
func (e *Engine) Contacts(ctx context.Context, user uint64) ([]uint64, error) {
	if err := e.singleNode("contacts"); err != nil {
		return nil, err
	}
	end, err := e.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	return e.contactsOf(user)
}

// contactListsMax bounds the contact lists the engine remembers; the cache starts over when full.
const contactListsMax = 100_000

// contactLists remembers users' contact lists, so that a contact looking at the pools they may
// claim from (on every look) needs no store scan. Contact changes are rare: each one forgets
// every list (a new generation), which keeps a list read before a change from outliving it.
type contactLists struct {
	mu    sync.RWMutex
	gen   uint64
	lists map[uint64]contactList
}

type contactList struct {
	gen uint64
	ids []uint64
}

// contactsOf returns user's contacts in id order (at most actors.ContactsMax).
func (e *Engine) contactsOf(user uint64) ([]uint64, error) {
	c := &e.contacts
	c.mu.RLock()
	l, ok := c.lists[user]
	gen := c.gen
	c.mu.RUnlock()
	if ok && l.gen == gen {
		return slices.Clone(l.ids), nil
	}
	var ids []uint64
	err := e.store.Scan(persistence.ContactPrefix(user), false, func(k, _ []byte) (bool, error) {
		ids = append(ids, persistence.ContactOf(k))
		return len(ids) < actors.ContactsMax, nil
	})
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.gen == gen { // no change since the scan began
		if c.lists == nil || len(c.lists) >= contactListsMax {
			c.lists = make(map[uint64]contactList)
		}
		c.lists[user] = contactList{gen: gen, ids: slices.Clone(ids)}
	}
	c.mu.Unlock()
	return ids, nil
}

// contactsChanged forgets every remembered list; called after a change is durable.
func (e *Engine) contactsChanged() {
	e.contacts.mu.Lock()
	e.contacts.gen++
	e.contacts.lists = nil
	e.contacts.mu.Unlock()
}
