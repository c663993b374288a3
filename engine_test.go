package kaquan_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
)

// payOnce claims a card for user u and pays amount with it at the world's merchant under key.
func payOnce(t *testing.T, e *kaquan.Engine, w world, u uint64, amount int64, key string) kaquan.PaymentOutcome {
	t.Helper()
	o, err := tryPay(ctxTimeout(t), e, w, u, amount, key)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// TestEngine_Passivation: idle entities leave memory, and come back from disk with their state.
func TestEngine_Passivation(t *testing.T) {
	e := MustOpenEngine(t, func(o *kaquan.Options) { o.IdleTimeout = 20 * time.Millisecond })
	w := mustWorld(t, e, 3, 10_000, 100)
	for i, u := range w.users {
		payOnce(t, e, w, u, 3000, "p"+string(rune('a'+i)))
	}
	deadline := time.Now().Add(5 * time.Second)
	for e.Stats().ActiveEntities > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := e.Stats().ActiveEntities; got != 0 {
		t.Fatalf("active entities after idling: got %d, want 0", got)
	}
	ctx := ctxTimeout(t)
	for _, u := range w.users {
		info, err := e.Account(ctx, userAccount(u))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := info.Balance, int64(10_000-2500); got != want {
			t.Fatalf("user %d balance after reactivation: got %d, want %d", u, got, want)
		}
	}
	tmpl, err := e.Template(ctx, w.template)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tmpl.Issued, uint32(3); got != want {
		t.Fatalf("template issued after reactivation: got %d, want %d", got, want)
	}
	// A second round of payments works on the reactivated entities.
	payOnce(t, e, w, w.users[0], 2000, "again")
	if got := e.Stats().ActiveEntities; got == 0 {
		t.Fatalf("active entities during work: got 0")
	}
	mustAudit(t, e)
}

// TestEngine_Reopen: everything acknowledged survives Close and Open, and a retry after reopening
// still returns the first outcome.
func TestEngine_Reopen(t *testing.T) {
	dir := t.TempDir()
	opts := kaquan.DefaultOptions()
	e, err := kaquan.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	w := mustWorld(t, e, 2, 10_000, 100)
	first := payOnce(t, e, w, w.users[0], 3000, "order-1")
	payOnce(t, e, w, w.users[1], 2500, "order-2")
	if _, err := e.Refund(ctxTimeout(t), kaquan.Refund{Merchant: w.merchant, Key: "order-2"}); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Account(context.Background(), userAccount(w.users[0])); err == nil {
		t.Fatal("call after Close succeeded")
	}

	e, err = kaquan.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := ctxTimeout(t)
	again, err := e.Pay(ctx, kaquan.Pay{Merchant: w.merchant, MerchantAccount: w.merchantAccount, Code: first.Payment.Code, Amount: 3000, Key: "order-1"})
	if err != nil {
		t.Fatal(err)
	}
	if !again.Duplicate || again.Payment.Charged != first.Payment.Charged || again.Payment.State != messages.PaymentState_PAYMENT_STATE_COMPLETED {
		t.Fatalf("retry after reopen: got %+v, want the first outcome marked duplicate", again)
	}
	for u, want := range map[uint64]int64{userAccount(w.users[0]): 7500, userAccount(w.users[1]): 10_000, w.merchantAccount: 2500} {
		info, err := e.Account(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		if info.Balance != want {
			t.Fatalf("account %d after reopen: got %d, want %d", u, info.Balance, want)
		}
	}
	r := mustAudit(t, e)
	if got, want := r.Payments["COMPLETED"]+r.Payments["REFUNDED"], 2; got != want {
		t.Fatalf("payments after reopen: got %v", r.Payments)
	}
}

// TestEngine_InMemory: the memory durability runs the same flows without a folder.
func TestEngine_InMemory(t *testing.T) {
	e := MustOpenEngine(t, inMemory)
	w := mustWorld(t, e, 1, 10_000, 10)
	o := payOnce(t, e, w, w.users[0], 2000, "m1")
	if got, want := o.Payment.Charged, int64(1500); got != want {
		t.Fatalf("charged: got %d, want %d", got, want)
	}
	mustAudit(t, e)
}

// TestEngine_PassivationRace: calls keep arriving while entities passivate after 10 ms idle; no
// call is lost and every balance is exact.
func TestEngine_PassivationRace(t *testing.T) {
	e := MustOpenEngine(t, inMemory, func(o *kaquan.Options) { o.IdleTimeout = kaquan.IdleTimeoutMin })
	w := mustWorld(t, e, 16, 0, 1)
	ctx := ctxTimeout(t)
	const perAccount = 40
	// Every account starts on disk, so each is activated at least once during the test.
	deadline := time.Now().Add(10 * time.Second)
	for e.Stats().ActiveEntities > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	before := e.Stats().Activations
	// Two clients per account; pauses around the idle timeout make activation, passivation and
	// new messages overlap.
	parallel(2*len(w.users), 2*len(w.users), func(c int) {
		u := w.users[c%len(w.users)]
		for i := range perAccount / 2 {
			time.Sleep(time.Duration((c*7+i*13)%21) * time.Millisecond)
			if _, err := e.Deposit(ctx, kaquan.Deposit{Account: userAccount(u), Amount: 1, Key: fmt.Sprint("d", c, "-", i)}); err != nil {
				t.Error(err)
			}
		}
	})
	for _, u := range w.users {
		info, err := e.Account(ctx, userAccount(u))
		if err != nil {
			t.Fatal(err)
		}
		if info.Balance != perAccount || info.Seq != perAccount {
			t.Fatalf("account %d: balance %d, %d entries; want %d, %d", userAccount(u), info.Balance, info.Seq, perAccount, perAccount)
		}
	}
	// How often passivation interleaved with the calls depends on the machine's load; that every
	// account came back from disk at least once does not.
	if got := e.Stats().Activations - before; got < int64(len(w.users)) {
		t.Fatalf("activations during the test: got %d, want at least %d", got, len(w.users))
	}
	t.Logf("%d activations for %d accounts", e.Stats().Activations-before, len(w.users))
	mustAudit(t, e)
}

// TestEngine_FailedRecoveryRecoversAgain: an Open whose recovery fails closes without marking a
// clean stop, so the next Open scans for interrupted payments again instead of skipping them.
func TestEngine_FailedRecoveryRecoversAgain(t *testing.T) {
	dir := t.TempDir()
	e := mustOpenAt(t, dir)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	writeRaw(t, dir,
		persistence.Entry{Key: persistence.MarkerKey("clean-shutdown"), Delete: true}, // a crash
		persistence.Entry{Key: persistence.PaymentKey("9/unreadable"), Value: []byte{0xff, 0xff, 0xff}},
	)
	for i := range 2 {
		if _, err := kaquan.Open(dir, kaquan.DefaultOptions()); err == nil {
			t.Fatalf("open %d: recovery over an unreadable payment succeeded", i+1)
		}
	}
}

// TestEngine_CloseDuringCalls: calls that write through the writer (CreateParty) or read the store
// (Party, WalletCards, Contacts) while Close runs end with ErrEngineStopped, never in a panic on a
// closed writer or store: Close waits for every call it admitted.
func TestEngine_CloseDuringCalls(t *testing.T) {
	for round := range 10 {
		e, err := kaquan.Open(t.TempDir(), kaquan.DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		w := mustWorld(t, e, 1, 100, 10)
		var wg sync.WaitGroup
		failures := make(chan string, 64)
		race := func(call func(i int) error) {
			wg.Go(func() {
				defer func() {
					if r := recover(); r != nil {
						failures <- fmt.Sprintf("panic: %v", r)
					}
				}()
				for i := 0; ; i++ {
					if err := call(i); err != nil {
						if !errors.Is(err, kaquan.ErrEngineStopped) {
							failures <- fmt.Sprintf("error: %v", err)
						}
						return
					}
				}
			})
		}
		for g := range 8 {
			race(func(i int) error {
				_, err := e.CreateParty(context.Background(), kaquan.CreateParty{ID: uint64(1_000_000*(g+1) + i), Kind: messages.PartyKind_PARTY_KIND_USER, Name: "u"})
				return err
			})
			race(func(int) error {
				_, err1 := e.Party(context.Background(), w.users[0])
				_, err2 := e.WalletCards(context.Background(), w.users[0])
				_, err3 := e.Contacts(context.Background(), w.users[0])
				return errors.Join(err1, err2, err3)
			})
		}
		time.Sleep(10 * time.Millisecond)
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		close(failures)
		for f := range failures {
			t.Fatalf("round %d: a call racing Close: %s", round, f)
		}
	}
}

// TestEngine_ConcurrentClose: a second Close returns only once the engine is closed, so the folder
// can be opened again right after either.
func TestEngine_ConcurrentClose(t *testing.T) {
	dir := t.TempDir()
	e, err := kaquan.Open(dir, kaquan.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	mustWorld(t, e, 50, 100, 10)
	first := make(chan error, 1)
	go func() { first <- e.Close() }()
	time.Sleep(time.Millisecond)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := kaquan.Open(dir, kaquan.DefaultOptions())
	if err != nil {
		t.Fatalf("open right after the second Close: %v", err)
	}
	if err := errors.Join(again.Close(), <-first); err != nil {
		t.Fatal(err)
	}
}

func TestBadInput_UnknownIDs(t *testing.T) {
	e := MustOpenEngine(t)
	ctx := ctxTimeout(t)
	w := mustBadWorld(t, e)
	u := w.users[0]
	const (
		noParty    = 999
		noAccount  = 999_999
		noTemplate = 99
	)
	noCard := w.template<<32 | 99
	validTemplate := func(id, merchant uint64) *messages.Template {
		return &messages.Template{Id: id, MerchantId: merchant, Kind: messages.TemplateKind_TEMPLATE_KIND_CASH,
			ReduceAmount: 100, StockTotal: 10, PerUserLimit: 1, ValidDays: 1}
	}
	before := readLedgers(t, e, w.accounts)
	calls := []struct {
		name string
		want error
		call func() error
	}{
		{"Party of an unknown id", kaquan.ErrUnknownEntity, func() error { _, err := e.Party(ctx, noParty); return err }},
		{"CreateAccount for an unknown owner", kaquan.ErrUnknownEntity, func() error {
			_, err := e.CreateAccount(ctx, kaquan.CreateAccount{ID: noAccount, Owner: noParty})
			return err
		}},
		{"CreateAccount for owner 0", kaquan.ErrUnknownEntity, func() error {
			_, err := e.CreateAccount(ctx, kaquan.CreateAccount{ID: noAccount, Owner: 0})
			return err
		}},
		{"Account of an unknown id", kaquan.ErrUnknownEntity, func() error { _, err := e.Account(ctx, noAccount); return err }},
		{"Account 0", kaquan.ErrUnknownEntity, func() error { _, err := e.Account(ctx, 0); return err }},
		{"Deposit to an unknown account", kaquan.ErrUnknownEntity, func() error {
			_, err := e.Deposit(ctx, kaquan.Deposit{Account: noAccount, Amount: 1, Key: "k"})
			return err
		}},
		{"Withdraw from an unknown account", kaquan.ErrUnknownEntity, func() error {
			_, err := e.Withdraw(ctx, kaquan.Withdrawal{Account: noAccount, Amount: 1, Key: "k"})
			return err
		}},
		{"SetAccountStatus of an unknown account", kaquan.ErrUnknownEntity, func() error {
			_, err := e.SetAccountStatus(ctx, kaquan.SetAccountStatus{Account: noAccount, Status: messages.AccountStatus_ACCOUNT_STATUS_FROZEN})
			return err
		}},
		{"IssuePaymentCode on an unknown account", kaquan.ErrUnknownEntity, func() error {
			_, err := e.IssuePaymentCode(ctx, kaquan.IssuePaymentCode{User: u, Account: noAccount})
			return err
		}},
		{"Template of an unknown id", kaquan.ErrUnknownEntity, func() error { _, err := e.Template(ctx, noTemplate); return err }},
		{"CreateTemplate for an unknown merchant", kaquan.ErrUnknownEntity, func() error {
			_, err := e.CreateTemplate(ctx, validTemplate(noTemplate, noParty))
			return err
		}},
		{"CreateTemplate for merchant 0", kaquan.ErrUnknownEntity, func() error {
			_, err := e.CreateTemplate(ctx, validTemplate(noTemplate, 0))
			return err
		}},
		{"Claim of an unknown template", kaquan.ErrUnknownEntity, func() error {
			_, err := e.Claim(ctx, kaquan.Claim{Template: noTemplate, User: u})
			return err
		}},
		{"Claim of template 0", kaquan.ErrUnknownEntity, func() error { _, err := e.Claim(ctx, kaquan.Claim{Template: 0, User: u}); return err }},
		{"Claim of template 2^32", kaquan.ErrUnknownEntity, func() error {
			_, err := e.Claim(ctx, kaquan.Claim{Template: 1 << 32, User: u})
			return err
		}},
		{"Claim by an unknown user", kaquan.ErrUnknownEntity, func() error {
			_, err := e.Claim(ctx, kaquan.Claim{Template: w.template, User: noParty})
			return err
		}},
		{"Card of an unknown id", kaquan.ErrUnknownEntity, func() error { _, err := e.Card(ctx, noCard); return err }},
		{"VoidCard of an unknown card", kaquan.ErrUnknownEntity, func() error {
			_, err := e.VoidCard(ctx, kaquan.VoidCard{Merchant: w.merchant, Card: noCard})
			return err
		}},
		{"ExpireCard of an unknown card", kaquan.ErrUnknownEntity, func() error { _, err := e.ExpireCard(ctx, kaquan.ExpireCard{Card: noCard}); return err }},
		{"Pay into an unknown merchant account", kaquan.ErrUnknownEntity, func() error {
			_, err := e.Pay(ctx, kaquan.Pay{Merchant: w.merchant, MerchantAccount: noAccount, Code: "123456789012345678", Amount: 1, Key: "k"})
			return err
		}},
		{"Refund of an unknown payment", kaquan.ErrUnknownEntity, func() error { _, err := e.Refund(ctx, kaquan.Refund{Merchant: w.merchant, Key: "nope"}); return err }},
		{"Payment of an unknown key", kaquan.ErrUnknownEntity, func() error { _, err := e.Payment(ctx, w.merchant, "nope"); return err }},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) { wantErr(t, c.name, c.want, c.call) })
	}
	t.Run("nothing was created", func(t *testing.T) {
		unchanged(t, e, before)
		wantErr(t, "party", kaquan.ErrUnknownEntity, func() error { _, err := e.Party(ctx, noParty); return err })
		wantErr(t, "account", kaquan.ErrUnknownEntity, func() error { _, err := e.Account(ctx, noAccount); return err })
		wantErr(t, "template", kaquan.ErrUnknownEntity, func() error { _, err := e.Template(ctx, noTemplate); return err })
		wantErr(t, "card", kaquan.ErrUnknownEntity, func() error { _, err := e.Card(ctx, noCard); return err })
		r := mustAudit(t, e)
		if got, want := r.Accounts, len(w.accounts); got != want {
			t.Errorf("audit: got %d accounts, want %d", got, want)
		}
		if got, want := r.Templates, 1; got != want {
			t.Errorf("audit: got %d templates, want %d", got, want)
		}
		if len(r.Payments) != 0 {
			t.Errorf("audit: got payments %v, want none", r.Payments)
		}
		if ids, err := e.Wallet(ctx, noParty); err != nil || len(ids) != 0 {
			t.Errorf("wallet of an unknown user: got %v, %v, want empty", ids, err)
		}
	})
}

func TestBadInput_AfterClose(t *testing.T) {
	e := MustOpenEngine(t)
	ctx := ctxTimeout(t)
	w := mustBadWorld(t, e)
	u := w.users[0]
	code := w.code(t, e, u, 0)
	c := mustV(e.Claim(ctx, kaquan.Claim{Template: w.template, User: u}))(t)
	must(t)(w.pay(e, w.code(t, e, u, 0), 100, "paid"))
	if err := e.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	calls := map[string]func() error{
		"CreateParty": func() error {
			_, err := e.CreateParty(ctx, kaquan.CreateParty{ID: 4000, Kind: messages.PartyKind_PARTY_KIND_USER, Name: "u"})
			return err
		},
		"Party":         func() error { _, err := e.Party(ctx, u); return err },
		"CreateAccount": func() error { _, err := e.CreateAccount(ctx, kaquan.CreateAccount{ID: 4000, Owner: u}); return err },
		"Account":       func() error { _, err := e.Account(ctx, userAccount(u)); return err },
		"SetAccountStatus": func() error {
			_, err := e.SetAccountStatus(ctx, kaquan.SetAccountStatus{Account: userAccount(u), Status: messages.AccountStatus_ACCOUNT_STATUS_FROZEN})
			return err
		},
		"Deposit": func() error {
			_, err := e.Deposit(ctx, kaquan.Deposit{Account: userAccount(u), Amount: 1, Key: "late"})
			return err
		},
		"Withdraw": func() error {
			_, err := e.Withdraw(ctx, kaquan.Withdrawal{Account: userAccount(u), Amount: 1, Key: "late"})
			return err
		},
		"CreateTemplate": func() error {
			_, err := e.CreateTemplate(ctx, &messages.Template{Id: 80, MerchantId: w.merchant, Kind: messages.TemplateKind_TEMPLATE_KIND_CASH,
				ReduceAmount: 1, StockTotal: 1, PerUserLimit: 1, ValidDays: 1})
			return err
		},
		"Template":   func() error { _, err := e.Template(ctx, w.template); return err },
		"Claim":      func() error { _, err := e.Claim(ctx, kaquan.Claim{Template: w.template, User: u}); return err },
		"Card":       func() error { _, err := e.Card(ctx, c.Id); return err },
		"VoidCard":   func() error { _, err := e.VoidCard(ctx, kaquan.VoidCard{Merchant: w.merchant, Card: c.Id}); return err },
		"ExpireCard": func() error { _, err := e.ExpireCard(ctx, kaquan.ExpireCard{Card: c.Id}); return err },
		"Wallet":     func() error { _, err := e.Wallet(ctx, u); return err },
		"IssuePaymentCode": func() error {
			_, err := e.IssuePaymentCode(ctx, kaquan.IssuePaymentCode{User: u, Account: userAccount(u)})
			return err
		},
		"Pay":     func() error { _, err := w.pay(e, code, 100, "late"); return err },
		"Refund":  func() error { _, err := e.Refund(ctx, kaquan.Refund{Merchant: w.merchant, Key: "paid"}); return err },
		"Payment": func() error { _, err := e.Payment(ctx, w.merchant, "paid"); return err },
		"Audit":   func() error { _, err := e.Audit(ctx); return err },
		"CheckAcks": func() error {
			return e.CheckAcks(ctx, &kaquan.AuditReport{}, []string{kaquan.PaymentKey(w.merchant, "paid")})
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) { wantErr(t, name, kaquan.ErrEngineStopped, call) })
	}
	t.Run("Close again", func(t *testing.T) {
		if err := e.Close(); err != nil {
			t.Errorf("second close: got %v, want nil", err)
		}
	})
}

// waitActive waits until at most want entities are in memory, and reports how many there are.
func waitActive(e *kaquan.Engine, want int64) int64 {
	deadline := time.Now().Add(unknownSettle)
	for e.Stats().ActiveEntities > want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	return e.Stats().ActiveEntities
}

// TestEntities_UnknownReadsLeaveMemory: reads of cards, accounts, templates and payments that do not
// exist, and claims from the pools of users that do not exist, leave no entity in memory once
// answered (each used to stay for the idle time-out: 200,000
// unknown cards took 232 MiB, and any token can ask for them).
func TestEntities_UnknownReadsLeaveMemory(t *testing.T) {
	e := MustOpenEngine(t, inMemory)
	ctx := ctxTimeout(t)
	w := mustWorld(t, e, 1, 0, 10)
	base := e.Stats().ActiveEntities
	const n = 20_000
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Go(func() {
			for i := g; i < n; i += 32 {
				id := uint64(1<<40 + i)
				_, errCard := e.Card(ctx, id)
				_, errAccount := e.Account(ctx, id)
				_, errTemplate := e.Template(ctx, id)
				_, errPayment := e.Payment(ctx, 1, fmt.Sprint("unknown-", i))
				if _, err := e.ClaimShared(ctx, kaquan.ClaimShared{Claimer: w.users[0], Sharer: id, Card: id}); err == nil {
					t.Errorf("claim from the pool of unknown user %d: got no error", id)
					return
				}
				for _, err := range []error{errCard, errAccount, errTemplate, errPayment} {
					if !errors.Is(err, kaquan.ErrUnknownEntity) {
						t.Errorf("read of unknown id %d: got %v, want ErrUnknownEntity", id, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if got := waitActive(e, base); got > base {
		t.Errorf("active entities %s after %d reads of each kind of unknown id: got %d, want %d (as before them)", unknownSettle, n, got, base)
	}
}

// TestEntities_KnownStayActive: an entity that exists stays in memory between reads.
func TestEntities_KnownStayActive(t *testing.T) {
	e := MustOpenEngine(t, inMemory)
	ctx := ctxTimeout(t)
	w := mustWorld(t, e, 1, 0, 10)
	c, err := e.Claim(ctx, kaquan.Claim{Template: w.template, User: w.users[0]})
	if err != nil {
		t.Fatal(err)
	}
	before := e.Stats().Activations
	for range 10 {
		must(t)(e.Card(ctx, c.Id))
	}
	if got := e.Stats().Activations - before; got > 1 {
		t.Errorf("activations for 10 reads of an existing card: got %d, want at most 1", got)
	}
}

// TestEntities_UnknownThenCreated: a card read before it is claimed does not stay in memory as
// unknown: once claimed, it is found.
func TestEntities_UnknownThenCreated(t *testing.T) {
	e := MustOpenEngine(t, inMemory)
	ctx := ctxTimeout(t)
	w := mustWorld(t, e, 1, 0, 10)
	base := e.Stats().ActiveEntities
	next := w.template<<32 | 1 // the first card the template issues
	if _, err := e.Card(ctx, next); !errors.Is(err, kaquan.ErrUnknownEntity) {
		t.Fatalf("card %d before its claim: got %v, want ErrUnknownEntity", next, err)
	}
	if got := waitActive(e, base); got > base {
		t.Errorf("active entities after reading an unknown card: got %d, want %d", got, base)
	}
	c, err := e.Claim(ctx, kaquan.Claim{Template: w.template, User: w.users[0]})
	if err != nil {
		t.Fatal(err)
	}
	if c.Id != next {
		t.Fatalf("claimed card: got %d, want %d", c.Id, next)
	}
	if got, err := e.Card(ctx, next); err != nil || got.State != messages.CardState_CARD_STATE_AVAILABLE {
		t.Errorf("card %d after its claim: got %v, %v; want it available", next, got, err)
	}
}

// unknownSettle is how long entities for unknown ids may take to leave memory: far below the
// default IdleTimeout (30 s), which is what kept them before.
const unknownSettle = 3 * time.Second
