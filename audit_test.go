package kaquan_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
	"google.golang.org/protobuf/proto"
)

// TestAudit_CatchesBrokenPayments: the payment checks of the audit fail on a payment that lost its
// record, disagrees with its ledger entries, has entries in a third account or a transfer index
// naming another entry, and on a card used by a payment that is not complete.
func TestAudit_CatchesBrokenPayments(t *testing.T) {
	rewrite := func(change func(p *messages.Payment)) func(t *testing.T, p *messages.Payment) []persistence.Entry {
		return func(t *testing.T, p *messages.Payment) []persistence.Entry {
			change(p)
			v, err := proto.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			return []persistence.Entry{{Key: persistence.PaymentKey(p.Key), Value: v}}
		}
	}
	tamper := map[string]struct {
		change func(t *testing.T, p *messages.Payment) []persistence.Entry
		want   string // in one of the problems
	}{
		"RecordLost": {func(_ *testing.T, p *messages.Payment) []persistence.Entry {
			return []persistence.Entry{{Key: persistence.PaymentKey(p.Key), Delete: true}}
		}, "which does not exist"},
		"ChargedNothing": {rewrite(func(p *messages.Payment) { p.Charged = 0 }), "COMPLETED with entries"},
		"Failed":         {rewrite(func(p *messages.Payment) { p.State = messages.PaymentState_PAYMENT_STATE_FAILED }), "FAILED but holds"},
		"StillStarted":   {rewrite(func(p *messages.Payment) { p.State = messages.PaymentState_PAYMENT_STATE_STARTED }), "USED without its completed payment"},
		"OtherCard":      {rewrite(func(p *messages.Payment) { p.CardId++ }), "USED without its completed payment"},
		"IndexToAnotherEntry": {func(_ *testing.T, p *messages.Payment) []persistence.Entry {
			return []persistence.Entry{{Key: persistence.TransferKey(p.PayerAccount, "pay:"+p.Key), Value: persistence.Uint64(1)}} // the deposit
		}, "which is not its entry"},
		"ThirdAccount": {func(t *testing.T, p *messages.Payment) []persistence.Entry {
			// The merchant's entry also appears, whole, in a third account's ledger.
			en := &messages.LedgerEntry{AccountId: 999, Seq: 1, Kind: messages.EntryKind_ENTRY_KIND_PAYMENT_CREDIT,
				Amount: p.Charged, BalanceAfter: p.Charged, Transfer: "pay:" + p.Key}
			v, err := proto.Marshal(en)
			if err != nil {
				t.Fatal(err)
			}
			acc, err := proto.Marshal(&messages.Account{Id: 999, OwnerId: 1, OwnerKind: messages.PartyKind_PARTY_KIND_MERCHANT, Status: messages.AccountStatus_ACCOUNT_STATUS_ACTIVE})
			if err != nil {
				t.Fatal(err)
			}
			return []persistence.Entry{{Key: persistence.AccountKey(999), Value: acc}, {Key: persistence.LedgerKey(999, 1), Value: v},
				{Key: persistence.TransferKey(999, en.Transfer), Value: persistence.Uint64(1)}}
		}, "payment 1/k1"},
	}
	for name, tc := range tamper {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			e, err := kaquan.Open(dir, kaquan.DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			w := mustWorld(t, e, 1, 10_000, 10)
			o := payOnce(t, e, w, w.users[0], 3000, "k1")
			mustAudit(t, e)
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			writeRaw(t, dir, tc.change(t, o.Payment)...)
			e, err = kaquan.Open(dir, kaquan.DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			r, err := e.Audit(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if r.OK() || !strings.Contains(strings.Join(r.Problems, "\n"), tc.want) {
				t.Fatalf("audit of a tampered store: %s %q, want a problem with %q", r, r.Problems, tc.want)
			}
			t.Logf("audit found: %q", r.Problems)
		})
	}
}

// canceledAfter is a context whose Err is nil for its first n calls and context.Canceled after.
type canceledAfter struct {
	context.Context
	n int
}

func (c *canceledAfter) Err() error {
	if c.n > 0 {
		c.n--
		return nil
	}
	return context.Canceled
}

// TestAudit_StopsWhenCanceled: an audit walks the whole store (minutes for 10M cards), so it looks
// at its context as it goes and stops with its error once canceled.
func TestAudit_StopsWhenCanceled(t *testing.T) {
	e := mustOpenAt(t, t.TempDir())
	mustWorld(t, e, 3, 1000, 2)
	if r, err := e.Audit(ctxTimeout(t)); err != nil || !r.OK() {
		t.Fatalf("audit: %v %v", r, err)
	}
	// The engine's own check at the start passes; the first look during the walk finds it canceled.
	_, err := e.Audit(&canceledAfter{Context: context.Background(), n: 1})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled audit: %v, want context.Canceled", err)
	}
}

// TestAudit_RefusedTransfers: a transfer index value that is not a ledger seq records a refusal
// (or a recovery's fence): no entry. The audit counts it and passes; a refusal where the account
// holds the transfer's entry is a problem.
func TestAudit_RefusedTransfers(t *testing.T) {
	refusal := []byte{byte(messages.PaymentResult_PAYMENT_RESULT_INTERRUPTED)}
	for _, tc := range []struct {
		name     string
		transfer string // of the payer's account, indexed as refused
		want     []string
	}{
		{"Fence", "rev:", nil},
		{"OverAnEntry", "pay:", []string{"transfer \"pay:1/k1\" is indexed as refused", "transfer pay:1/k1 misses a leg"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			e := mustOpenAt(t, dir)
			w := mustWorld(t, e, 1, 10_000, 10)
			o := payOnce(t, e, w, w.users[0], 3000, "k1")
			if r := mustAudit(t, e); r.RefusedTransfers != 0 {
				t.Fatalf("refused transfers before: %d", r.RefusedTransfers)
			}
			e = reopenWith(t, dir, e, persistence.Entry{Key: persistence.TransferKey(o.Payment.PayerAccount, tc.transfer+o.Payment.Key), Value: refusal})
			r, err := e.Audit(ctxTimeout(t))
			if err != nil {
				t.Fatal(err)
			}
			if r.RefusedTransfers != 1 || !strings.Contains(r.String(), "1 refused transfers") {
				t.Errorf("refused transfers %d: %s", r.RefusedTransfers, r)
			}
			all := strings.Join(r.Problems, "\n")
			if len(tc.want) == 0 && !r.OK() {
				t.Fatalf("a fence failed the audit: %q", r.Problems)
			}
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("no problem %q in %q", w, r.Problems)
				}
			}
		})
	}
}
