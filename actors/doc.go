// Package actors holds what every entity kind shares: the typed errors of the domain, entity
// addressing and routing, and the actor shell that activates, persists and passivates an entity.
//
// # One entity shape
//
// Each entity kind (account, template, card, pool) is a sub-package built of three files (card
// keeps its gift, pool and image rules beside state.go, in gift.go, pool.go and image.go). Its
// state.go is the pure state machine: a State, a sealed Command interface with one struct per operation, a
// Change, and
//
//	func Decide(s *State, cmd Command, now int64) (Change, error) // never mutates s
//	func Apply(s *State, ch Change)                               // folds a decided change into s
//
// Decide reads only s, cmd and now (a request's own Now field is what the shell passes as now). A
// fact the shell reads from the store for one command travels in the command
// (account.ConsumeCode.Record); facts it caches across commands live in State (the template's
// claim counts, the pool's contacts) and are loaded before Decide. A refusal is an error. There
// are no goroutines, no store and no clock in state.go. Its records.go is the record layout: Load
// (the State read back from the store) and which persistence.Entry values and index keys a change
// writes. Its actor.go is the shell: Receive, a type switch delegating to handleX methods.
//
// Payment is a saga instead (package payment): each step moves its Saga and returns the next
// Effect, which the shell carries out in the same order as below.
//
// # The shell contract
//
// For every command the shell does, in this order: Decide; Apply the change to the in-memory
// state; hand the change's entries to the group-commit writer (Context.Persist); reply, and tell
// other entities, as described below. Applying before the ack is safe because writes are committed
// in submission order and a failed write stops the engine (Host.Fatal: memory is discarded and
// recovery starts from disk), so nothing that did not become durable is built upon; and it is
// needed, because the entity decides its next message at once instead of one fsync later.
//
// What may leave an entity before the write behind it is durable, today:
//
//   - Answers to a Call (the embedding API) wait for durability: a command's in the done callback
//     of its Persist; a query's, a repeat's and a no-change's behind Context.AfterDurable, a
//     barrier on the entity's own writes; a payment's once its final record is durable. The pool
//     answers a share, take-back or claim only after the card's answer and a barrier on every
//     entity's writes (Context.AfterAllDurable), and changes its State only then, so a List is
//     answered at once from memory that is durable. The pool's ContactChanged, and a Resume of a
//     reward already settled, are answered at once: nothing is written for them. A Call reaching
//     an entity of a stopped engine is answered ErrEngineStopped at once.
//   - Refusals of a Call (Decide's error, or bad input) are answered at once, and so may rest on
//     state whose write is still in flight (a claim refused as sold out while earlier claims are
//     being written). account.Create waits for the barrier even for a refusal; account.Transfer
//     and the reads of code and transfer records wait for the entity's writes first
//     (Context.WaitDurable).
//   - Messages between entities go out right after the write is submitted, not after its ack:
//     account's Posted and CodeConsumed, card's CardReserved, CardDone, PoolCardDone and RewardDue,
//     template's RewardClaimed, and every message of a payment's Effect (sent after the Effect's
//     record is submitted). Whatever the receiver writes because of such a message is submitted
//     later and so lands after it; the answer to the Call at the end of the chain waits for the
//     durable ack of a write submitted after all of them.
package actors
