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
				_, err := e.CreateParty(context.Background(), kaquan.CreateParty{ID: uint64(1_000_000*(g+1) + i), Kind: messages.PartyKind_PARTY_KIND_USER})
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
