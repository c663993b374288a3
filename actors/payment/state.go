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
	PhaseIdle          Phase = iota
	PhaseConsume             // CodeConsumed from the payer account
	PhaseReserve             // CardReserved from the card
	PhaseDebit               // Posted: payer debited
	PhaseCredit              // Posted: merchant credited
	PhaseUse                 // CardDone: card used
	PhaseReverse             // Posted: payer's debit reversed
	PhaseRelease             // CardDone: card released
	PhaseRefundDebit         // Posted: merchant debited for a refund
	PhaseRefundCredit        // Posted: payer credited for a refund
	PhaseRefundRelease       // CardDone: card released after a refund
	PhaseFindCredit          // EntryFound: did the merchant get the credit? (recovery; fenced if not)
	PhaseFindDebit           // EntryFound: was the payer debited? (recovery; fenced if not)
)

// Saga is a payment and where its coordinator stands. Recovering marks a saga resumed by
// Recover: its posts may have been made before the interruption, so they ask the account to look
// first (Post.Again); on a single node nothing else repeats a step.
type Saga struct {
	P          *messages.Payment
	Phase      Phase
	Recovering bool
}

// Effect is what the coordinator does after a step: persist P, send one message, and/or finish
// (answer whoever waits once P is durable). Discard (with Finish) ends a payment that never started:
// P is not written, whoever waits is answered PaymentError(P) at once, and P is forgotten, so its
// key stays free for a later request.
//
// A reply that does not match the step waited for (a duplicate, a late answer to an earlier step,
// a stray one after the payment ended) yields the zero Effect: nothing happens. Anomaly, set on a
// zero Effect, is a reply no correct participant sends in this phase: the shell logs it, and the
// coordinator keeps waiting (and resending), since input from another node never stops this one.
type Effect struct {
	Persist bool
	To      actors.ID
	Msg     any
	Finish  bool
	Discard bool
	Anomaly string
}

// ignore is the Effect of a reply that does not match the step waited for.
var ignore = Effect{}

func anomaly(format string, args ...any) Effect { return Effect{Anomaly: fmt.Sprintf(format, args...)} }

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
	if s.Phase != PhaseConsume || m.Code != s.P.Code {
		return ignore
	}
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

// OnCardReserved continues after the card validated itself. A reservation answered to a payment
// that no longer waits for it (it ended, or never was) is given back: see OnStrayReservation.
func OnCardReserved(s *Saga, m *messages.CardReserved, now int64) Effect {
	if s.Phase != PhaseReserve || m.CardId != s.P.CardId {
		return ignore
	}
	if m.Reason != messages.CardReason_CARD_REASON_UNSPECIFIED {
		s.P.CardReason = m.Reason
		return Fail(s, messages.PaymentResult_PAYMENT_RESULT_CARD_NOT_USABLE, now)
	}
	if m.Discount < 0 || m.Discount > s.P.Amount { // a broken peer: give the card back, charge nothing
		s.P.Result = messages.PaymentResult_PAYMENT_RESULT_CONFLICT
		return release(s, now)
	}
	s.P.Discount = m.Discount
	return debit(s, now)
}

// OnStrayReservation answers a card that reserved itself for payment key while the coordinator
// was not waiting for it (a late or repeated ReserveCard): if the payment ended without the card,
// or never started, the card is released; otherwise (the payment holds it, or recovery will
// decide) nothing happens. s.P is nil for a payment that is not recorded.
func OnStrayReservation(s *Saga, key string, m *messages.CardReserved, now int64) Effect {
	if s.Phase != PhaseIdle || m.Reason != messages.CardReason_CARD_REASON_UNSPECIFIED || m.CardId == 0 {
		return ignore
	}
	if p := s.P; p != nil && p.CardId == m.CardId && (p.State == messages.PaymentState_PAYMENT_STATE_COMPLETED ||
		p.State == messages.PaymentState_PAYMENT_STATE_STARTED || p.State == messages.PaymentState_PAYMENT_STATE_REFUNDING) {
		return ignore
	}
	return Effect{To: actors.CardID(m.CardId), Msg: &messages.ReleaseCard{Payment: key, Now: now}}
}

func debit(s *Saga, now int64) Effect {
	p := s.P
	p.Charged = p.Amount - p.Discount
	if p.Charged == 0 {
		return use(s, now) // the card covers everything: no money moves
	}
	s.Phase = PhaseDebit
	return Effect{To: actors.AccountID(p.PayerAccount), Msg: &messages.Post{Again: s.Recovering, Transfer: payTransfer(p), Payment: p.Key,
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

// posting is the account and transfer a phase waits for a Posted of.
func posting(s *Saga) (account uint64, transfer string, waits bool) {
	p := s.P
	switch s.Phase {
	case PhaseDebit:
		return p.PayerAccount, payTransfer(p), true
	case PhaseCredit:
		return p.MerchantAccount, payTransfer(p), true
	case PhaseReverse:
		return p.PayerAccount, reverseTransfer(p), true
	case PhaseRefundDebit:
		return p.MerchantAccount, refundTransfer(p), true
	case PhaseRefundCredit:
		return p.PayerAccount, refundTransfer(p), true
	}
	return 0, "", false
}

// OnPosted continues after an account posted (or refused) an entry.
func OnPosted(s *Saga, m *messages.Posted, now int64) Effect {
	if acc, transfer, waits := posting(s); !waits || m.Account != acc || m.Transfer != transfer {
		return ignore
	}
	p, ok := s.P, m.Result == messages.PaymentResult_PAYMENT_RESULT_OK
	switch s.Phase {
	case PhaseDebit:
		if !ok {
			p.Result = m.Result
			return release(s, now)
		}
		s.Phase = PhaseCredit
		return Effect{To: actors.AccountID(p.MerchantAccount), Msg: &messages.Post{Again: s.Recovering, Transfer: payTransfer(p), Payment: p.Key,
			Kind: messages.EntryKind_ENTRY_KIND_PAYMENT_CREDIT, Amount: p.Charged, CounterAccount: p.PayerAccount, Now: now}}
	case PhaseCredit:
		if !ok {
			p.Result = m.Result
			return reverse(s, now)
		}
		return use(s, now)
	case PhaseReverse:
		if !ok { // a forced credit of a debited account: only a broken peer refuses it
			return anomaly("payment %s: the reversal was refused (%s)", p.Key, m.Result)
		}
		return release(s, now)
	case PhaseRefundDebit:
		if !ok {
			p.State, p.RefundResult = messages.PaymentState_PAYMENT_STATE_COMPLETED, m.Result
			s.Phase = PhaseIdle
			return Effect{Persist: true, Finish: true}
		}
		return refundCredit(s, now)
	default: // PhaseRefundCredit
		if !ok {
			return anomaly("payment %s: the refund credit was refused (%s)", p.Key, m.Result)
		}
		return refundRelease(s, now)
	}
}

func reverse(s *Saga, now int64) Effect {
	s.Phase = PhaseReverse
	return Effect{To: actors.AccountID(s.P.PayerAccount), Msg: &messages.Post{Again: s.Recovering, Transfer: reverseTransfer(s.P), Payment: s.P.Key,
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
func OnCardDone(s *Saga, m *messages.CardDone, now int64) Effect {
	if m.CardId != s.P.GetCardId() {
		return ignore
	}
	switch s.Phase {
	case PhaseUse:
		if m.Refused { // the card says this payment does not hold it: no correct card says so here
			return anomaly("payment %s: card %d refused its use", s.P.Key, m.CardId)
		}
		if !m.Used {
			return ignore
		}
		return complete(s, now)
	case PhaseRelease, PhaseRefundRelease:
		if m.Used || m.Refused { // a late answer to the use
			return ignore
		}
		if s.Phase == PhaseRelease {
			return failed(s, now)
		}
		return refunded(s, now)
	}
	return ignore
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
	s.Recovering = false
	if p.Charged == 0 {
		e := refundRelease(s, now)
		e.Persist = true
		return e, nil
	}
	// REFUNDING is persisted before the merchant is debited, so recovery knows to carry it on.
	e := refundDebit(s, now)
	e.Persist = true
	return e, nil
}

func refundDebit(s *Saga, now int64) Effect {
	p := s.P
	s.Phase = PhaseRefundDebit
	return Effect{To: actors.AccountID(p.MerchantAccount), Msg: &messages.Post{Again: s.Recovering, Transfer: refundTransfer(p), Payment: p.Key,
		Kind: messages.EntryKind_ENTRY_KIND_REFUND_DEBIT, Amount: -p.Charged, CounterAccount: p.PayerAccount, Now: now}}
}

func refundCredit(s *Saga, now int64) Effect {
	s.Phase = PhaseRefundCredit
	return Effect{To: actors.AccountID(s.P.PayerAccount), Msg: &messages.Post{Again: s.Recovering, Transfer: refundTransfer(s.P), Payment: s.P.Key,
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
// can fail) or undoes it (everything it did is reversed). Each question fences: an account that
// holds no entry of the transfer records that it never will, so a step sent before the
// interruption (still on its way, or resent) is refused after recovery decided without it. Posts
// are idempotent, so the reversal and the refund credit are sent without asking whether they
// were already made.
func Recover(s *Saga, now int64) Effect {
	p := s.P
	actors.Invariant(InFlight(p), "only an interrupted payment is recovered")
	s.Recovering = true
	if p.State == messages.PaymentState_PAYMENT_STATE_REFUNDING { // the refund was accepted: carry it on
		if p.Charged == 0 {
			return refundRelease(s, now)
		}
		return refundDebit(s, now)
	}
	s.Phase = PhaseFindCredit
	return find(p.MerchantAccount, payTransfer(p), p.Key)
}

func find(account uint64, transfer, payment string) Effect {
	return Effect{To: actors.AccountID(account), Msg: &messages.FindEntry{Transfer: transfer, Payment: payment, Fence: true}}
}

// OnEntryFound continues a recovery after an account said whether it holds an entry.
func OnEntryFound(s *Saga, m *messages.EntryFound, now int64) Effect {
	p := s.P
	var acc uint64
	var transfer string
	switch s.Phase {
	case PhaseFindCredit:
		acc, transfer = p.MerchantAccount, payTransfer(p)
	case PhaseFindDebit:
		acc, transfer = p.PayerAccount, payTransfer(p)
	default:
		return ignore
	}
	if m.Account != acc || m.Transfer != transfer {
		return ignore
	}
	switch s.Phase {
	case PhaseFindCredit:
		if m.Found {
			if m.Amount <= 0 || m.Amount > p.Amount {
				return anomaly("payment %s: merchant credit of %d", p.Key, m.Amount)
			}
			p.Charged = m.Amount
			p.Discount = p.Amount - p.Charged
			return use(s, now)
		}
		s.Phase = PhaseFindDebit
		return find(p.PayerAccount, payTransfer(p), p.Key)
	default: // PhaseFindDebit
		if m.Found {
			if m.Amount >= 0 || -m.Amount > p.Amount {
				return anomaly("payment %s: payer debit of %d", p.Key, m.Amount)
			}
			p.Charged = -m.Amount
			return reverse(s, now) // a reversal made before the interruption is not repeated: Again
		}
		return release(s, now)
	}
}
