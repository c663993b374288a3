package kaquan

import (
	"slices"
	"sync"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/persistence"
)

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
		ids = append(ids, persistence.ParseID(k, 9))
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
