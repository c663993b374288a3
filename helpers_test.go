package kaquan_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
)

// MustOpenEngine opens an engine on a fresh temporary folder with durability sync.
func MustOpenEngine(tb testing.TB, mutate ...func(*kaquan.Options)) *kaquan.Engine {
	tb.Helper()
	return mustOpenAt(tb, tb.TempDir(), mutate...)
}

// reopen closes e, which must close cleanly, and opens its folder dir again.
func reopen(tb testing.TB, dir string, e *kaquan.Engine) *kaquan.Engine {
	tb.Helper()
	if err := e.Close(); err != nil {
		tb.Fatalf("close: %v", err)
	}
	return mustOpenAt(tb, dir)
}

// reopenWith closes e, writes entries straight into its store (what a crash, a bug or older data
// could leave there) and opens dir again.
func reopenWith(t *testing.T, dir string, e *kaquan.Engine, entries ...persistence.Entry) *kaquan.Engine {
	t.Helper()
	if err := e.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	writeRaw(t, dir, entries...)
	return mustOpenAt(t, dir)
}

// mustOpenAt opens an engine on dir with the default options changed by mutate, closed when the
// test ends.
func mustOpenAt(tb testing.TB, dir string, mutate ...func(*kaquan.Options)) *kaquan.Engine {
	tb.Helper()
	opts := kaquan.DefaultOptions()
	for _, m := range mutate {
		m(&opts)
	}
	e, err := kaquan.Open(dir, opts)
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() {
		if err := e.Close(); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	return e
}

// inMemory makes MustOpenEngine use Badger's in-memory mode.
func inMemory(o *kaquan.Options) { o.Durability = persistence.DurabilityMemory }

// world is a merchant with an account and a template, and users with funded accounts.
type world struct {
	merchant, merchantAccount, template uint64
	users                               []uint64 // user i owns account users[i]+1_000_000
}

func userAccount(u uint64) uint64 { return u + 1_000_000 }

func mustWorld(tb testing.TB, e *kaquan.Engine, users int, deposit int64, stock uint32) world {
	tb.Helper()
	ctx := context.Background()
	w := world{merchant: 1, merchantAccount: 1, template: 7}
	must(tb)(e.CreateParty(ctx, kaquan.CreateParty{ID: w.merchant, Kind: messages.PartyKind_PARTY_KIND_MERCHANT, Name: "shop"}))
	must(tb)(e.CreateAccount(ctx, kaquan.CreateAccount{ID: w.merchantAccount, Owner: w.merchant}))
	must(tb)(e.CreateTemplate(ctx, &messages.Template{Id: w.template, MerchantId: w.merchant,
		Kind: messages.TemplateKind_TEMPLATE_KIND_CASH, ReduceAmount: 500, LeastCost: 2000,
		StockTotal: stock, PerUserLimit: 1 << 20, ValidDays: 30}))
	for i := range users {
		u := uint64(100 + i)
		must(tb)(e.CreateParty(ctx, kaquan.CreateParty{ID: u, Kind: messages.PartyKind_PARTY_KIND_USER, Name: fmt.Sprint("user", i)}))
		must(tb)(e.CreateAccount(ctx, kaquan.CreateAccount{ID: userAccount(u), Owner: u}))
		if deposit > 0 {
			must(tb)(e.Deposit(ctx, kaquan.Deposit{Account: userAccount(u), Amount: deposit, Key: "initial"}))
		}
		w.users = append(w.users, u)
	}
	return w
}

// tryPay has user u claim a card, show a payment code for it and pay amount with it under key
// (safe to call from any goroutine).
func tryPay(ctx context.Context, e *kaquan.Engine, w world, u uint64, amount int64, key string) (kaquan.PaymentOutcome, error) {
	c, err := e.Claim(ctx, kaquan.Claim{Template: w.template, User: u})
	if err != nil {
		return kaquan.PaymentOutcome{}, err
	}
	code, err := e.IssuePaymentCode(ctx, kaquan.IssuePaymentCode{User: u, Account: userAccount(u), Card: c.Id})
	if err != nil {
		return kaquan.PaymentOutcome{}, err
	}
	return e.Pay(ctx, kaquan.Pay{Merchant: w.merchant, MerchantAccount: w.merchantAccount, Code: code.Code, Amount: amount, Key: key})
}

func must(tb testing.TB) func(any, error) {
	return func(_ any, err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
}

func ctxTimeout(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

// writeRaw writes entries straight into a closed engine's store (to stage what a crash or a bug
// could leave there).
func writeRaw(t *testing.T, dir string, entries ...persistence.Entry) {
	t.Helper()
	store, err := persistence.Open(dir, persistence.DurabilitySync, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	wr, err := persistence.NewWriter(store, persistence.DefaultWriterConfig())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	if err := wr.Submit(&persistence.Write{Entries: entries, Done: func(err error) { done <- err }}); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(<-done, wr.Close(), store.Close()); err != nil {
		t.Fatal(err)
	}
}

// wantErr runs call and checks that it returns an error matching want (errors.Is) without panicking.
func wantErr(tb testing.TB, name string, want error, call func() error) {
	tb.Helper()
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		err = call()
	}()
	if !errors.Is(err, want) {
		tb.Errorf("%s: got error %v, want %v", name, err, want)
	}
}

// wantCardErr checks that err is a *kaquan.CardError with reason want, matching ErrCardNotUsable.
func wantCardErr(tb testing.TB, name string, err error, want messages.CardReason) {
	tb.Helper()
	var ce *kaquan.CardError
	if !errors.As(err, &ce) || ce.Reason != want || !errors.Is(err, kaquan.ErrCardNotUsable) {
		tb.Errorf("%s: got error %v, want CardError %s", name, err, want)
	}
}

func readLedgers(tb testing.TB, e *kaquan.Engine, accounts []uint64) ledgerState {
	tb.Helper()
	s := ledgerState{}
	for _, a := range accounts {
		b, seq := mustBalance(tb, e, a)
		s[a] = [2]int64{b, int64(seq)}
	}
	return s
}

// unchanged checks that no account moved since before, that the engine still runs, and that the
// audit passes.
func unchanged(t *testing.T, e *kaquan.Engine, before ledgerState) {
	t.Helper()
	mustEngineOK(t, e)
	for a, want := range before {
		b, seq := mustBalance(t, e, a)
		if got := [2]int64{b, int64(seq)}; got != want {
			t.Errorf("account %d: got balance %d after %d entries, want %d after %d", a, got[0], got[1], want[0], want[1])
		}
	}
	mustAudit(t, e)
}

func mustBadWorld(t *testing.T, e *kaquan.Engine) badWorld {
	t.Helper()
	ctx := ctxTimeout(t)
	w := badWorld{world: mustWorld(t, e, 2, 10_000, 100), other: 2}
	must(t)(e.CreateParty(ctx, kaquan.CreateParty{ID: w.other, Kind: messages.PartyKind_PARTY_KIND_MERCHANT, Name: "other shop"}))
	must(t)(e.CreateAccount(ctx, kaquan.CreateAccount{ID: w.other, Owner: w.other}))
	w.accounts = []uint64{w.merchantAccount, w.other, userAccount(w.users[0]), userAccount(w.users[1])}
	return w
}

// wantFailedPayment checks the recorded outcome of a failed payment: FAILED, result r, nothing charged.
func wantFailedPayment(t *testing.T, name string, o kaquan.PaymentOutcome, r messages.PaymentResult) {
	t.Helper()
	p := o.Payment
	if p == nil || p.State != messages.PaymentState_PAYMENT_STATE_FAILED || p.Result != r || p.Charged != 0 || p.Discount != 0 {
		t.Errorf("%s: got recorded payment %v, want FAILED %s charging nothing", name, p, r)
	}
}

// wantNoPayment checks that a refused payment left nothing: no outcome, nothing recorded under key.
func wantNoPayment(t *testing.T, e *kaquan.Engine, name string, o kaquan.PaymentOutcome, merchant uint64, key string) {
	t.Helper()
	if o.Payment != nil {
		t.Errorf("%s: got outcome %v, want none", name, o.Payment)
	}
	if p, err := e.Payment(ctxTimeout(t), merchant, key); !errors.Is(err, kaquan.ErrUnknownEntity) {
		t.Errorf("%s: payment under key %q: got %v, %v, want ErrUnknownEntity", name, key, p, err)
	}
}

// ledgerState is every account's balance and ledger length at one moment.
type ledgerState map[uint64][2]int64

// badWorld is mustWorld with two users and a second merchant (2, owning account 2).
type badWorld struct {
	world
	other    uint64 // second merchant and its account
	accounts []uint64
}

// code issues a payment code on user u's account, naming card (0: none).
func (w badWorld) code(t *testing.T, e *kaquan.Engine, u, card uint64) string {
	t.Helper()
	return mustV(e.IssuePaymentCode(ctxTimeout(t), kaquan.IssuePaymentCode{User: u, Account: userAccount(u), Card: card}))(t).Code
}

func (w badWorld) pay(e *kaquan.Engine, code string, amount int64, key string) (kaquan.PaymentOutcome, error) {
	return e.Pay(context.Background(), kaquan.Pay{Merchant: w.merchant, MerchantAccount: w.merchantAccount, Code: code, Amount: amount, Key: key})
}
