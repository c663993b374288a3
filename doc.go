// Package kaquan is the embedding API of the kaquan transaction engine: card-validated payments,
// card gifting and coupon sharing pools, where every account, card template, card, payment and
// pool is an actor with a mailbox, and every acknowledged change is durable on disk.
//
// # Opening an engine
//
// Open creates or opens the engine whose data lives in a folder, and resolves every payment a
// crash interrupted before it returns; Close drains the calls under way and marks a clean stop:
//
//	e, err := kaquan.Open("kaquan-data", kaquan.DefaultOptions())
//	if err != nil {
//		return err
//	}
//	defer e.Close()
//
// Every method is safe for concurrent use. A change takes one request struct, most named after
// their method (CreateParty, Pay, Gift, Share...); a read takes the entity's id. The package's Example is
// the whole payment flow: a merchant and a template, a user with money and a card, the user's
// payment code, the merchant's payment and its retry.
//
// # What an answer means
//
// A call that changes something answers once the change is on disk (one fdatasync per group of changes, shared by
// every call under way). A payment is all or nothing: the card validates itself and grants its
// discount, then the payer is debited and the merchant credited, then the card is used. Changes
// that move money or cards take an idempotency key: a retry with the same key answers the first
// outcome and changes nothing twice.
//
// # Errors
//
// Every refusal is one of the typed errors declared in errors.go (ErrInvalidArgument,
// ErrInsufficientFunds, ErrCardNotUsable...), tested with errors.Is; a refusal changes nothing.
// Each has a reason name (Reason, carried by the network API in an error's details) and a class
// (ErrorClass: invalid, not found, exists, denied, precondition, exhausted, unavailable,
// aborted...) that says what a caller can do about it. A *CardError is ErrCardNotUsable with the
// card's reason. A context that ends first answers ctx.Err(), wrapped: the operation may still
// complete, so retry it with the same key. After a failed write the engine stops (Err says why)
// and answers ErrEngineStopped to every call: reopen it, and recovery starts from the disk.
package kaquan
