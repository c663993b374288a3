package payment

import (
	"fmt"
	"time"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
	"google.golang.org/protobuf/proto"
)

// waitersMax bounds the calls (first request plus concurrent retries) waiting on one payment.
const waitersMax = 1024

// Requests from the embedding API (sent as actors.Call). Each replies an Outcome.
type (
	// Pay submits the payment this actor is keyed by.
	Pay struct {
		Merchant        uint64
		MerchantAccount uint64
		Code            string
		Amount          int64
		Now             int64
		// PayerAccount, when set, is the account behind Code, which the calling node read on the
		// code's node (a cluster's: the code's record is not here); the account still checks the
		// code is its own when it consumes it.
		PayerAccount uint64
	}
	// Refund refunds the completed payment in full.
	Refund struct {
		Merchant uint64
		Now      int64
	}
	// Get reads the payment.
	Get struct{}
	// Resume resolves an interrupted payment (engine start-up).
	Resume struct{ Now int64 }
)

// Outcome is a payment as its caller sees it; Duplicate marks the answer to a retry.
type Outcome struct {
	Payment   *messages.Payment
	Duplicate bool
}

type behavior struct {
	s       Saga
	now     int64 // time of the request being carried out; replies from other actors carry none
	waiters []waiter
	// held are requests under the same key with other fields, which arrived while the first had
	// not started (its code not yet consumed): if the first is refused and forgotten, the key is
	// free and they run in turn; once it started, they are answered ErrExists.
	held []*actors.Call
	// step is the message of the phase waited for, sent again on a timer until its answer comes
	// (Settings.ResendAfter); sends counts its resends (the wait doubles with each), and gen
	// names the one timer that may resend it.
	step  Effect
	sends int
	gen   uint64
	timer *time.Timer
}

// resend is the timer's message to the payment: send the step again if gen still names the
// timer armed last.
type resend struct{ gen uint64 }

// waiter is a call answered when the payment in progress finishes; duplicate marks a retry that
// arrived while the first request was still being carried out.
type waiter struct {
	call      *actors.Call
	duplicate bool
}

func (b *behavior) Busy() bool { return b.s.Phase != PhaseIdle }

// Absent reports that no payment is recorded or under way under this key (see actors.Absenter).
func (b *behavior) Absent() bool { return b.s.P == nil }

func (b *behavior) Receive(c *actors.Context, msg any) {
	switch m := msg.(type) {
	case *actors.Call:
		b.handleCall(c, m)
	case resend:
		b.resend(c, m)
	// Answers of participants: any of them may be a repeat, a late answer to an earlier step, or
	// arrive after the payment ended (resends; a cluster's network); the saga ignores those.
	case *messages.CodeConsumed:
		b.onAnswer(c, func() Effect { return OnCodeConsumed(&b.s, m, b.now) })
	case *messages.CardReserved:
		if !b.Busy() {
			b.carryOut(c, OnStrayReservation(&b.s, c.ID().Str, m, c.Host().Settings.Now()))
			return
		}
		b.onAnswer(c, func() Effect { return OnCardReserved(&b.s, m, b.now) })
	case *messages.Posted:
		b.onAnswer(c, func() Effect { return OnPosted(&b.s, m, b.now) })
	case *messages.CardDone:
		b.onAnswer(c, func() Effect { return OnCardDone(&b.s, m, b.now) })
	case *messages.EntryFound:
		b.onAnswer(c, func() Effect { return OnEntryFound(&b.s, m, b.now) })
	}
}

// onAnswer moves the saga by a participant's answer, if it is waiting for one.
func (b *behavior) onAnswer(c *actors.Context, step func() Effect) {
	if !b.Busy() {
		return // the payment ended (or never started here): a late answer
	}
	b.carryOut(c, step())
}

// resend sends the step waited for again, with a doubled wait, until its answer comes.
func (b *behavior) resend(c *actors.Context, m resend) {
	if m.gen != b.gen || !b.Busy() || b.step.Msg == nil {
		return // answered since; or a timer of an earlier step
	}
	c.Tell(b.step.To, b.step.Msg)
	b.sends++
	b.arm(c)
}

// arm starts the resend timer of the current attempt; a no-op when resends are off.
func (b *behavior) arm(c *actors.Context) {
	set := c.Host().Settings
	if set.ResendAfter <= 0 {
		return
	}
	wait := set.ResendAfter << min(b.sends, 16)
	if set.ResendMax > 0 && (wait > set.ResendMax || wait <= 0) {
		wait = set.ResendMax
	}
	if b.timer != nil {
		b.timer.Stop()
	}
	b.gen++
	self, root, gen := c.Self(), c.Host().System.Root, b.gen
	b.timer = time.AfterFunc(wait, func() { root.Send(self, resend{gen: gen}) })
}

func (b *behavior) handleCall(c *actors.Context, call *actors.Call) {
	if len(b.waiters) >= waitersMax {
		call.Respond(nil, fmt.Errorf("%w: %d calls wait on payment %s", actors.ErrOverloaded, len(b.waiters), c.ID().Str))
		return
	}
	switch m := call.Msg.(type) {
	case Pay:
		b.handlePay(c, call, m)
	case Refund:
		if b.Busy() {
			call.Respond(nil, fmt.Errorf("%w: payment in progress", actors.ErrRefundNotAllowed))
			return
		}
		b.now = m.Now
		e, err := BeginRefund(&b.s, m.Merchant, m.Now)
		if err != nil {
			call.Respond(nil, fmt.Errorf("refund %s: %w", c.ID().Str, err))
			return
		}
		b.waiters = append(b.waiters, waiter{call: call})
		b.carryOut(c, e)
	case Get:
		if b.s.P == nil {
			call.Respond(nil, fmt.Errorf("%w: payment %s", actors.ErrUnknownEntity, c.ID().Str))
			return
		}
		b.answer(c, call, true)
	case Resume:
		b.now = m.Now
		if b.s.P == nil || !InFlight(b.s.P) || b.Busy() {
			call.Respond(nil, nil)
			return
		}
		b.waiters = append(b.waiters, waiter{call: call})
		b.carryOut(c, Recover(&b.s, m.Now))
	default:
		call.Respond(nil, fmt.Errorf("%w: payment cannot handle %T", actors.ErrInvalidArgument, m))
	}
}

func (b *behavior) handlePay(c *actors.Context, call *actors.Call, m Pay) {
	if p := b.s.P; p != nil {
		if p.MerchantId != m.Merchant || p.MerchantAccount != m.MerchantAccount || p.Code != m.Code || p.Amount != m.Amount {
			if b.s.Phase == PhaseConsume && len(b.waiters)+len(b.held) < waitersMax {
				b.held = append(b.held, call) // the first may yet be refused and leave the key free
				return
			}
			call.Respond(nil, fmt.Errorf("%w: payment %s was submitted with other fields", actors.ErrExists, p.Key))
			return
		}
		b.answer(c, call, true)
		return
	}
	b.now = m.Now
	payer := m.PayerAccount // found by the calling node (a cluster's), else here
	if payer == 0 {
		var err error
		if payer, err = b.payerOf(c, m); err != nil {
			call.Respond(nil, err) // bad input: nothing was recorded
			return
		}
	}
	if payer == 0 {
		call.Respond(nil, actors.ErrCodeUnknown) // refused before anything changed: nothing recorded
		return
	}
	b.waiters = append(b.waiters, waiter{call: call})
	p := &messages.Payment{Key: c.ID().Str, MerchantId: m.Merchant, MerchantAccount: m.MerchantAccount,
		Code: m.Code, Amount: m.Amount, PayerAccount: payer}
	b.carryOut(c, Begin(&b.s, p, m.Now))
}

// payerOf checks the merchant's account and finds the payer account behind the code (0: unknown code).
func (b *behavior) payerOf(c *actors.Context, m Pay) (uint64, error) {
	owner, err := c.Host().Owners.Of(m.MerchantAccount)
	if err != nil {
		return 0, fmt.Errorf("merchant account: %w", err)
	}
	if owner.ID != m.Merchant || owner.Kind != messages.PartyKind_PARTY_KIND_MERCHANT {
		return 0, fmt.Errorf("%w: account %d is not merchant %d's", actors.ErrPermissionDenied, m.MerchantAccount, m.Merchant)
	}
	pc, err := readCodeRecord(c.Host().Store, m.Code)
	if pc == nil || err != nil {
		return 0, err
	}
	if pc.AccountId == m.MerchantAccount { // codes are issued to users only; older data may differ
		return 0, fmt.Errorf("%w: the payer's account %d is the merchant's", actors.ErrInvalidArgument, pc.AccountId)
	}
	return pc.AccountId, nil
}

// carryOut carries out one Effect of the saga, in the shell's order: the payment record is handed
// to the writer, then the message goes out; whoever waits is answered once the record is durable.
func (b *behavior) carryOut(c *actors.Context, e Effect) {
	if e.Anomaly != "" {
		c.Host().Logger.Warn("payment answer that no correct participant sends; waiting on", "payment", c.ID().Str, "what", e.Anomaly)
	}
	if e.Msg != nil || e.Finish {
		b.stopResends()
	}
	if e.Discard {
		b.discard(c)
		return
	}
	if len(b.held) > 0 && b.s.Phase != PhaseConsume { // it started: the key is taken
		for _, call := range b.held {
			call.Respond(nil, fmt.Errorf("%w: payment %s was submitted with other fields", actors.ErrExists, b.s.P.Key))
		}
		b.held = nil
	}
	var done func(error)
	if e.Finish {
		waiters, p := b.waiters, proto.Clone(b.s.P).(*messages.Payment)
		b.waiters = nil
		done = func(err error) {
			for _, w := range waiters {
				respond(w.call, p, w.duplicate, err)
			}
		}
	}
	switch {
	case e.Persist:
		c.Persist([]persistence.Entry{paymentEntry(b.s.P)}, done)
	case done != nil:
		c.AfterDurable(done)
	}
	if e.Msg != nil {
		c.Tell(e.To, e.Msg)
		if b.Busy() { // a step waiting for its answer (a stray card's release waits for none)
			b.step, b.sends = e, 0
			b.arm(c)
		}
	}
	if e.Finish {
		c.Passivate()
	}
}

func (b *behavior) stopResends() {
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	b.step = Effect{}
	b.gen++ // a timer that fired already names an older generation
}

// discard answers whoever waits with the refusal of a payment that never started, and forgets it:
// nothing was written for it, so the answer waits for nothing, and the key stays free.
func (b *behavior) discard(c *actors.Context) {
	err := actors.PaymentError(b.s.P)
	actors.Invariant(err != nil, "a discarded payment was refused")
	for _, w := range b.waiters {
		if _, read := w.call.Msg.(Get); read { // a read of a payment that never was
			w.call.Respond(nil, fmt.Errorf("%w: payment %s", actors.ErrUnknownEntity, c.ID().Str))
			continue
		}
		w.call.Respond(nil, err)
	}
	held := b.held
	b.waiters, b.held, b.s = nil, nil, Saga{}
	for _, call := range held { // the key is free again: the next request under it runs
		b.handlePay(c, call, call.Msg.(Pay))
	}
	if b.s.P == nil {
		c.Passivate()
	}
}

// answer replies the payment as it stands once durable; a payment in progress answers when done.
func (b *behavior) answer(c *actors.Context, call *actors.Call, duplicate bool) {
	if b.Busy() {
		b.waiters = append(b.waiters, waiter{call: call, duplicate: duplicate})
		return
	}
	p := proto.Clone(b.s.P).(*messages.Payment)
	c.AfterDurable(func(err error) { respond(call, p, duplicate, err) })
}

func respond(call *actors.Call, p *messages.Payment, duplicate bool, err error) {
	if err != nil {
		call.Respond(nil, err)
		return
	}
	call.Respond(Outcome{Payment: p, Duplicate: duplicate}, nil)
}
