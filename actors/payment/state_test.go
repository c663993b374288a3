package payment

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/messages"
	"google.golang.org/protobuf/proto"
)

const (
	key       = "9/k1"
	merchant  = uint64(9)
	merchAcct = uint64(90)
	payerAcct = uint64(50)
	payer     = uint64(7)
	cardID    = uint64(77)
	code      = "123456789012345678"
	amount    = int64(1000)
	t0        = int64(1_000_000)
)

// Results and states, shortened.
const (
	resOK           = messages.PaymentResult_PAYMENT_RESULT_OK
	resUnspecified  = messages.PaymentResult_PAYMENT_RESULT_UNSPECIFIED
	resInterrupted  = messages.PaymentResult_PAYMENT_RESULT_INTERRUPTED
	resCardNotUsed  = messages.PaymentResult_PAYMENT_RESULT_CARD_NOT_USABLE
	resInsufficient = messages.PaymentResult_PAYMENT_RESULT_INSUFFICIENT_FUNDS
	resNotActive    = messages.PaymentResult_PAYMENT_RESULT_ACCOUNT_NOT_ACTIVE
	resUnknownAcct  = messages.PaymentResult_PAYMENT_RESULT_UNKNOWN_ACCOUNT
	resBalanceLimit = messages.PaymentResult_PAYMENT_RESULT_BALANCE_LIMIT

	stNone      = messages.PaymentState_PAYMENT_STATE_UNSPECIFIED
	stStarted   = messages.PaymentState_PAYMENT_STATE_STARTED
	stCompleted = messages.PaymentState_PAYMENT_STATE_COMPLETED
	stFailed    = messages.PaymentState_PAYMENT_STATE_FAILED
	stRefunding = messages.PaymentState_PAYMENT_STATE_REFUNDING
	stRefunded  = messages.PaymentState_PAYMENT_STATE_REFUNDED
)

var phaseNames = map[Phase]string{
	PhaseIdle: "Idle", PhaseConsume: "Consume", PhaseReserve: "Reserve", PhaseDebit: "Debit", PhaseCredit: "Credit",
	PhaseUse: "Use", PhaseReverse: "Reverse", PhaseRelease: "Release", PhaseRefundDebit: "RefundDebit",
	PhaseRefundCredit: "RefundCredit", PhaseRefundRelease: "RefundRelease", PhaseFindCredit: "FindCredit",
	PhaseFindDebit: "FindDebit",
}

func phaseName(p Phase) string {
	if n, ok := phaseNames[p]; ok {
		return n
	}
	return fmt.Sprintf("Phase(%d)", p)
}

// at is the time of step i of a saga.
func at(i int) int64 { return t0 + int64(i)*100 }

// request is a payment as the coordinator begins it.
func request() *messages.Payment {
	return &messages.Payment{Key: key, MerchantId: merchant, MerchantAccount: merchAcct, Code: code, Amount: amount, PayerAccount: payerAcct}
}

// pay returns request() changed by f.
func pay(f func(p *messages.Payment)) *messages.Payment {
	p := request()
	f(p)
	return p
}

// Stored payments that a refund or a recovery starts from.
func completedCard() *messages.Payment {
	return pay(func(p *messages.Payment) {
		p.PayerId, p.CardId, p.Discount, p.Charged = payer, cardID, 300, 700
		p.State, p.Result, p.StartedAt, p.FinishedAt = stCompleted, resOK, 1, 2
	})
}

func completedPlain() *messages.Payment {
	return with(completedCard(), func(p *messages.Payment) { p.CardId, p.Discount, p.Charged = 0, 0, amount })
}

func completedFree() *messages.Payment {
	return with(completedCard(), func(p *messages.Payment) { p.Discount, p.Charged = amount, 0 })
}

func startedCard() *messages.Payment {
	return pay(func(p *messages.Payment) { p.PayerId, p.CardId, p.State, p.StartedAt = payer, cardID, stStarted, 1 })
}

func startedPlain() *messages.Payment {
	return with(startedCard(), func(p *messages.Payment) { p.CardId = 0 })
}

func with(p *messages.Payment, f func(p *messages.Payment)) *messages.Payment {
	f(p)
	return p
}

// Steps: what the coordinator receives (or starts) at a given time.
type action func(t *testing.T, s *Saga, now int64) Effect

func begin() action {
	return func(_ *testing.T, s *Saga, now int64) Effect { return Begin(s, request(), now) }
}

func codeConsumed(card uint64) action {
	return func(_ *testing.T, s *Saga, now int64) Effect {
		return OnCodeConsumed(s, &messages.CodeConsumed{Result: resOK, CardId: card, PayerId: payer, Code: code}, now)
	}
}

func codeRefused(r messages.PaymentResult) action {
	return func(_ *testing.T, s *Saga, now int64) Effect {
		return OnCodeConsumed(s, &messages.CodeConsumed{Result: r, Code: code}, now)
	}
}

func cardReserved(discount int64) action {
	return func(_ *testing.T, s *Saga, now int64) Effect {
		return OnCardReserved(s, &messages.CardReserved{Discount: discount, CardId: cardID}, now)
	}
}

func cardRefused(r messages.CardReason) action {
	return func(_ *testing.T, s *Saga, now int64) Effect {
		return OnCardReserved(s, &messages.CardReserved{Reason: r, CardId: cardID}, now)
	}
}

func posted() action { return postRefused(resOK) }

func postRefused(r messages.PaymentResult) action {
	return func(_ *testing.T, s *Saga, now int64) Effect {
		return OnPosted(s, postedIn(s, r), now)
	}
}

// postedIn is the Posted that the account a saga waits for answers, with result r.
func postedIn(s *Saga, r messages.PaymentResult) *messages.Posted {
	acc, transfer, _ := posting(s)
	return &messages.Posted{Result: r, Seq: 12, Account: acc, Transfer: transfer}
}

// cardDone is the card's answer to the step waited for: used in PhaseUse, released otherwise.
func cardDone() action {
	return func(_ *testing.T, s *Saga, now int64) Effect {
		return OnCardDone(s, &messages.CardDone{CardId: cardID, Used: s.Phase == PhaseUse}, now)
	}
}

func entryFound(amount int64) action {
	return func(_ *testing.T, s *Saga, now int64) Effect { return OnEntryFound(s, foundIn(s, true, amount), now) }
}

func entryMissing() action {
	return func(_ *testing.T, s *Saga, now int64) Effect { return OnEntryFound(s, foundIn(s, false, 0), now) }
}

// foundIn is the EntryFound that the account a recovering saga asks answers.
func foundIn(s *Saga, found bool, amount int64) *messages.EntryFound {
	acc := s.P.MerchantAccount
	if s.Phase == PhaseFindDebit {
		acc = s.P.PayerAccount
	}
	return &messages.EntryFound{Found: found, Amount: amount, Account: acc, Transfer: "pay:" + s.P.Key}
}

func refund() action {
	return func(t *testing.T, s *Saga, now int64) Effect {
		t.Helper()
		e, err := BeginRefund(s, merchant, now)
		if err != nil {
			t.Fatalf("BeginRefund: got %v, want nil", err)
		}
		return e
	}
}

func recoverSaga() action {
	return func(_ *testing.T, s *Saga, now int64) Effect { return Recover(s, now) }
}

// Expected effects, as functions of the step's time.
type effect func(now int64) Effect

func consumeE() effect {
	return func(now int64) Effect {
		return Effect{To: actors.AccountID(payerAcct), Msg: &messages.ConsumeCode{Code: code, Payment: key, Now: now}}
	}
}

func reserveE() effect {
	return func(now int64) Effect {
		return Effect{Persist: true, To: actors.CardID(cardID), Msg: &messages.ReserveCard{
			Payment: key, PayerId: payer, MerchantId: merchant, Amount: amount, Now: now}}
	}
}

func debitE(charged int64, persist bool) effect {
	return func(now int64) Effect {
		return Effect{Persist: persist, To: actors.AccountID(payerAcct), Msg: &messages.Post{Transfer: "pay:" + key, Payment: key,
			Kind: messages.EntryKind_ENTRY_KIND_PAYMENT_DEBIT, Amount: -charged, CounterAccount: merchAcct, Now: now}}
	}
}

func creditE(charged int64) effect {
	return func(now int64) Effect {
		return Effect{To: actors.AccountID(merchAcct), Msg: &messages.Post{Transfer: "pay:" + key, Payment: key,
			Kind: messages.EntryKind_ENTRY_KIND_PAYMENT_CREDIT, Amount: charged, CounterAccount: payerAcct, Now: now}}
	}
}

func useE() effect {
	return func(now int64) Effect {
		return Effect{To: actors.CardID(cardID), Msg: &messages.UseCard{Payment: key, Now: now}}
	}
}

func reverseE(charged int64) effect {
	return func(now int64) Effect {
		return Effect{To: actors.AccountID(payerAcct), Msg: &messages.Post{Transfer: "rev:" + key, Payment: key,
			Kind: messages.EntryKind_ENTRY_KIND_REVERSAL_CREDIT, Amount: charged, CounterAccount: merchAcct, Now: now, Force: true}}
	}
}

func releaseE(persist bool) effect {
	return func(now int64) Effect {
		return Effect{Persist: persist, To: actors.CardID(cardID), Msg: &messages.ReleaseCard{Payment: key, Now: now}}
	}
}

func refundDebitE(charged int64) effect {
	return func(now int64) Effect {
		return Effect{Persist: true, To: actors.AccountID(merchAcct), Msg: &messages.Post{Transfer: "ref:" + key, Payment: key,
			Kind: messages.EntryKind_ENTRY_KIND_REFUND_DEBIT, Amount: -charged, CounterAccount: payerAcct, Now: now}}
	}
}

func refundCreditE(charged int64) effect {
	return func(now int64) Effect {
		return Effect{To: actors.AccountID(payerAcct), Msg: &messages.Post{Transfer: "ref:" + key, Payment: key,
			Kind: messages.EntryKind_ENTRY_KIND_REFUND_CREDIT, Amount: charged, CounterAccount: merchAcct, Now: now, Force: true}}
	}
}

func findE(account uint64, transfer string) effect {
	return func(int64) Effect {
		return Effect{To: actors.AccountID(account), Msg: &messages.FindEntry{Transfer: transfer + key, Payment: key, Fence: true}}
	}
}

// again is e's post marked as possibly made before (a recovered payment's); persist as given.
func again(e effect, persist bool) effect {
	return func(now int64) Effect {
		x := e(now)
		m := proto.Clone(x.Msg.(*messages.Post)).(*messages.Post)
		m.Again = true
		x.Msg, x.Persist = m, persist
		return x
	}
}

func finishE() effect {
	return func(int64) Effect { return Effect{Persist: true, Finish: true} }
}

// discardE ends a payment that never started: nothing written, the refusal answered.
func discardE() effect {
	return func(int64) Effect { return Effect{Finish: true, Discard: true} }
}

type step struct {
	name  string
	do    action
	want  effect
	phase Phase                 // phase after the step
	state messages.PaymentState // P.State after the step
}

// errInterrupted stands for PaymentError's answer to INTERRUPTED: some error, no sentinel.
var errInterrupted = errors.New("any error")

type sagaCase struct {
	name    string
	start   *messages.Payment // stored payment; nil when the first step begins one
	steps   []step
	want    *messages.Payment // P at the end
	wantErr error             // actors.PaymentError of the final payment
}

func checkEffect(t *testing.T, got, want Effect) {
	t.Helper()
	if got.Persist != want.Persist || got.Finish != want.Finish || got.Discard != want.Discard {
		t.Errorf("persist/finish/discard: got %t/%t/%t, want %t/%t/%t", got.Persist, got.Finish, got.Discard,
			want.Persist, want.Finish, want.Discard)
	}
	if got.To != want.To {
		t.Errorf("to: got %v, want %v", got.To, want.To)
	}
	if want.Msg == nil {
		if got.Msg != nil {
			t.Errorf("msg: got %T %v, want nil", got.Msg, got.Msg)
		}
		return
	}
	if reflect.TypeOf(got.Msg) != reflect.TypeOf(want.Msg) {
		t.Fatalf("msg type: got %T, want %T", got.Msg, want.Msg)
	}
	if !proto.Equal(got.Msg.(proto.Message), want.Msg.(proto.Message)) {
		t.Errorf("msg: got %v, want %v", got.Msg, want.Msg)
	}
}

func runSaga(t *testing.T, tc sagaCase) {
	t.Helper()
	s := &Saga{}
	if tc.start != nil {
		s.P = proto.Clone(tc.start).(*messages.Payment)
	}
	for i, st := range tc.steps {
		ok := t.Run(fmt.Sprintf("%d_%s", i, st.name), func(t *testing.T) {
			now := at(i)
			checkEffect(t, st.do(t, s, now), st.want(now))
			if s.Phase != st.phase {
				t.Errorf("phase: got %s, want %s", phaseName(s.Phase), phaseName(st.phase))
			}
			if s.P.State != st.state {
				t.Errorf("state: got %s, want %s", s.P.State, st.state)
			}
		})
		if !ok {
			t.FailNow()
		}
	}
	if !proto.Equal(s.P, tc.want) {
		t.Errorf("payment: got %v, want %v", s.P, tc.want)
	}
	if InFlight(s.P) {
		t.Errorf("in flight at the end: got true, want false")
	}
	err := actors.PaymentError(s.P)
	switch {
	case tc.wantErr == nil && err != nil:
		t.Errorf("PaymentError: got %v, want nil", err)
	case tc.wantErr == errInterrupted && err == nil:
		t.Errorf("PaymentError: got nil, want an error")
	case tc.wantErr != nil && tc.wantErr != errInterrupted && !errors.Is(err, tc.wantErr):
		t.Errorf("PaymentError: got %v, want %v", err, tc.wantErr)
	}
	var ce *actors.CardError
	if errors.As(err, &ce) && ce.Reason != tc.want.CardReason {
		t.Errorf("CardError reason: got %s, want %s", ce.Reason, tc.want.CardReason)
	}
}

func TestPayment_Pay(t *testing.T) {
	tests := []sagaCase{
		{
			name: "PlainPayment",
			steps: []step{
				{"Begin", begin(), consumeE(), PhaseConsume, stNone},
				{"CodeConsumed", codeConsumed(0), debitE(amount, true), PhaseDebit, stStarted},
				{"Debited", posted(), creditE(amount), PhaseCredit, stStarted},
				{"Credited", posted(), finishE(), PhaseIdle, stCompleted},
			},
			want: pay(func(p *messages.Payment) {
				p.PayerId, p.Charged, p.State, p.Result, p.StartedAt, p.FinishedAt = payer, amount, stCompleted, resOK, at(0), at(3)
			}),
		},
		{
			name: "CardPayment",
			steps: []step{
				{"Begin", begin(), consumeE(), PhaseConsume, stNone},
				{"CodeConsumed", codeConsumed(cardID), reserveE(), PhaseReserve, stStarted},
				{"CardReserved", cardReserved(300), debitE(700, false), PhaseDebit, stStarted},
				{"Debited", posted(), creditE(700), PhaseCredit, stStarted},
				{"Credited", posted(), useE(), PhaseUse, stStarted},
				{"CardUsed", cardDone(), finishE(), PhaseIdle, stCompleted},
			},
			want: with(completedCard(), func(p *messages.Payment) { p.StartedAt, p.FinishedAt = at(0), at(5) }),
		},
		{
			name: "ZeroCharge",
			steps: []step{
				{"Begin", begin(), consumeE(), PhaseConsume, stNone},
				{"CodeConsumed", codeConsumed(cardID), reserveE(), PhaseReserve, stStarted},
				{"CardReserved", cardReserved(amount), useE(), PhaseUse, stStarted},
				{"CardUsed", cardDone(), finishE(), PhaseIdle, stCompleted},
			},
			want: with(completedFree(), func(p *messages.Payment) { p.StartedAt, p.FinishedAt = at(0), at(3) }),
		},
	}
	codeErrs := map[messages.PaymentResult]error{
		messages.PaymentResult_PAYMENT_RESULT_CODE_UNKNOWN: actors.ErrCodeUnknown,
		messages.PaymentResult_PAYMENT_RESULT_CODE_EXPIRED: actors.ErrCodeExpired,
		messages.PaymentResult_PAYMENT_RESULT_CODE_USED:    actors.ErrCodeUsed,
	}
	for r, err := range codeErrs {
		tests = append(tests, sagaCase{
			name: "CodeRefused/" + r.String(),
			steps: []step{
				{"Begin", begin(), consumeE(), PhaseConsume, stNone},
				{"CodeRefused", codeRefused(r), discardE(), PhaseIdle, stFailed},
			},
			want:    pay(func(p *messages.Payment) { p.State, p.Result, p.StartedAt, p.FinishedAt = stFailed, r, at(0), at(1) }),
			wantErr: err,
		})
	}
	for r := messages.CardReason_CARD_REASON_NOT_OWNER; r <= messages.CardReason_CARD_REASON_UNKNOWN_CARD; r++ {
		tests = append(tests, sagaCase{
			name: "CardNotUsable/" + r.String(),
			steps: []step{
				{"Begin", begin(), consumeE(), PhaseConsume, stNone},
				{"CodeConsumed", codeConsumed(cardID), reserveE(), PhaseReserve, stStarted},
				{"CardRefused", cardRefused(r), finishE(), PhaseIdle, stFailed},
			},
			want: pay(func(p *messages.Payment) {
				p.PayerId, p.CardId, p.CardReason = payer, cardID, r
				p.State, p.Result, p.StartedAt, p.FinishedAt = stFailed, resCardNotUsed, at(0), at(2)
			}),
			wantErr: actors.ErrCardNotUsable,
		})
	}
	debitErrs := map[messages.PaymentResult]error{
		resInsufficient: actors.ErrInsufficientFunds,
		resNotActive:    actors.ErrAccountNotActive,
		resUnknownAcct:  actors.ErrUnknownEntity,
	}
	for r, err := range debitErrs {
		tests = append(tests, sagaCase{
			name: "DebitRefused/" + r.String(),
			steps: []step{
				{"Begin", begin(), consumeE(), PhaseConsume, stNone},
				{"CodeConsumed", codeConsumed(cardID), reserveE(), PhaseReserve, stStarted},
				{"CardReserved", cardReserved(300), debitE(700, false), PhaseDebit, stStarted},
				{"DebitRefused", postRefused(r), releaseE(false), PhaseRelease, stStarted},
				{"CardReleased", cardDone(), finishE(), PhaseIdle, stFailed},
			},
			want: pay(func(p *messages.Payment) {
				p.PayerId, p.CardId = payer, cardID
				p.State, p.Result, p.StartedAt, p.FinishedAt = stFailed, r, at(0), at(4)
			}),
			wantErr: err,
		}, sagaCase{
			name: "DebitRefusedWithoutCard/" + r.String(),
			steps: []step{
				{"Begin", begin(), consumeE(), PhaseConsume, stNone},
				{"CodeConsumed", codeConsumed(0), debitE(amount, true), PhaseDebit, stStarted},
				{"DebitRefused", postRefused(r), finishE(), PhaseIdle, stFailed},
			},
			want: pay(func(p *messages.Payment) {
				p.PayerId, p.State, p.Result, p.StartedAt, p.FinishedAt = payer, stFailed, r, at(0), at(2)
			}),
			wantErr: err,
		})
	}
	creditErrs := map[messages.PaymentResult]error{
		resNotActive:    actors.ErrAccountNotActive,
		resBalanceLimit: actors.ErrBalanceLimit,
		resUnknownAcct:  actors.ErrUnknownEntity,
	}
	for r, err := range creditErrs {
		tests = append(tests, sagaCase{
			name: "CreditRefused/" + r.String(),
			steps: []step{
				{"Begin", begin(), consumeE(), PhaseConsume, stNone},
				{"CodeConsumed", codeConsumed(cardID), reserveE(), PhaseReserve, stStarted},
				{"CardReserved", cardReserved(300), debitE(700, false), PhaseDebit, stStarted},
				{"Debited", posted(), creditE(700), PhaseCredit, stStarted},
				{"CreditRefused", postRefused(r), reverseE(700), PhaseReverse, stStarted},
				{"Reversed", posted(), releaseE(false), PhaseRelease, stStarted},
				{"CardReleased", cardDone(), finishE(), PhaseIdle, stFailed},
			},
			want: pay(func(p *messages.Payment) {
				p.PayerId, p.CardId = payer, cardID
				p.State, p.Result, p.StartedAt, p.FinishedAt = stFailed, r, at(0), at(6)
			}),
			wantErr: err,
		}, sagaCase{
			name: "CreditRefusedWithoutCard/" + r.String(),
			steps: []step{
				{"Begin", begin(), consumeE(), PhaseConsume, stNone},
				{"CodeConsumed", codeConsumed(0), debitE(amount, true), PhaseDebit, stStarted},
				{"Debited", posted(), creditE(amount), PhaseCredit, stStarted},
				{"CreditRefused", postRefused(r), reverseE(amount), PhaseReverse, stStarted},
				{"Reversed", posted(), finishE(), PhaseIdle, stFailed},
			},
			want: pay(func(p *messages.Payment) {
				p.PayerId, p.State, p.Result, p.StartedAt, p.FinishedAt = payer, stFailed, r, at(0), at(4)
			}),
			wantErr: err,
		})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { runSaga(t, tc) })
	}
}

func TestPayment_Refund(t *testing.T) {
	refunded := func(p *messages.Payment, finished int64) *messages.Payment {
		p.State, p.RefundResult, p.FinishedAt = stRefunded, resOK, finished
		return p
	}
	tests := []sagaCase{
		{
			name:  "WithCard",
			start: completedCard(),
			steps: []step{
				{"BeginRefund", refund(), refundDebitE(700), PhaseRefundDebit, stRefunding},
				{"MerchantDebited", posted(), refundCreditE(700), PhaseRefundCredit, stRefunding},
				{"PayerCredited", posted(), releaseE(false), PhaseRefundRelease, stRefunding},
				{"CardReleased", cardDone(), finishE(), PhaseIdle, stRefunded},
			},
			want: refunded(completedCard(), at(3)),
		},
		{
			name:  "WithoutCard",
			start: completedPlain(),
			steps: []step{
				{"BeginRefund", refund(), refundDebitE(amount), PhaseRefundDebit, stRefunding},
				{"MerchantDebited", posted(), refundCreditE(amount), PhaseRefundCredit, stRefunding},
				{"PayerCredited", posted(), finishE(), PhaseIdle, stRefunded},
			},
			want: refunded(completedPlain(), at(2)),
		},
		{
			name:  "ZeroCharge",
			start: completedFree(),
			steps: []step{
				{"BeginRefund", refund(), releaseE(true), PhaseRefundRelease, stRefunding},
				{"CardReleased", cardDone(), finishE(), PhaseIdle, stRefunded},
			},
			want: refunded(completedFree(), at(1)),
		},
		{
			name:  "ZeroChargeWithoutCard",
			start: with(completedFree(), func(p *messages.Payment) { p.CardId = 0 }),
			steps: []step{
				{"BeginRefund", refund(), finishE(), PhaseIdle, stRefunded},
			},
			want: refunded(with(completedFree(), func(p *messages.Payment) { p.CardId = 0 }), at(0)),
		},
		{
			name:  "RetryAfterRefusedRefund",
			start: with(completedCard(), func(p *messages.Payment) { p.RefundResult = resInsufficient }),
			steps: []step{
				{"BeginRefund", refund(), refundDebitE(700), PhaseRefundDebit, stRefunding},
				{"MerchantDebited", posted(), refundCreditE(700), PhaseRefundCredit, stRefunding},
				{"PayerCredited", posted(), releaseE(false), PhaseRefundRelease, stRefunding},
				{"CardReleased", cardDone(), finishE(), PhaseIdle, stRefunded},
			},
			want: refunded(completedCard(), at(3)),
		},
	}
	for _, r := range []messages.PaymentResult{resInsufficient, resNotActive, resUnknownAcct} {
		tests = append(tests, sagaCase{
			name:  "MerchantDebitRefused/" + r.String(),
			start: completedCard(),
			steps: []step{
				{"BeginRefund", refund(), refundDebitE(700), PhaseRefundDebit, stRefunding},
				{"MerchantDebitRefused", postRefused(r), finishE(), PhaseIdle, stCompleted},
			},
			want: with(completedCard(), func(p *messages.Payment) { p.RefundResult = r }),
		})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { runSaga(t, tc) })
	}
	t.Run("RefundingIsPersistedWithoutAResult", func(t *testing.T) {
		s := &Saga{P: with(completedCard(), func(p *messages.Payment) { p.RefundResult = resInsufficient })}
		e, err := BeginRefund(s, merchant, at(0))
		if err != nil {
			t.Fatalf("BeginRefund: got %v, want nil", err)
		}
		if !e.Persist || s.P.State != stRefunding || s.P.RefundResult != resUnspecified {
			t.Errorf("persisted: got persist %t, state %s, refund result %s, want true, REFUNDING, UNSPECIFIED",
				e.Persist, s.P.State, s.P.RefundResult)
		}
	})
}

func TestPayment_BeginRefund(t *testing.T) {
	tests := []struct {
		name     string
		p        *messages.Payment
		merchant uint64
		wantErr  error
	}{
		{name: "NilPayment", p: nil, merchant: merchant, wantErr: actors.ErrUnknownEntity},
		{name: "OtherMerchant", p: completedCard(), merchant: merchant + 1, wantErr: actors.ErrPermissionDenied},
		{name: "OtherMerchantNotCompleted", p: with(completedCard(), func(p *messages.Payment) { p.State = stFailed }), merchant: merchant + 1,
			wantErr: actors.ErrPermissionDenied},
	}
	for st := range messages.PaymentState_name {
		if s := messages.PaymentState(st); s != stCompleted {
			tests = append(tests, struct {
				name     string
				p        *messages.Payment
				merchant uint64
				wantErr  error
			}{name: "NotCompleted/" + s.String(), p: with(completedCard(), func(p *messages.Payment) { p.State = s }),
				merchant: merchant, wantErr: actors.ErrRefundNotAllowed})
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Saga{P: tt.p}
			var before *messages.Payment
			if tt.p != nil {
				before = proto.Clone(tt.p).(*messages.Payment)
			}
			e, err := BeginRefund(s, tt.merchant, at(0))
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("err: got %v, want %v", err, tt.wantErr)
			}
			if e != (Effect{}) {
				t.Errorf("effect: got %+v, want none", e)
			}
			if s.Phase != PhaseIdle {
				t.Errorf("phase: got %s, want Idle", phaseName(s.Phase))
			}
			if tt.p != nil && !proto.Equal(s.P, before) {
				t.Errorf("payment: got %v, want unchanged %v", s.P, before)
			}
		})
	}
}

func TestPayment_Recover(t *testing.T) {
	failedInterrupted := func(p *messages.Payment, finished int64) *messages.Payment {
		p.State, p.Result, p.FinishedAt = stFailed, resInterrupted, finished
		return p
	}
	refunding := func(p *messages.Payment) *messages.Payment {
		p.State = stRefunding
		return p
	}
	refunded := func(p *messages.Payment, finished int64) *messages.Payment {
		p.State, p.RefundResult, p.FinishedAt = stRefunded, resOK, finished
		return p
	}
	tests := []sagaCase{
		{
			name:  "Started/CreditFound",
			start: startedCard(),
			steps: []step{
				{"Recover", recoverSaga(), findE(merchAcct, "pay:"), PhaseFindCredit, stStarted},
				{"CreditFound", entryFound(700), useE(), PhaseUse, stStarted},
				{"CardUsed", cardDone(), finishE(), PhaseIdle, stCompleted},
			},
			want: with(completedCard(), func(p *messages.Payment) { p.FinishedAt = at(2) }),
		},
		{
			name:  "Started/CreditFoundWithoutCard",
			start: startedPlain(),
			steps: []step{
				{"Recover", recoverSaga(), findE(merchAcct, "pay:"), PhaseFindCredit, stStarted},
				{"CreditFound", entryFound(amount), finishE(), PhaseIdle, stCompleted},
			},
			want: with(completedPlain(), func(p *messages.Payment) { p.FinishedAt = at(1) }),
		},
		{
			// The merchant's account is fenced when it has no credit; the payer was debited, so
			// the debit is reversed: with Again, since the reversal may have been made already.
			name:  "Started/DebitFound",
			start: startedCard(),
			steps: []step{
				{"Recover", recoverSaga(), findE(merchAcct, "pay:"), PhaseFindCredit, stStarted},
				{"NoCredit", entryMissing(), findE(payerAcct, "pay:"), PhaseFindDebit, stStarted},
				{"DebitFound", entryFound(-700), again(reverseE(700), false), PhaseReverse, stStarted},
				{"Reversed", posted(), releaseE(false), PhaseRelease, stStarted},
				{"CardReleased", cardDone(), finishE(), PhaseIdle, stFailed},
			},
			want:    failedInterrupted(startedCard(), at(4)),
			wantErr: errInterrupted,
		},
		{
			// A payment whose credit was refused records that result before reversing; recovery
			// only knows it was interrupted.
			name:  "Started/DebitFoundAfterCreditRefused",
			start: with(startedCard(), func(p *messages.Payment) { p.Result = resNotActive }),
			steps: []step{
				{"Recover", recoverSaga(), findE(merchAcct, "pay:"), PhaseFindCredit, stStarted},
				{"NoCredit", entryMissing(), findE(payerAcct, "pay:"), PhaseFindDebit, stStarted},
				{"DebitFound", entryFound(-700), again(reverseE(700), false), PhaseReverse, stStarted},
				{"Reversed", posted(), releaseE(false), PhaseRelease, stStarted},
				{"CardReleased", cardDone(), finishE(), PhaseIdle, stFailed},
			},
			want:    with(failedInterrupted(startedCard(), at(4)), func(p *messages.Payment) { p.Result = resNotActive }),
			wantErr: actors.ErrAccountNotActive,
		},
		{
			name:  "Started/DebitFoundWithoutCard",
			start: startedPlain(),
			steps: []step{
				{"Recover", recoverSaga(), findE(merchAcct, "pay:"), PhaseFindCredit, stStarted},
				{"NoCredit", entryMissing(), findE(payerAcct, "pay:"), PhaseFindDebit, stStarted},
				{"DebitFound", entryFound(-amount), again(reverseE(amount), false), PhaseReverse, stStarted},
				{"Reversed", posted(), finishE(), PhaseIdle, stFailed},
			},
			want:    failedInterrupted(startedPlain(), at(3)),
			wantErr: errInterrupted,
		},
		{
			name:  "Started/NothingFound",
			start: startedCard(),
			steps: []step{
				{"Recover", recoverSaga(), findE(merchAcct, "pay:"), PhaseFindCredit, stStarted},
				{"NoCredit", entryMissing(), findE(payerAcct, "pay:"), PhaseFindDebit, stStarted},
				{"NoDebit", entryMissing(), releaseE(false), PhaseRelease, stStarted},
				{"CardReleased", cardDone(), finishE(), PhaseIdle, stFailed},
			},
			want:    failedInterrupted(startedCard(), at(3)),
			wantErr: errInterrupted,
		},
		{
			name:  "Started/NothingFoundWithoutCard",
			start: startedPlain(),
			steps: []step{
				{"Recover", recoverSaga(), findE(merchAcct, "pay:"), PhaseFindCredit, stStarted},
				{"NoCredit", entryMissing(), findE(payerAcct, "pay:"), PhaseFindDebit, stStarted},
				{"NoDebit", entryMissing(), finishE(), PhaseIdle, stFailed},
			},
			want:    failedInterrupted(startedPlain(), at(2)),
			wantErr: errInterrupted,
		},
		{
			// An accepted refund is carried on, each post with Again: an entry made before the
			// interruption is answered as made, not made twice.
			name:  "Refunding/CarriedOn",
			start: refunding(completedCard()),
			steps: []step{
				{"Recover", recoverSaga(), again(refundDebitE(700), false), PhaseRefundDebit, stRefunding},
				{"MerchantDebited", posted(), again(refundCreditE(700), false), PhaseRefundCredit, stRefunding},
				{"PayerCredited", posted(), releaseE(false), PhaseRefundRelease, stRefunding},
				{"CardReleased", cardDone(), finishE(), PhaseIdle, stRefunded},
			},
			want: refunded(completedCard(), at(3)),
		},
		{
			name:  "Refunding/CarriedOnWithoutCard",
			start: refunding(completedPlain()),
			steps: []step{
				{"Recover", recoverSaga(), again(refundDebitE(amount), false), PhaseRefundDebit, stRefunding},
				{"MerchantDebited", posted(), again(refundCreditE(amount), false), PhaseRefundCredit, stRefunding},
				{"PayerCredited", posted(), finishE(), PhaseIdle, stRefunded},
			},
			want: refunded(completedPlain(), at(2)),
		},
		{
			name:  "Refunding/MerchantDebitRefused",
			start: refunding(completedCard()),
			steps: []step{
				{"Recover", recoverSaga(), again(refundDebitE(700), false), PhaseRefundDebit, stRefunding},
				{"Refused", postRefused(resInsufficient), finishE(), PhaseIdle, stCompleted},
			},
			want: with(completedCard(), func(p *messages.Payment) { p.RefundResult = resInsufficient }),
		},
		{
			name:  "Refunding/ZeroCharge",
			start: refunding(completedFree()),
			steps: []step{
				{"Recover", recoverSaga(), releaseE(false), PhaseRefundRelease, stRefunding},
				{"CardReleased", cardDone(), finishE(), PhaseIdle, stRefunded},
			},
			want: refunded(completedFree(), at(1)),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { runSaga(t, tc) })
	}
	for _, st := range []messages.PaymentState{stNone, stCompleted, stFailed, stRefunded} {
		t.Run("NotInFlight/"+st.String(), func(t *testing.T) {
			s := &Saga{P: with(completedCard(), func(p *messages.Payment) { p.State = st })}
			mustPanic(t, func() { Recover(s, at(0)) })
		})
	}
}

func TestPayment_InFlight(t *testing.T) {
	want := map[messages.PaymentState]bool{stStarted: true, stRefunding: true}
	for st := range messages.PaymentState_name {
		s := messages.PaymentState(st)
		t.Run(s.String(), func(t *testing.T) {
			if got := InFlight(&messages.Payment{State: s}); got != want[s] {
				t.Errorf("InFlight: got %t, want %t", got, want[s])
			}
		})
	}
}

// waiting lists the phases in which the coordinator waits for an answer.
var waiting = []Phase{PhaseConsume, PhaseReserve, PhaseDebit, PhaseCredit, PhaseUse, PhaseReverse, PhaseRelease,
	PhaseRefundDebit, PhaseRefundCredit, PhaseRefundRelease, PhaseFindCredit, PhaseFindDebit}

// answer is a message to a coordinator; foreign marks one from another card, account or transfer.
type answer struct {
	msg     any
	foreign bool
}

// answersIn are the answers the saga takes in phase q, and the same from another card, account or
// transfer: each of them a stale or misdirected message in any other phase.
func answersIn(q Phase) []answer {
	s := &Saga{P: startedCard(), Phase: q}
	switch q {
	case PhaseConsume:
		return []answer{{&messages.CodeConsumed{Result: resOK, Code: code, CardId: cardID, PayerId: payer}, false},
			{&messages.CodeConsumed{Result: resOK, Code: "999999999999999999", CardId: cardID, PayerId: payer}, true}}
	case PhaseReserve:
		return []answer{{&messages.CardReserved{CardId: cardID, Discount: 300}, false},
			{&messages.CardReserved{CardId: cardID + 1, Discount: 300}, true}}
	case PhaseUse, PhaseRelease, PhaseRefundRelease:
		return []answer{{&messages.CardDone{CardId: cardID, Used: q == PhaseUse}, false},
			{&messages.CardDone{CardId: cardID + 1, Used: q == PhaseUse}, true}}
	case PhaseFindCredit, PhaseFindDebit:
		found := foundIn(s, true, 700)
		if q == PhaseFindDebit {
			found.Amount = -700
		}
		other := proto.Clone(found).(*messages.EntryFound)
		other.Transfer = "pay:9/other"
		return []answer{{found, false}, {foundIn(s, false, 0), false}, {other, true}}
	}
	other := postedIn(s, resOK)
	other.Transfer = "pay:9/other"
	return []answer{{postedIn(s, resOK), false}, {postedIn(s, resInsufficient), false}, {other, true}}
}

// expects is what the saga takes in phase p, as a comparable description.
func expects(p Phase) string {
	s := &Saga{P: startedCard(), Phase: p}
	switch p {
	case PhaseConsume:
		return "code"
	case PhaseReserve:
		return "reserved"
	case PhaseUse:
		return "used"
	case PhaseRelease, PhaseRefundRelease:
		return "released"
	case PhaseFindCredit, PhaseFindDebit:
		m := foundIn(s, false, 0)
		return fmt.Sprintf("found %d %s", m.Account, m.Transfer)
	}
	acc, transfer, _ := posting(s)
	return fmt.Sprintf("posted %d %s", acc, transfer)
}

func feed(s *Saga, m any) Effect {
	switch m := m.(type) {
	case *messages.CodeConsumed:
		return OnCodeConsumed(s, m, 5)
	case *messages.CardReserved:
		return OnCardReserved(s, m, 5)
	case *messages.Posted:
		return OnPosted(s, m, 5)
	case *messages.CardDone:
		return OnCardDone(s, m, 5)
	case *messages.EntryFound:
		return OnEntryFound(s, m, 5)
	}
	panic(fmt.Sprintf("feed %T", m))
}

// TestPayment_StaleAnswers feeds every phase the answers of every other phase, and answers
// from other cards, accounts and transfers (repeats, late answers, misdirected ones, as a
// network delivers them): the saga ignores each, changing nothing.
func TestPayment_StaleAnswers(t *testing.T) {
	for _, p := range waiting {
		for _, q := range waiting {
			for i, a := range answersIn(q) {
				m := a.msg
				if !a.foreign && expects(p) == expects(q) {
					continue // the answer p waits for
				}
				t.Run(fmt.Sprintf("%s/%s/%d_%T", phaseName(p), phaseName(q), i, m), func(t *testing.T) {
					s := &Saga{P: startedCard(), Phase: p}
					before := proto.Clone(s.P)
					if e := feed(s, m); !reflect.DeepEqual(e, Effect{}) {
						t.Errorf("effect: got %+v, want none", e)
					}
					if s.Phase != p || !proto.Equal(s.P, before) {
						t.Errorf("saga: got %s %v, want %s %v", phaseName(s.Phase), s.P, phaseName(p), before)
					}
				})
			}
		}
	}
}

// TestPayment_Anomalies: answers no correct participant gives in the phase waited for are
// logged, and the coordinator keeps waiting: they never stop the node, nor move money.
func TestPayment_Anomalies(t *testing.T) {
	tests := []struct {
		name  string
		phase Phase
		msg   func(s *Saga) any
	}{
		{"ReversalRefused", PhaseReverse, func(s *Saga) any { return postedIn(s, resNotActive) }},
		{"RefundCreditRefused", PhaseRefundCredit, func(s *Saga) any { return postedIn(s, resBalanceLimit) }},
		{"UseRefused", PhaseUse, func(*Saga) any { return &messages.CardDone{CardId: cardID, Refused: true} }},
		{"CreditFoundNotPositive", PhaseFindCredit, func(s *Saga) any { return foundIn(s, true, 0) }},
		{"CreditFoundNegative", PhaseFindCredit, func(s *Saga) any { return foundIn(s, true, -700) }},
		{"CreditFoundAboveAmount", PhaseFindCredit, func(s *Saga) any { return foundIn(s, true, amount+1) }},
		{"DebitFoundPositive", PhaseFindDebit, func(s *Saga) any { return foundIn(s, true, 700) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Saga{P: startedCard(), Phase: tt.phase}
			before := proto.Clone(s.P)
			e := feed(s, tt.msg(s))
			if e.Anomaly == "" || e.Msg != nil || e.Persist || e.Finish {
				t.Errorf("effect: got %+v, want an anomaly alone", e)
			}
			if s.Phase != tt.phase || !proto.Equal(s.P, before) {
				t.Errorf("saga: got %s %v, want unchanged", phaseName(s.Phase), s.P)
			}
		})
	}
	// A discount outside the amount: the card is given back and nothing is charged.
	for _, d := range []int64{-1, amount + 1} {
		t.Run(fmt.Sprintf("Discount%d", d), func(t *testing.T) {
			s := &Saga{P: startedCard(), Phase: PhaseReserve}
			checkEffect(t, feed(s, &messages.CardReserved{CardId: cardID, Discount: d}), releaseE(false)(5))
			if s.P.Result != messages.PaymentResult_PAYMENT_RESULT_CONFLICT || s.Phase != PhaseRelease {
				t.Errorf("saga: got %s %s, want CONFLICT Release", s.P.Result, phaseName(s.Phase))
			}
		})
	}
}

// TestPayment_StrayReservation: a card that reserved itself for a payment no longer waiting for it
// is released, unless the payment holds it or recovery will decide.
func TestPayment_StrayReservation(t *testing.T) {
	reserved := &messages.CardReserved{CardId: cardID, Discount: 300}
	release := Effect{To: actors.CardID(cardID), Msg: &messages.ReleaseCard{Payment: key, Now: 5}}
	failed := with(startedCard(), func(p *messages.Payment) { p.State, p.Result = stFailed, resInsufficient })
	tests := []struct {
		name string
		s    Saga
		msg  *messages.CardReserved
		want Effect
	}{
		{"NoPayment", Saga{}, reserved, release},
		{"Failed", Saga{P: failed}, reserved, release},
		{"Refunded", Saga{P: with(completedCard(), func(p *messages.Payment) { p.State = stRefunded })}, reserved, release},
		{"FailedWithOtherCard", Saga{P: with(failed, func(p *messages.Payment) { p.CardId = cardID + 1 })}, reserved, release},
		{"Completed", Saga{P: completedCard()}, reserved, Effect{}},
		{"StartedAwaitingRecovery", Saga{P: startedCard()}, reserved, Effect{}},
		{"Refunding", Saga{P: with(completedCard(), func(p *messages.Payment) { p.State = stRefunding })}, reserved, Effect{}},
		{"RefusedReservation", Saga{}, &messages.CardReserved{CardId: cardID, Reason: messages.CardReason_CARD_REASON_NOT_AVAILABLE}, Effect{}},
		{"Busy", Saga{P: startedCard(), Phase: PhaseDebit}, reserved, Effect{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkEffect(t, OnStrayReservation(&tt.s, key, tt.msg, 5), tt.want)
		})
	}
}

func mustPanic(t *testing.T, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("panic: got none, want a panic")
		}
	}()
	f()
}
