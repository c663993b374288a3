package kaquan_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/messages"
)

// unknownSettle is how long entities for unknown ids may take to leave memory: far below the
// default IdleTimeout (30 s), which is what kept them before.
const unknownSettle = 3 * time.Second

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
