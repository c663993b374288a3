// Package payment is the payment coordinator entity: one actor per payment (merchant id plus the
// merchant's idempotency key) drives the card-validated payment saga, refunds, and recovery.
//
// state.go is pure: each reply the coordinator receives moves the Saga and yields the next Effect.
// Durable states are STARTED (the code is consumed; effects may follow), COMPLETED, FAILED,
// REFUNDING and REFUNDED; the phases between them live in memory, because recovery finds out what
// happened from the participants themselves (see Recover). A payment whose code is refused never
// started: nothing is recorded (Effect.Discard), and its key stays free. records.go is the payment record;
// actor.go the shell, which carries out each Effect.
//
// The entities decide a Change and Apply it; a saga step does both at once (Begin, the On*
// functions, BeginRefund, Recover move s and return the Effect), because the Saga is this
// actor's alone and its durable record is the whole payment, written when an Effect says Persist:
// there is no change to replay. The shell's order is the entities': the Effect's record is handed
// to the writer before its message is sent, and callers are answered only once it is durable.
package payment

import (
	"fmt"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/messages"
)

// Phase is what the coordinator waits for.
type Phase uint8

// Phases of the saga.
const (
	PhaseIdle             Phase = iota
	PhaseConsume                // CodeConsumed from the payer account
	PhaseReserve                // CardReserved from the card
	PhaseDebit                  // Posted: payer debited
	PhaseCredit                 // Posted: merchant credited
	PhaseUse                    // CardDone: card used
	PhaseReverse                // Posted: payer's debit reversed
	PhaseRelease                // CardDone: card released
	PhaseRefundDebit            // Posted: merchant debited for a refund
	PhaseRefundCredit           // Posted: payer credited for a refund
	PhaseRefundRelease          // CardDone: card released after a refund
	PhaseFindCredit             // EntryFound: did the merchant get the credit? (recovery)
	PhaseFindDebit              // EntryFound: was the payer debited? (recovery)
	PhaseFindRefundCredit       // EntryFound: did the payer get the refund? (recovery)
	PhaseFindRefundDebit        // EntryFound: was the merchant debited for the refund? (recovery)
	PhaseFindReverse            // EntryFound: was the payer's debit already reversed? (recovery)
)

// Saga is a payment and where its coordinator stands.
type Saga struct {
	P     *messages.Payment
	Phase Phase
}

// Effect is what the coordinator does after a step: persist P, send one message, and/or finish
// (answer whoever waits once P is durable). Discard (with Finish) ends a payment that never started:
// P is not written, whoever waits is answered PaymentError(P) at once, and P is forgotten, so its
// key stays free for a later request.
type Effect struct {
	Persist bool
	To      actors.ID
	Msg     any
	Finish  bool
	Discard bool
}

// Transfer names of a payment in the ledger.
func payTransfer(p *messages.Payment) string     { return "pay:" + p.Key }
func reverseTransfer(p *messages.Payment) string { return "rev:" + p.Key }
func refundTransfer(p *messages.Payment) string  { return "ref:" + p.Key }

// Begin starts payment p (fields from the request, payer account from the code index) at now.
func Begin(s *Saga, p *messages.Payment, now int64) Effect {
	s.P = p
	p.StartedAt = now
	s.Phase = PhaseConsume
	return Effect{To: actors.AccountID(p.PayerAccount), Msg: &messages.ConsumeCode{Code: p.Code, Payment: p.Key, Now: now}}
}

// Fail ends a started payment with result r: recorded FAILED, once everything it did is undone.
func Fail(s *Saga, r messages.PaymentResult, now int64) Effect {
	s.P.State, s.P.Result, s.P.FinishedAt = messages.PaymentState_PAYMENT_STATE_FAILED, r, now
	s.Phase = PhaseIdle
	return Effect{Persist: true, Finish: true}
}

// Refuse ends a payment refused before anything changed (its code unknown, expired or used)
// with result r: it is not recorded.
func Refuse(s *Saga, r messages.PaymentResult, now int64) Effect {
	s.P.State, s.P.Result, s.P.FinishedAt = messages.PaymentState_PAYMENT_STATE_FAILED, r, now
	s.Phase = PhaseIdle
	return Effect{Finish: true, Discard: true}
}

// OnCodeConsumed continues after the payer's account answered about the code. A refused code
// changed nothing (the account consumes a code only when it answers OK): the payment is refused,
// not recorded.
func OnCodeConsumed(s *Saga, m *messages.CodeConsumed, now int64) Effect {
	if m.Result != messages.PaymentResult_PAYMENT_RESULT_OK {
		return Refuse(s, m.Result, now)
	}
	p := s.P
	p.State, p.CardId, p.PayerId = messages.PaymentState_PAYMENT_STATE_STARTED, m.CardId, m.PayerId
	if p.CardId == 0 {
		e := debit(s, now)
		e.Persist = true
		return e
	}
	s.Phase = PhaseReserve
	return Effect{Persist: true, To: actors.CardID(p.CardId), Msg: &messages.ReserveCard{
		Payment: p.Key, PayerId: p.PayerId, MerchantId: p.MerchantId, Amount: p.Amount, Now: now}}
}

// OnCardReserved continues after the card validated itself.
func OnCardReserved(s *Saga, m *messages.CardReserved, now int64) Effect {
	if m.Reason != messages.CardReason_CARD_REASON_UNSPECIFIED {
		s.P.CardReason = m.Reason
		return Fail(s, messages.PaymentResult_PAYMENT_RESULT_CARD_NOT_USABLE, now)
	}
	actors.Invariant(m.Discount >= 0 && m.Discount <= s.P.Amount, "a discount is within the amount")
	s.P.Discount = m.Discount
	return debit(s, now)
}

func debit(s *Saga, now int64) Effect {
	p := s.P
	p.Charged = p.Amount - p.Discount
	if p.Charged == 0 {
		return use(s, now) // the card covers everything: no money moves
	}
	s.Phase = PhaseDebit
	return Effect{To: actors.AccountID(p.PayerAccount), Msg: &messages.Post{Transfer: payTransfer(p),
		Kind: messages.EntryKind_ENTRY_KIND_PAYMENT_DEBIT, Amount: -p.Charged, CounterAccount: p.MerchantAccount, Now: now}}
}

func use(s *Saga, now int64) Effect {
	if s.P.CardId == 0 {
		return complete(s, now)
	}
	s.Phase = PhaseUse
	return Effect{To: actors.CardID(s.P.CardId), Msg: &messages.UseCard{Payment: s.P.Key, Now: now}}
}

func complete(s *Saga, now int64) Effect {
	s.P.State, s.P.Result, s.P.FinishedAt = messages.PaymentState_PAYMENT_STATE_COMPLETED, messages.PaymentResult_PAYMENT_RESULT_OK, now
	s.Phase = PhaseIdle
	return Effect{Persist: true, Finish: true}
}

// OnPosted continues after an account posted (or refused) an entry.
func OnPosted(s *Saga, m *messages.Posted, now int64) Effect {
	p, ok := s.P, m.Result == messages.PaymentResult_PAYMENT_RESULT_OK
	switch s.Phase {
	case PhaseDebit:
		if !ok {
			p.Result = m.Result
			return release(s, now)
		}
		s.Phase = PhaseCredit
		return Effect{To: actors.AccountID(p.MerchantAccount), Msg: &messages.Post{Transfer: payTransfer(p),
			Kind: messages.EntryKind_ENTRY_KIND_PAYMENT_CREDIT, Amount: p.Charged, CounterAccount: p.PayerAccount, Now: now}}
	case PhaseCredit:
		if !ok {
			p.Result = m.Result
			return reverse(s, now)
		}
		return use(s, now)
	case PhaseReverse:
		actors.Invariant(ok, "reversing a debit never fails")
		return release(s, now)
	case PhaseRefundDebit:
		if !ok {
			p.State, p.RefundResult = messages.PaymentState_PAYMENT_STATE_COMPLETED, m.Result
			s.Phase = PhaseIdle
			return Effect{Persist: true, Finish: true}
		}
		return refundCredit(s, now)
	case PhaseRefundCredit:
		actors.Invariant(ok, "a refund credit never fails")
		return refundRelease(s, now)
	}
	panic(fmt.Sprintf("payment %s: Posted in phase %d", p.Key, s.Phase))
}

func reverse(s *Saga, now int64) Effect {
	s.Phase = PhaseReverse
	return Effect{To: actors.AccountID(s.P.PayerAccount), Msg: &messages.Post{Transfer: reverseTransfer(s.P),
		Kind: messages.EntryKind_ENTRY_KIND_REVERSAL_CREDIT, Amount: s.P.Charged, CounterAccount: s.P.MerchantAccount, Now: now, Force: true}}
}

func release(s *Saga, now int64) Effect {
	if s.P.CardId == 0 {
		return failed(s, now)
	}
	s.Phase = PhaseRelease
	return Effect{To: actors.CardID(s.P.CardId), Msg: &messages.ReleaseCard{Payment: s.P.Key, Now: now}}
}

func failed(s *Saga, now int64) Effect {
	r := s.P.Result
	if r == messages.PaymentResult_PAYMENT_RESULT_UNSPECIFIED || r == messages.PaymentResult_PAYMENT_RESULT_OK {
		r = messages.PaymentResult_PAYMENT_RESULT_INTERRUPTED
	}
	s.P.Discount, s.P.Charged = 0, 0
	return Fail(s, r, now)
}

// OnCardDone continues after a card was used or released.
func OnCardDone(s *Saga, now int64) Effect {
	switch s.Phase {
	case PhaseUse:
		return complete(s, now)
	case PhaseRelease:
		return failed(s, now)
	case PhaseRefundRelease:
		return refunded(s, now)
	}
	panic("payment: CardDone in an unexpected phase")
}

// BeginRefund starts a full refund of a completed payment. It returns an error (and no effect) when
// the payment cannot be refunded by merchant.
func BeginRefund(s *Saga, merchant uint64, now int64) (Effect, error) {
	p := s.P
	switch {
	case p == nil:
		return Effect{}, actors.ErrUnknownEntity
	case p.MerchantId != merchant:
		return Effect{}, actors.ErrPermissionDenied
	case p.State != messages.PaymentState_PAYMENT_STATE_COMPLETED:
		return Effect{}, actors.ErrRefundNotAllowed
	}
	p.State, p.RefundResult = messages.PaymentState_PAYMENT_STATE_REFUNDING, messages.PaymentResult_PAYMENT_RESULT_UNSPECIFIED
	if p.Charged == 0 {
		e := refundRelease(s, now)
		e.Persist = true
		return e, nil
	}
	s.Phase = PhaseRefundDebit
	// REFUNDING is persisted before the merchant is debited, so recovery knows to look.
	return Effect{Persist: true, To: actors.AccountID(p.MerchantAccount), Msg: &messages.Post{Transfer: refundTransfer(p),
		Kind: messages.EntryKind_ENTRY_KIND_REFUND_DEBIT, Amount: -p.Charged, CounterAccount: p.PayerAccount, Now: now}}, nil
}

func refundCredit(s *Saga, now int64) Effect {
	s.Phase = PhaseRefundCredit
	return Effect{To: actors.AccountID(s.P.PayerAccount), Msg: &messages.Post{Transfer: refundTransfer(s.P),
		Kind: messages.EntryKind_ENTRY_KIND_REFUND_CREDIT, Amount: s.P.Charged, CounterAccount: s.P.MerchantAccount, Now: now, Force: true}}
}

func refundRelease(s *Saga, now int64) Effect {
	if s.P.CardId == 0 {
		return refunded(s, now)
	}
	s.Phase = PhaseRefundRelease
	return Effect{To: actors.CardID(s.P.CardId), Msg: &messages.ReleaseCard{Payment: s.P.Key, Now: now}}
}

func refunded(s *Saga, now int64) Effect {
	s.P.State, s.P.RefundResult, s.P.FinishedAt = messages.PaymentState_PAYMENT_STATE_REFUNDED, messages.PaymentResult_PAYMENT_RESULT_OK, now
	s.Phase = PhaseIdle
	return Effect{Persist: true, Finish: true}
}

// InFlight reports whether a stored payment was interrupted mid-way and needs Recover.
func InFlight(p *messages.Payment) bool {
	return p.State == messages.PaymentState_PAYMENT_STATE_STARTED || p.State == messages.PaymentState_PAYMENT_STATE_REFUNDING
}

// Recover starts resolving an interrupted payment: it asks the participants what happened, from the
// last effect backwards, and then completes it (the merchant was credited: roll forward, nothing
// can fail) or undoes it (everything it did is reversed).
func Recover(s *Saga, now int64) Effect {
	p := s.P
	actors.Invariant(InFlight(p), "only an interrupted payment is recovered")
	if p.State == messages.PaymentState_PAYMENT_STATE_REFUNDING {
		if p.Charged == 0 {
			return refundRelease(s, now)
		}
		s.Phase = PhaseFindRefundCredit
		return Effect{To: actors.AccountID(p.PayerAccount), Msg: &messages.FindEntry{Transfer: refundTransfer(p)}}
	}
	s.Phase = PhaseFindCredit
	return Effect{To: actors.AccountID(p.MerchantAccount), Msg: &messages.FindEntry{Transfer: payTransfer(p)}}
}

// OnEntryFound continues a recovery after an account said whether it holds an entry.
func OnEntryFound(s *Saga, m *messages.EntryFound, now int64) Effect {
	p := s.P
	switch s.Phase {
	case PhaseFindCredit:
		if m.Found {
			actors.Invariant(m.Amount > 0, "a payment credit is positive")
			p.Charged = m.Amount
			p.Discount = p.Amount - p.Charged
			return use(s, now)
		}
		s.Phase = PhaseFindDebit
		return Effect{To: actors.AccountID(p.PayerAccount), Msg: &messages.FindEntry{Transfer: payTransfer(p)}}
	case PhaseFindDebit:
		if m.Found {
			actors.Invariant(m.Amount < 0, "a payment debit is negative")
			p.Charged = -m.Amount
			// Posting is not idempotent: a reversal made before the interruption must not be repeated.
			s.Phase = PhaseFindReverse
			return Effect{To: actors.AccountID(p.PayerAccount), Msg: &messages.FindEntry{Transfer: reverseTransfer(p)}}
		}
		return release(s, now)
	case PhaseFindReverse:
		if m.Found {
			return release(s, now)
		}
		return reverse(s, now)
	case PhaseFindRefundCredit:
		if m.Found {
			return refundRelease(s, now)
		}
		s.Phase = PhaseFindRefundDebit
		return Effect{To: actors.AccountID(p.MerchantAccount), Msg: &messages.FindEntry{Transfer: refundTransfer(p)}}
	case PhaseFindRefundDebit:
		if m.Found {
			return refundCredit(s, now)
		}
		p.State, p.RefundResult = messages.PaymentState_PAYMENT_STATE_COMPLETED, messages.PaymentResult_PAYMENT_RESULT_INTERRUPTED
		s.Phase = PhaseIdle
		return Effect{Persist: true, Finish: true}
	}
	panic("payment: EntryFound in an unexpected phase")
}
