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
	PhaseFindDebit: "FindDebit", PhaseFindRefundCredit: "FindRefundCredit", PhaseFindRefundDebit: "FindRefundDebit",
	PhaseFindReverse: "FindReverse",
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
		return OnCodeConsumed(s, &messages.CodeConsumed{Result: resOK, CardId: card, PayerId: payer}, now)
	}
}

func codeRefused(r messages.PaymentResult) action {
	return func(_ *testing.T, s *Saga, now int64) Effect {
		return OnCodeConsumed(s, &messages.CodeConsumed{Result: r}, now)
	}
}

func cardReserved(discount int64) action {
	return func(_ *testing.T, s *Saga, now int64) Effect {
		return OnCardReserved(s, &messages.CardReserved{Discount: discount}, now)
	}
}

func cardRefused(r messages.CardReason) action {
	return func(_ *testing.T, s *Saga, now int64) Effect {
		return OnCardReserved(s, &messages.CardReserved{Reason: r}, now)
	}
}

func posted() action { return postRefused(resOK) }

func postRefused(r messages.PaymentResult) action {
	return func(_ *testing.T, s *Saga, now int64) Effect {
		return OnPosted(s, &messages.Posted{Result: r, Seq: 12}, now)
	}
}

func cardDone() action {
	return func(_ *testing.T, s *Saga, now int64) Effect { return OnCardDone(s, now) }
}

func entryFound(amount int64) action {
	return func(_ *testing.T, s *Saga, now int64) Effect {
		return OnEntryFound(s, &messages.EntryFound{Found: true, Amount: amount}, now)
	}
}

func entryMissing() action {
	return func(_ *testing.T, s *Saga, now int64) Effect {
		return OnEntryFound(s, &messages.EntryFound{}, now)
	}
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
		return Effect{Persist: persist, To: actors.AccountID(payerAcct), Msg: &messages.Post{Transfer: "pay:" + key,
			Kind: messages.EntryKind_ENTRY_KIND_PAYMENT_DEBIT, Amount: -charged, CounterAccount: merchAcct, Now: now}}
	}
}

func creditE(charged int64) effect {
	return func(now int64) Effect {
		return Effect{To: actors.AccountID(merchAcct), Msg: &messages.Post{Transfer: "pay:" + key,
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
		return Effect{To: actors.AccountID(payerAcct), Msg: &messages.Post{Transfer: "rev:" + key,
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
		return Effect{Persist: true, To: actors.AccountID(merchAcct), Msg: &messages.Post{Transfer: "ref:" + key,
			Kind: messages.EntryKind_ENTRY_KIND_REFUND_DEBIT, Amount: -charged, CounterAccount: payerAcct, Now: now}}
	}
}

func refundCreditE(charged int64) effect {
	return func(now int64) Effect {
		return Effect{To: actors.AccountID(payerAcct), Msg: &messages.Post{Transfer: "ref:" + key,
			Kind: messages.EntryKind_ENTRY_KIND_REFUND_CREDIT, Amount: charged, CounterAccount: merchAcct, Now: now, Force: true}}
	}
}

func findE(account uint64, transfer string) effect {
	return func(int64) Effect {
		return Effect{To: actors.AccountID(account), Msg: &messages.FindEntry{Transfer: transfer + key}}
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
			name:  "Started/DebitFound",
			start: startedCard(),
			steps: []step{
				{"Recover", recoverSaga(), findE(merchAcct, "pay:"), PhaseFindCredit, stStarted},
				{"NoCredit", entryMissing(), findE(payerAcct, "pay:"), PhaseFindDebit, stStarted},
				{"DebitFound", entryFound(-700), findE(payerAcct, "rev:"), PhaseFindReverse, stStarted},
				{"NoReversal", entryMissing(), reverseE(700), PhaseReverse, stStarted},
				{"Reversed", posted(), releaseE(false), PhaseRelease, stStarted},
				{"CardReleased", cardDone(), finishE(), PhaseIdle, stFailed},
			},
			want:    failedInterrupted(startedCard(), at(5)),
			wantErr: errInterrupted,
		},
		{
			// Interrupted after the reversal was posted: reversing again would credit the payer twice.
			name:  "Started/DebitFoundAlreadyReversed",
			start: startedCard(),
			steps: []step{
				{"Recover", recoverSaga(), findE(merchAcct, "pay:"), PhaseFindCredit, stStarted},
				{"NoCredit", entryMissing(), findE(payerAcct, "pay:"), PhaseFindDebit, stStarted},
				{"DebitFound", entryFound(-700), findE(payerAcct, "rev:"), PhaseFindReverse, stStarted},
				{"ReversalFound", entryFound(700), releaseE(false), PhaseRelease, stStarted},
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
				{"DebitFound", entryFound(-700), findE(payerAcct, "rev:"), PhaseFindReverse, stStarted},
				{"ReversalFound", entryFound(700), releaseE(false), PhaseRelease, stStarted},
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
				{"DebitFound", entryFound(-amount), findE(payerAcct, "rev:"), PhaseFindReverse, stStarted},
				{"NoReversal", entryMissing(), reverseE(amount), PhaseReverse, stStarted},
				{"Reversed", posted(), finishE(), PhaseIdle, stFailed},
			},
			want:    failedInterrupted(startedPlain(), at(4)),
			wantErr: errInterrupted,
		},
		{
			name:  "Started/DebitFoundAlreadyReversedWithoutCard",
			start: startedPlain(),
			steps: []step{
				{"Recover", recoverSaga(), findE(merchAcct, "pay:"), PhaseFindCredit, stStarted},
				{"NoCredit", entryMissing(), findE(payerAcct, "pay:"), PhaseFindDebit, stStarted},
				{"DebitFound", entryFound(-amount), findE(payerAcct, "rev:"), PhaseFindReverse, stStarted},
				{"ReversalFound", entryFound(amount), finishE(), PhaseIdle, stFailed},
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
			name:  "Refunding/PayerCreditFound",
			start: refunding(completedCard()),
			steps: []step{
				{"Recover", recoverSaga(), findE(payerAcct, "ref:"), PhaseFindRefundCredit, stRefunding},
				{"PayerCreditFound", entryFound(700), releaseE(false), PhaseRefundRelease, stRefunding},
				{"CardReleased", cardDone(), finishE(), PhaseIdle, stRefunded},
			},
			want: refunded(completedCard(), at(2)),
		},
		{
			name:  "Refunding/PayerCreditFoundWithoutCard",
			start: refunding(completedPlain()),
			steps: []step{
				{"Recover", recoverSaga(), findE(payerAcct, "ref:"), PhaseFindRefundCredit, stRefunding},
				{"PayerCreditFound", entryFound(amount), finishE(), PhaseIdle, stRefunded},
			},
			want: refunded(completedPlain(), at(1)),
		},
		{
			name:  "Refunding/MerchantDebitFound",
			start: refunding(completedCard()),
			steps: []step{
				{"Recover", recoverSaga(), findE(payerAcct, "ref:"), PhaseFindRefundCredit, stRefunding},
				{"NoPayerCredit", entryMissing(), findE(merchAcct, "ref:"), PhaseFindRefundDebit, stRefunding},
				{"MerchantDebitFound", entryFound(-700), refundCreditE(700), PhaseRefundCredit, stRefunding},
				{"PayerCredited", posted(), releaseE(false), PhaseRefundRelease, stRefunding},
				{"CardReleased", cardDone(), finishE(), PhaseIdle, stRefunded},
			},
			want: refunded(completedCard(), at(4)),
		},
		{
			name:  "Refunding/MerchantDebitFoundWithoutCard",
			start: refunding(completedPlain()),
			steps: []step{
				{"Recover", recoverSaga(), findE(payerAcct, "ref:"), PhaseFindRefundCredit, stRefunding},
				{"NoPayerCredit", entryMissing(), findE(merchAcct, "ref:"), PhaseFindRefundDebit, stRefunding},
				{"MerchantDebitFound", entryFound(-amount), refundCreditE(amount), PhaseRefundCredit, stRefunding},
				{"PayerCredited", posted(), finishE(), PhaseIdle, stRefunded},
			},
			want: refunded(completedPlain(), at(3)),
		},
		{
			name:  "Refunding/NothingFound",
			start: refunding(completedCard()),
			steps: []step{
				{"Recover", recoverSaga(), findE(payerAcct, "ref:"), PhaseFindRefundCredit, stRefunding},
				{"NoPayerCredit", entryMissing(), findE(merchAcct, "ref:"), PhaseFindRefundDebit, stRefunding},
				{"NoMerchantDebit", entryMissing(), finishE(), PhaseIdle, stCompleted},
			},
			want: with(completedCard(), func(p *messages.Payment) { p.RefundResult = resInterrupted }),
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

// TestPayment_Invariants checks that replies which cannot happen are refused loudly.
func TestPayment_Invariants(t *testing.T) {
	tests := []struct {
		name  string
		phase Phase
		do    func(s *Saga)
	}{
		{name: "PostedWhileIdle", phase: PhaseIdle, do: func(s *Saga) { posted()(t, s, 1) }},
		{name: "PostedWhileConsuming", phase: PhaseConsume, do: func(s *Saga) { posted()(t, s, 1) }},
		{name: "PostedWhileUsing", phase: PhaseUse, do: func(s *Saga) { posted()(t, s, 1) }},
		{name: "PostedWhileFinding", phase: PhaseFindCredit, do: func(s *Saga) { posted()(t, s, 1) }},
		{name: "CardDoneWhileIdle", phase: PhaseIdle, do: func(s *Saga) { cardDone()(t, s, 1) }},
		{name: "CardDoneWhileDebiting", phase: PhaseDebit, do: func(s *Saga) { cardDone()(t, s, 1) }},
		{name: "CardDoneWhileReserving", phase: PhaseReserve, do: func(s *Saga) { cardDone()(t, s, 1) }},
		{name: "EntryFoundWhileIdle", phase: PhaseIdle, do: func(s *Saga) { entryMissing()(t, s, 1) }},
		{name: "EntryFoundWhileCrediting", phase: PhaseCredit, do: func(s *Saga) { entryMissing()(t, s, 1) }},
		{name: "ReversalRefused", phase: PhaseReverse, do: func(s *Saga) { postRefused(resNotActive)(t, s, 1) }},
		{name: "RefundCreditRefused", phase: PhaseRefundCredit, do: func(s *Saga) { postRefused(resBalanceLimit)(t, s, 1) }},
		{name: "DiscountAboveAmount", phase: PhaseReserve, do: func(s *Saga) { cardReserved(amount+1)(t, s, 1) }},
		{name: "NegativeDiscount", phase: PhaseReserve, do: func(s *Saga) { cardReserved(-1)(t, s, 1) }},
		{name: "CreditFoundNotPositive", phase: PhaseFindCredit, do: func(s *Saga) { entryFound(0)(t, s, 1) }},
		{name: "CreditFoundNegative", phase: PhaseFindCredit, do: func(s *Saga) { entryFound(-700)(t, s, 1) }},
		{name: "DebitFoundPositive", phase: PhaseFindDebit, do: func(s *Saga) { entryFound(700)(t, s, 1) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Saga{P: startedCard(), Phase: tt.phase}
			mustPanic(t, func() { tt.do(s) })
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
