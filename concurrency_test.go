package kaquan_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/messages"
)

// fakeClock is a controllable engine clock (Options.Clock), safe for concurrent use.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// ctxFor is a context bounded by d, cancelled when the test ends.
func ctxFor(tb testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

// parallel runs fn(0..n-1) on at most workers goroutines (workers <= 0: one goroutine per call),
// all released together, and waits for them.
func parallel(n, workers int, fn func(i int)) {
	if workers <= 0 || workers > n {
		workers = n
	}
	var next atomic.Int64
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			<-start
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				fn(i)
			}
		})
	}
	close(start)
	wg.Wait()
}

// mustBalance reads an account's balance and ledger length.
func mustBalance(tb testing.TB, e *kaquan.Engine, account uint64) (balance int64, seq uint64) {
	tb.Helper()
	a, err := e.Account(ctxTimeout(tb), account)
	if err != nil {
		tb.Fatalf("account %d: %v", account, err)
	}
	return a.Balance, a.Seq
}

func wantBalance(tb testing.TB, e *kaquan.Engine, account uint64, balance int64, seq uint64) {
	tb.Helper()
	gotBalance, gotSeq := mustBalance(tb, e, account)
	if gotBalance != balance || gotSeq != seq {
		tb.Errorf("account %d: got balance %d after %d entries, want %d after %d", account, gotBalance, gotSeq, balance, seq)
	}
}

func wantCardState(tb testing.TB, e *kaquan.Engine, id uint64, want messages.CardState) *messages.Card {
	tb.Helper()
	c, err := e.Card(ctxTimeout(tb), id)
	if err != nil {
		tb.Fatalf("card %d: %v", id, err)
	}
	if c.State != want {
		tb.Errorf("card %d: got state %s, want %s", id, c.State, want)
	}
	return c
}

func cardReason(err error) messages.CardReason {
	var ce *kaquan.CardError
	if errors.As(err, &ce) {
		return ce.Reason
	}
	return messages.CardReason_CARD_REASON_UNSPECIFIED
}

func mustEngineOK(tb testing.TB, e *kaquan.Engine) {
	tb.Helper()
	if err := e.Err(); err != nil {
		tb.Fatalf("engine stopped itself: %v", err)
	}
}

// TestConcurrency_OneCardManyPayments races 1,000 payments, each with its own payment code, on one
// card: exactly one may use it.
func TestConcurrency_OneCardManyPayments(t *testing.T) {
	const (
		payments        = 1000
		codesPerAccount = 10 // below PaymentCodesPerAccountMax
		accounts        = payments / codesPerAccount
		deposit         = 10_000
		amount          = 3000
		charged         = amount - 500
	)
	e := MustOpenEngine(t)
	ctx := ctxFor(t, 2*time.Minute)
	w := mustWorld(t, e, 1, 0, 10)
	u := w.users[0]
	c, err := e.Claim(ctx, kaquan.Claim{Template: w.template, User: u})
	if err != nil {
		t.Fatal(err)
	}

	// One user, many accounts (an account holds at most 16 active codes): every code names the card.
	acct := func(i int) uint64 { return 2_000_000 + uint64(i) }
	codes := make([]string, payments)
	var setupErr atomic.Pointer[error]
	parallel(accounts, 0, func(i int) {
		fail := func(err error) { setupErr.CompareAndSwap(nil, &err) }
		if _, err := e.CreateAccount(ctx, kaquan.CreateAccount{ID: acct(i), Owner: u}); err != nil {
			fail(err)
			return
		}
		if _, err := e.Deposit(ctx, kaquan.Deposit{Account: acct(i), Amount: deposit, Key: "initial"}); err != nil {
			fail(err)
			return
		}
		for j := range codesPerAccount {
			pc, err := e.IssuePaymentCode(ctx, kaquan.IssuePaymentCode{User: u, Account: acct(i), Card: c.Id})
			if err != nil {
				fail(err)
				return
			}
			codes[i*codesPerAccount+j] = pc.Code
		}
	})
	if p := setupErr.Load(); p != nil {
		t.Fatalf("setup: %v", *p)
	}

	outcomes := make([]kaquan.PaymentOutcome, payments)
	errs := make([]error, payments)
	parallel(payments, 0, func(i int) {
		outcomes[i], errs[i] = e.Pay(ctx, kaquan.Pay{Merchant: w.merchant, MerchantAccount: w.merchantAccount,
			Code: codes[i], Amount: amount, Key: fmt.Sprintf("race-%d", i)})
	})
	mustEngineOK(t, e)

	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Fatalf("payments %d and %d both succeeded on card %d", winner, i, c.Id)
			}
			winner = i
			if got, want := outcomes[i].Payment.Charged, int64(charged); got != want {
				t.Errorf("winner charged %d, want %d", got, want)
			}
		case cardReason(err) == messages.CardReason_CARD_REASON_NOT_AVAILABLE:
			if !errors.Is(err, kaquan.ErrCardNotUsable) {
				t.Errorf("payment %d: %v does not match ErrCardNotUsable", i, err)
			}
			p := outcomes[i].Payment
			if p == nil || p.State != messages.PaymentState_PAYMENT_STATE_FAILED || p.Charged != 0 ||
				p.Result != messages.PaymentResult_PAYMENT_RESULT_CARD_NOT_USABLE {
				t.Errorf("payment %d: got recorded outcome %v, want FAILED CARD_NOT_USABLE with nothing charged", i, p)
			}
		default:
			t.Errorf("payment %d: got error %v, want nil or CardError NOT_AVAILABLE", i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("got no successful payment, want exactly one")
	}

	card := wantCardState(t, e, c.Id, messages.CardState_CARD_STATE_USED)
	if got, want := card.Payment, kaquan.PaymentKey(w.merchant, fmt.Sprintf("race-%d", winner)); got != want {
		t.Errorf("card used by %q, want %q", got, want)
	}
	wantBalance(t, e, w.merchantAccount, charged, 1)
	for i := range accounts {
		if i == winner/codesPerAccount {
			wantBalance(t, e, acct(i), deposit-charged, 2)
		} else {
			wantBalance(t, e, acct(i), deposit, 1)
		}
	}
	r := mustAudit(t, e)
	if got, want := r.Payments["COMPLETED"], 1; got != want {
		t.Errorf("audit: got %d completed payments, want %d", got, want)
	}
	if got, want := r.Payments["FAILED"], payments-1; got != want {
		t.Errorf("audit: got %d failed payments, want %d", got, want)
	}
	if got, want := r.Balances, int64(accounts*deposit); got != want {
		t.Errorf("audit: got balances %d, want %d", got, want)
	}
}

// TestConcurrency_RandomPayments runs 10,000 random payments (plain and with cards, to three
// merchants) from 100 thinly funded accounts on 64 workers, mixed with top-ups, refunds and merchant
// withdrawals, and checks every balance, card and payment against what the callers were told.
func TestConcurrency_RandomPayments(t *testing.T) { randomPayments(t, 10) }

// TestChaos_RandomPayments runs the same mix with every message between a payment and its
// participants at risk of being duplicated, lost or reordered (as a cluster's network may), and
// resends: the outcomes, balances, cards and audit must be exactly those of a clean run.
func TestChaos_RandomPayments(t *testing.T) {
	randomPayments(t, 3, kaquan.WithChaos(actors.Chaos{Duplicate: 0.2, Drop: 0.05, Delay: 0.3, DelayMax: 20 * time.Millisecond, Seed: 7}, 50*time.Millisecond))
}

// randomPayments runs rounds of random payments, card payments, refunds, top-ups and withdrawals
// from many goroutines, and checks every balance, card and payment against what callers were told.
func randomPayments(t *testing.T, rounds int, mutate ...func(*kaquan.Options)) {
	const (
		users         = 100
		cardsPerUser  = 3
		paysPerRound  = 10 // per user and round: below PaymentCodesPerAccountMax
		topUps        = 200
		refunds       = 100
		withdrawals   = 20
		workers       = 64
		deposit       = 5000
		reduce        = 500
		leastCost     = 2000
		cardTemplateM = 1 // the template's merchant, the only one accepting its cards
	)
	clk := newFakeClock()
	e := MustOpenEngine(t, append([]func(*kaquan.Options){func(o *kaquan.Options) { o.Clock = clk.Now }}, mutate...)...)
	ctx := ctxFor(t, 5*time.Minute)
	w := mustWorld(t, e, users, deposit, users*cardsPerUser)
	merchants := []uint64{w.merchant, 2, 3} // merchant m owns account m
	for _, m := range merchants[1:] {
		must(t)(e.CreateParty(ctx, kaquan.CreateParty{ID: m, Kind: messages.PartyKind_PARTY_KIND_MERCHANT, Name: fmt.Sprint("shop", m)}))
		must(t)(e.CreateAccount(ctx, kaquan.CreateAccount{ID: m, Owner: m}))
	}
	cards := make([][]uint64, users)
	var claimErr atomic.Pointer[error]
	parallel(users*cardsPerUser, workers, func(i int) {
		if _, err := e.Claim(ctx, kaquan.Claim{Template: w.template, User: w.users[i/cardsPerUser]}); err != nil {
			claimErr.CompareAndSwap(nil, &err)
		}
	})
	if p := claimErr.Load(); p != nil {
		t.Fatalf("claim: %v", *p)
	}
	for i, u := range w.users {
		ids, err := e.Wallet(ctx, u)
		if err != nil || len(ids) != cardsPerUser {
			t.Fatalf("wallet of user %d: %v %v, want %d cards", u, ids, err, cardsPerUser)
		}
		cards[i] = ids
	}

	// What the callers were told, the truth the store must match.
	type paid struct {
		key      string // payment key (merchant/idempotency key)
		idem     string // the merchant's idempotency key
		merchant uint64
		payer    uint64 // account
		card     uint64
		charged  int64
		refunded bool
	}
	var (
		mu          sync.Mutex
		completed   []*paid // acknowledged payments
		expect      = map[uint64]int64{}
		deposits    = int64(users * deposit)
		withdrawn   int64
		failed      int
		stats       = map[string]int{}
		unexpected  []string
		refundCalls int
	)
	for _, u := range w.users {
		expect[userAccount(u)] = deposit
	}
	for _, m := range merchants {
		expect[m] = 0
	}
	note := func(f string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(unexpected) < 20 {
			unexpected = append(unexpected, fmt.Sprintf(f, a...))
		}
	}

	type op struct {
		kind   string // pay, card, topup, refund, withdraw
		user   int
		amount int64
		target uint64 // merchant
		pay    *paid  // refund
		key    string
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range rounds {
		mu.Lock()
		done := append([]*paid(nil), completed...)
		mu.Unlock()
		var ops []op
		for ui := range users {
			for range paysPerRound {
				o := op{kind: "pay", user: ui, target: merchants[rng.IntN(len(merchants))], amount: 1 + rng.Int64N(4000)}
				if rng.IntN(4) == 0 {
					o.kind, o.amount = "card", 1500+rng.Int64N(3500)
				}
				ops = append(ops, o)
			}
		}
		for range topUps {
			ops = append(ops, op{kind: "topup", user: rng.IntN(users), amount: 1 + rng.Int64N(10_000)})
		}
		for range refunds {
			if len(done) > 0 {
				ops = append(ops, op{kind: "refund", pay: done[rng.IntN(len(done))]})
			}
		}
		for range withdrawals {
			ops = append(ops, op{kind: "withdraw", target: merchants[rng.IntN(len(merchants))], amount: 1 + rng.Int64N(20_000)})
		}
		rng.Shuffle(len(ops), func(i, j int) { ops[i], ops[j] = ops[j], ops[i] })
		for i := range ops {
			ops[i].key = fmt.Sprintf("r%d-%d", round, i)
		}

		parallel(len(ops), workers, func(i int) {
			o := ops[i]
			switch o.kind {
			case "topup":
				acct := userAccount(w.users[o.user])
				if _, err := e.Deposit(ctx, kaquan.Deposit{Account: acct, Amount: o.amount, Key: o.key}); err != nil {
					note("top-up %s: %v", o.key, err)
					return
				}
				mu.Lock()
				deposits += o.amount
				expect[acct] += o.amount
				mu.Unlock()
			case "withdraw":
				_, err := e.Withdraw(ctx, kaquan.Withdrawal{Account: o.target, Amount: o.amount, Key: o.key})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					withdrawn += o.amount
					expect[o.target] -= o.amount
					stats["withdraw ok"]++
				case errors.Is(err, kaquan.ErrInsufficientFunds):
					stats["withdraw insufficient"]++
				default:
					unexpected = append(unexpected, fmt.Sprintf("withdraw %s: %v", o.key, err))
				}
			case "refund":
				r, err := e.Refund(ctx, kaquan.Refund{Merchant: o.pay.merchant, Key: o.pay.idem})
				mu.Lock()
				defer mu.Unlock()
				refundCalls++
				switch {
				case err == nil:
					if r.Payment.State != messages.PaymentState_PAYMENT_STATE_REFUNDED {
						unexpected = append(unexpected, fmt.Sprintf("refund %s: state %s", o.pay.key, r.Payment.State))
					}
					if o.pay.refunded {
						unexpected = append(unexpected, fmt.Sprintf("refund %s succeeded twice", o.pay.key))
					}
					o.pay.refunded = true
					expect[o.pay.payer] += o.pay.charged
					expect[o.pay.merchant] -= o.pay.charged
					stats["refund ok"]++
				case errors.Is(err, kaquan.ErrRefundNotAllowed):
					stats["refund not allowed"]++ // refunded already, or a refund under way
				case errors.Is(err, kaquan.ErrInsufficientFunds):
					stats["refund insufficient"]++ // the merchant withdrew the money
				default:
					unexpected = append(unexpected, fmt.Sprintf("refund %s: %v", o.pay.key, err))
				}
			default:
				u := w.users[o.user]
				acct := userAccount(u)
				var card uint64
				if o.kind == "card" {
					card = cards[o.user][i%cardsPerUser]
				}
				pc, err := e.IssuePaymentCode(ctx, kaquan.IssuePaymentCode{User: u, Account: acct, Card: card})
				if card != 0 && cardReason(err) == messages.CardReason_CARD_REASON_NOT_AVAILABLE {
					mu.Lock()
					stats["card not available at issue"]++ // used earlier: refused before a code is issued
					mu.Unlock()
					return
				}
				if err != nil {
					note("issue code for %s: %v", o.key, err)
					return
				}
				out, err := e.Pay(ctx, kaquan.Pay{Merchant: o.target, MerchantAccount: o.target, Code: pc.Code, Amount: o.amount, Key: o.key})
				reason := cardReason(err)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failed++
				}
				switch {
				case err == nil:
					want := o.amount
					if card != 0 {
						want -= reduce
					}
					if out.Payment.Charged != want || out.Payment.CardId != card || out.Payment.State != messages.PaymentState_PAYMENT_STATE_COMPLETED {
						unexpected = append(unexpected, fmt.Sprintf("pay %s: got %v, want COMPLETED charging %d", o.key, out.Payment, want))
					}
					p := &paid{key: kaquan.PaymentKey(o.target, o.key), idem: o.key, merchant: o.target, payer: acct, card: card, charged: out.Payment.Charged}
					completed = append(completed, p)
					expect[acct] -= p.charged
					expect[o.target] += p.charged
					stats[o.kind+" ok"]++
				case errors.Is(err, kaquan.ErrInsufficientFunds):
					stats[o.kind+" insufficient"]++
				case card != 0 && reason == messages.CardReason_CARD_REASON_NOT_AVAILABLE:
					stats["card not available"]++ // used earlier, or reserved by a concurrent payment
				case card != 0 && reason == messages.CardReason_CARD_REASON_MERCHANT_NOT_ACCEPTED && o.target != cardTemplateM:
					stats["card merchant not accepted"]++
				case card != 0 && reason == messages.CardReason_CARD_REASON_BELOW_LEAST_COST && o.target == cardTemplateM && o.amount < leastCost:
					stats["card below least cost"]++
				default:
					unexpected = append(unexpected, fmt.Sprintf("pay %s (%s of %d to %d): %v", o.key, o.kind, o.amount, o.target, err))
				}
				if err != nil && (out.Payment == nil || out.Payment.State != messages.PaymentState_PAYMENT_STATE_FAILED || out.Payment.Charged != 0) {
					unexpected = append(unexpected, fmt.Sprintf("pay %s failed (%v) but recorded %v", o.key, err, out.Payment))
				}
			}
		})
		mustEngineOK(t, e)
		if len(unexpected) > 0 {
			t.Fatalf("round %d: unexpected outcomes:\n%v", round, unexpected)
		}
		// Every code of this round expires: the next round starts with fresh code quotas.
		clk.Advance(kaquan.DefaultOptions().PaymentCodeTTL + time.Second)
	}
	t.Logf("%d payments, %d refund calls: %v", rounds*users*paysPerRound, refundCalls, stats)
	for _, k := range []string{"pay ok", "card ok", "pay insufficient", "card not available", "refund ok", "withdraw ok"} {
		if stats[k] == 0 {
			t.Errorf("no %q outcome: the mix does not exercise that path", k)
		}
	}

	r := mustAudit(t, e)
	if got, want := r.Deposits, deposits; got != want {
		t.Errorf("audit deposits: got %d, want %d", got, want)
	}
	if got, want := r.Withdrawals, withdrawn; got != want {
		t.Errorf("audit withdrawals: got %d, want %d", got, want)
	}
	if r.InFlight != 0 || r.InFlightCount != 0 {
		t.Errorf("audit: got %d payments holding %d in flight, want none", r.InFlightCount, r.InFlight)
	}
	var sum int64
	for acct, want := range expect {
		got, _ := mustBalance(t, e, acct)
		sum += got
		if got != want {
			t.Errorf("account %d: got balance %d, want %d", acct, got, want)
		}
	}
	if got, want := sum, deposits-withdrawn; got != want {
		t.Errorf("sum of balances: got %d, want deposits %d - withdrawals %d = %d", got, deposits, withdrawn, want)
	}
	if got, want := r.Balances, sum; got != want {
		t.Errorf("audit balances: got %d, want %d", got, want)
	}

	live, refunded := 0, 0
	usedBy := map[uint64]string{}
	for _, p := range completed {
		if p.refunded {
			refunded++
			continue
		}
		live++
		if p.card != 0 {
			if other, ok := usedBy[p.card]; ok {
				t.Errorf("card %d used by both %s and %s", p.card, other, p.key)
			}
			usedBy[p.card] = p.key
		}
	}
	if got, want := r.Payments["COMPLETED"], live; got != want {
		t.Errorf("audit: got %d completed payments, want %d", got, want)
	}
	if got, want := r.Payments["REFUNDED"], refunded; got != want {
		t.Errorf("audit: got %d refunded payments, want %d", got, want)
	}
	if got, want := r.Payments["FAILED"], failed; got != want {
		t.Errorf("audit: got %d failed payments, want %d", got, want)
	}
	for _, ids := range cards {
		for _, id := range ids {
			want := messages.CardState_CARD_STATE_AVAILABLE
			if _, ok := usedBy[id]; ok {
				want = messages.CardState_CARD_STATE_USED
			}
			c := wantCardState(t, e, id, want)
			if want == messages.CardState_CARD_STATE_USED && c.Payment != usedBy[id] {
				t.Errorf("card %d: got used by %q, want %q", id, c.Payment, usedBy[id])
			}
		}
	}
}

// TestConcurrency_Stock races claims against a template's stock and a user's claim limit.
func TestConcurrency_Stock(t *testing.T) {
	t.Run("10000 claims on a stock of 1000 issue exactly 1000 cards", func(t *testing.T) {
		const (
			users         = 1000
			claimsPerUser = 10
			stock         = 1000
		)
		e := MustOpenEngine(t)
		ctx := ctxFor(t, 2*time.Minute)
		w := mustWorld(t, e, 0, 0, stock)
		var setupErr atomic.Pointer[error]
		parallel(users, 64, func(i int) {
			if _, err := e.CreateParty(ctx, kaquan.CreateParty{ID: uint64(100 + i), Kind: messages.PartyKind_PARTY_KIND_USER, Name: "u"}); err != nil {
				setupErr.CompareAndSwap(nil, &err)
			}
		})
		if p := setupErr.Load(); p != nil {
			t.Fatalf("setup: %v", *p)
		}

		cards := make([]*messages.Card, users*claimsPerUser)
		errs := make([]error, users*claimsPerUser)
		parallel(users*claimsPerUser, 0, func(i int) {
			cards[i], errs[i] = e.Claim(ctx, kaquan.Claim{Template: w.template, User: uint64(100 + i%users)})
		})
		mustEngineOK(t, e)

		perUser := map[uint64]int{}
		ids := map[uint64]bool{}
		exhausted := 0
		for i, err := range errs {
			switch {
			case err == nil:
				c := cards[i]
				if ids[c.Id] {
					t.Errorf("card %d issued twice", c.Id)
				}
				ids[c.Id] = true
				if got, want := c.OwnerId, uint64(100+i%users); got != want {
					t.Errorf("claim %d: got card of user %d, want %d", i, got, want)
				}
				perUser[c.OwnerId]++
			case errors.Is(err, kaquan.ErrStockExhausted):
				exhausted++
			default:
				t.Errorf("claim %d: got %v, want a card or ErrStockExhausted", i, err)
			}
		}
		if got, want := len(ids), stock; got != want {
			t.Errorf("got %d cards claimed, want %d", got, want)
		}
		if got, want := exhausted, users*claimsPerUser-stock; got != want {
			t.Errorf("got %d ErrStockExhausted, want %d", got, want)
		}
		for n := range uint64(stock) {
			if id := w.template<<32 | (n + 1); !ids[id] {
				t.Errorf("card number %d (id %d) was never issued", n+1, id)
			}
		}
		tpl, err := e.Template(ctx, w.template)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := tpl.Issued, uint32(stock); got != want {
			t.Errorf("template issued %d, want %d", got, want)
		}
		for i := range users {
			u := uint64(100 + i)
			wallet, err := e.Wallet(ctx, u)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := len(wallet), perUser[u]; got != want {
				t.Errorf("user %d: got %d cards in wallet, want %d", u, got, want)
			}
		}
		if _, err := e.Claim(ctx, kaquan.Claim{Template: w.template, User: 100}); !errors.Is(err, kaquan.ErrStockExhausted) {
			t.Errorf("claim after the race: got %v, want ErrStockExhausted", err)
		}
		r := mustAudit(t, e)
		if got, want := r.Cards["AVAILABLE"], stock; got != want {
			t.Errorf("audit: got %d available cards, want %d", got, want)
		}
	})

	t.Run("200 claims by one user with a limit of 3 issue exactly 3 cards", func(t *testing.T) {
		const (
			claims = 200
			limit  = 3
			tplID  = 8
		)
		e := MustOpenEngine(t)
		ctx := ctxFor(t, time.Minute)
		w := mustWorld(t, e, 1, 0, 10)
		u := w.users[0]
		must(t)(e.CreateTemplate(ctx, &messages.Template{Id: tplID, MerchantId: w.merchant,
			Kind: messages.TemplateKind_TEMPLATE_KIND_CASH, ReduceAmount: 100, StockTotal: 1000, PerUserLimit: limit, ValidDays: 1}))
		errs := make([]error, claims)
		parallel(claims, 0, func(i int) {
			_, errs[i] = e.Claim(ctx, kaquan.Claim{Template: tplID, User: u})
		})
		mustEngineOK(t, e)
		ok := 0
		for i, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, kaquan.ErrLimitReached):
				t.Errorf("claim %d: got %v, want a card or ErrLimitReached", i, err)
			}
		}
		if got, want := ok, limit; got != want {
			t.Errorf("got %d cards claimed, want %d", got, want)
		}
		tpl, err := e.Template(ctx, tplID)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := tpl.Issued, uint32(limit); got != want {
			t.Errorf("template issued %d, want %d", got, want)
		}
		wallet, err := e.Wallet(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(wallet), limit; got != want {
			t.Errorf("wallet: got %d cards, want %d", got, want)
		}
		mustAudit(t, e)
	})
}

// TestConcurrency_Idempotency submits the same request many times at once: it takes effect once.
func TestConcurrency_Idempotency(t *testing.T) {
	const (
		calls   = 100
		deposit = 10_000
		amount  = 3000
		charged = amount - 500
	)
	t.Run("the same payment 100 times charges once", func(t *testing.T) {
		e := MustOpenEngine(t)
		ctx := ctxTimeout(t)
		w := mustWorld(t, e, 1, deposit, 10)
		u := w.users[0]
		c := mustV(e.Claim(ctx, kaquan.Claim{Template: w.template, User: u}))(t)
		pc := mustV(e.IssuePaymentCode(ctx, kaquan.IssuePaymentCode{User: u, Account: userAccount(u), Card: c.Id}))(t)
		req := kaquan.Pay{Merchant: w.merchant, MerchantAccount: w.merchantAccount, Code: pc.Code, Amount: amount, Key: "once"}

		outcomes := make([]kaquan.PaymentOutcome, calls)
		errs := make([]error, calls)
		parallel(calls, 0, func(i int) { outcomes[i], errs[i] = e.Pay(ctx, req) })
		mustEngineOK(t, e)

		originals := 0
		for i, err := range errs {
			if err != nil {
				t.Errorf("call %d: got %v, want success", i, err)
				continue
			}
			p := outcomes[i].Payment
			if p.State != messages.PaymentState_PAYMENT_STATE_COMPLETED || p.Charged != charged || p.Key != kaquan.PaymentKey(w.merchant, "once") || p.CardId != c.Id {
				t.Errorf("call %d: got %v, want COMPLETED charging %d with card %d", i, p, charged, c.Id)
			}
			if !outcomes[i].Duplicate {
				originals++
			}
		}
		if got, want := originals, 1; got != want {
			t.Errorf("got %d answers without Duplicate, want %d (every other call is a retry)", got, want)
		}
		wantBalance(t, e, userAccount(u), deposit-charged, 2) // the deposit and one debit
		wantBalance(t, e, w.merchantAccount, charged, 1)
		wantCardState(t, e, c.Id, messages.CardState_CARD_STATE_USED)

		again, err := e.Pay(ctx, req)
		if err != nil || !again.Duplicate || again.Payment.Charged != charged {
			t.Errorf("sequential retry: got %+v, %v, want a duplicate charging %d", again, err, charged)
		}
		for name, bad := range map[string]kaquan.Pay{
			"another amount":           {Merchant: req.Merchant, MerchantAccount: req.MerchantAccount, Code: req.Code, Amount: amount + 1, Key: req.Key},
			"another code":             {Merchant: req.Merchant, MerchantAccount: req.MerchantAccount, Code: "123456789012345678", Amount: amount, Key: req.Key},
			"another merchant account": {Merchant: req.Merchant, MerchantAccount: userAccount(u), Code: req.Code, Amount: amount, Key: req.Key},
		} {
			if _, err := e.Pay(ctx, bad); !errors.Is(err, kaquan.ErrExists) {
				t.Errorf("retry with %s: got %v, want ErrExists", name, err)
			}
		}
		wantBalance(t, e, userAccount(u), deposit-charged, 2)
		wantBalance(t, e, w.merchantAccount, charged, 1)
		r := mustAudit(t, e)
		if got, want := r.Payments["COMPLETED"], 1; got != want || len(r.Payments) != 1 {
			t.Errorf("audit: got payments %v, want exactly %d COMPLETED", r.Payments, want)
		}
	})

	t.Run("the same key with two amounts at once: one wins, the other gets ErrExists", func(t *testing.T) {
		e := MustOpenEngine(t)
		ctx := ctxTimeout(t)
		w := mustWorld(t, e, 1, deposit, 10)
		u := w.users[0]
		pc := mustV(e.IssuePaymentCode(ctx, kaquan.IssuePaymentCode{User: u, Account: userAccount(u)}))(t)
		amounts := []int64{1000, 2000}
		outcomes := make([]kaquan.PaymentOutcome, calls)
		errs := make([]error, calls)
		parallel(calls, 0, func(i int) {
			outcomes[i], errs[i] = e.Pay(ctx, kaquan.Pay{Merchant: w.merchant, MerchantAccount: w.merchantAccount,
				Code: pc.Code, Amount: amounts[i%2], Key: "mixed"})
		})
		mustEngineOK(t, e)
		p, err := e.Payment(ctx, w.merchant, "mixed")
		if err != nil {
			t.Fatal(err)
		}
		for i, err := range errs {
			if amounts[i%2] == p.Amount {
				if err != nil || outcomes[i].Payment.Charged != p.Amount {
					t.Errorf("call %d with the winning amount %d: got %v, %v", i, p.Amount, outcomes[i].Payment, err)
				}
			} else if !errors.Is(err, kaquan.ErrExists) {
				t.Errorf("call %d with the losing amount %d: got %v, want ErrExists", i, amounts[i%2], err)
			}
		}
		wantBalance(t, e, userAccount(u), deposit-p.Amount, 2)
		wantBalance(t, e, w.merchantAccount, p.Amount, 1)
		mustAudit(t, e)
	})

	t.Run("the same deposit 100 times credits once", func(t *testing.T) {
		e := MustOpenEngine(t)
		ctx := ctxTimeout(t)
		w := mustWorld(t, e, 1, 0, 10)
		acct := userAccount(w.users[0])
		entries := make([]*messages.LedgerEntry, calls)
		errs := make([]error, calls)
		parallel(calls, 0, func(i int) {
			entries[i], errs[i] = e.Deposit(ctx, kaquan.Deposit{Account: acct, Amount: 700, Key: "dep-once"})
		})
		mustEngineOK(t, e)
		for i, err := range errs {
			if err != nil || entries[i].Seq != 1 || entries[i].Amount != 700 || entries[i].BalanceAfter != 700 {
				t.Errorf("call %d: got %v, %v, want entry 1 of 700", i, entries[i], err)
			}
		}
		wantBalance(t, e, acct, 700, 1)
		mustAudit(t, e)
	})
}

// TestConcurrency_RefundRace refunds one completed payment 50 times at once: the money returns once.
func TestConcurrency_RefundRace(t *testing.T) {
	const (
		calls   = 50
		deposit = 10_000
		amount  = 3000
	)
	for _, withCard := range []bool{true, false} {
		name := "plain payment"
		if withCard {
			name = "card payment"
		}
		t.Run(name, func(t *testing.T) {
			e := MustOpenEngine(t)
			ctx := ctxTimeout(t)
			w := mustWorld(t, e, 1, deposit, 10)
			u := w.users[0]
			var cardID uint64
			charged := int64(amount)
			if withCard {
				cardID = mustV(e.Claim(ctx, kaquan.Claim{Template: w.template, User: u}))(t).Id
				charged -= 500
			}
			pc := mustV(e.IssuePaymentCode(ctx, kaquan.IssuePaymentCode{User: u, Account: userAccount(u), Card: cardID}))(t)
			if _, err := e.Pay(ctx, kaquan.Pay{Merchant: w.merchant, MerchantAccount: w.merchantAccount, Code: pc.Code, Amount: amount, Key: "to-refund"}); err != nil {
				t.Fatal(err)
			}
			wantBalance(t, e, userAccount(u), deposit-charged, 2)

			outcomes := make([]kaquan.PaymentOutcome, calls)
			errs := make([]error, calls)
			parallel(calls, 0, func(i int) {
				outcomes[i], errs[i] = e.Refund(ctx, kaquan.Refund{Merchant: w.merchant, Key: "to-refund"})
			})
			mustEngineOK(t, e)
			ok := 0
			for i, err := range errs {
				switch {
				case err == nil:
					ok++
					if got, want := outcomes[i].Payment.State, messages.PaymentState_PAYMENT_STATE_REFUNDED; got != want {
						t.Errorf("refund %d: got state %s, want %s", i, got, want)
					}
				case !errors.Is(err, kaquan.ErrRefundNotAllowed):
					t.Errorf("refund %d: got %v, want success or ErrRefundNotAllowed", i, err)
				}
			}
			if got, want := ok, 1; got != want {
				t.Errorf("got %d successful refunds, want %d", got, want)
			}
			wantBalance(t, e, userAccount(u), deposit, 3) // deposit, debit, refund credit
			wantBalance(t, e, w.merchantAccount, 0, 2)    // credit, refund debit
			p, err := e.Payment(ctx, w.merchant, "to-refund")
			if err != nil || p.State != messages.PaymentState_PAYMENT_STATE_REFUNDED {
				t.Errorf("payment after the race: got %v, %v, want REFUNDED", p, err)
			}
			if withCard {
				wantCardState(t, e, cardID, messages.CardState_CARD_STATE_AVAILABLE)
			}
			r := mustAudit(t, e)
			if got, want := r.Payments["REFUNDED"], 1; got != want {
				t.Errorf("audit: got %d refunded payments, want %d", got, want)
			}
		})
	}
}

// mustV returns a call's result, failing the test on its error: mustV(e.Claim(ctx, req))(t).
func mustV[T any](v T, err error) func(testing.TB) T {
	return func(tb testing.TB) T {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
		return v
	}
}
