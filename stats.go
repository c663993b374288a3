package kaquan

import "github.com/kaquan/kaquan/persistence"

// Stats are the engine's counters, read at one moment (each on its own: they are not a snapshot
// of one instant together).
type Stats struct {
	Writer persistence.WriterStats // the group-commit writer and its applier
	// CallsInFlight counts the calls under way (each waits on an entity's mailbox or its write).
	CallsInFlight int64
	// ActiveEntities counts the entities (accounts, templates, cards, payments, pools) in memory.
	ActiveEntities int64
	// Activations counts the times an entity was loaded into memory since Open.
	Activations int64
	// Deliveries counts the messages entities received since Open: calls, the messages entities
	// send each other, and their replies (a card payment's saga is a dozen).
	Deliveries int64
	// StoreReads counts the point reads that went to Badger since Open (those of writes still in
	// memory after their commit are answered there and not counted).
	StoreReads int64
}

// Stats reads the engine's counters.
func (e *Engine) Stats() Stats {
	return Stats{
		Writer:         e.writer.Stats(),
		CallsInFlight:  e.calls.Load(),
		ActiveEntities: e.host.Router.Active(),
		Activations:    e.host.Router.Activations(),
		Deliveries:     e.host.Router.Delivered(),
		StoreReads:     e.store.BadgerReads(),
	}
}
