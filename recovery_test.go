package kaquan_test

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
	"google.golang.org/protobuf/proto"
)

// TestRecovery_FencesAndRepeatsNothing stages a crash after a plain payment debited the payer and
// its reversal was already posted, before the payment was recorded FAILED. Recovery must find no
// credit (and fence the merchant's account against it), find the debit, and send the reversal
// again, which the payer answers as made: the payer is not credited twice.
func TestRecovery_FencesAndRepeatsNothing(t *testing.T) {
	t.Run("OneNode", func(t *testing.T) { recoverFencing(t) })
	// A cluster node resumes in the background, after Open returned.
	t.Run("ClusterNode", func(t *testing.T) {
		recoverFencing(t, func(o *kaquan.Options) {
			o.Cluster = &kaquan.ClusterOptions{Node: 0, Nodes: 1, Slots: 64, Peers: []string{freeAddr(t)}}
		})
	})
}

// freeAddr is a loopback address with a port free a moment ago (and the one above it).
func freeAddr(t *testing.T) string {
	t.Helper()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().(*net.TCPAddr)
		l.Close()
		if l2, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", addr.Port+1)); err == nil {
			l2.Close()
			return addr.String()
		}
	}
	t.Fatal("no free pair of ports")
	return ""
}

func recoverFencing(t *testing.T, mutate ...func(*kaquan.Options)) {
	dir := t.TempDir()
	e := mustOpenAt(t, dir, mutate...)
	w := mustWorld(t, e, 1, 1000, 10)
	payer, key := userAccount(w.users[0]), kaquan.PaymentKey(w.merchant, "crashed")
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	entry := func(seq uint64, amount, after int64, kind messages.EntryKind, transfer string) []persistence.Entry {
		v, err := proto.Marshal(&messages.LedgerEntry{AccountId: payer, Seq: seq, Amount: amount, BalanceAfter: after,
			Kind: kind, Transfer: transfer, CounterAccount: w.merchantAccount, At: 1})
		if err != nil {
			t.Fatal(err)
		}
		return []persistence.Entry{{Key: persistence.LedgerKey(payer, seq), Value: v},
			{Key: persistence.TransferKey(payer, transfer), Value: persistence.Uint64(seq)}}
	}
	p, err := proto.Marshal(&messages.Payment{Key: key, MerchantId: w.merchant, MerchantAccount: w.merchantAccount,
		Code: "123456789012345678", Amount: 300, PayerAccount: payer, PayerId: w.users[0], Charged: 300,
		State: messages.PaymentState_PAYMENT_STATE_STARTED, StartedAt: 1})
	if err != nil {
		t.Fatal(err)
	}
	staged := []persistence.Entry{{Key: persistence.MarkerKey("clean-shutdown"), Delete: true}, {Key: persistence.PaymentKey(key), Value: p}}
	staged = append(staged, entry(2, -300, 700, messages.EntryKind_ENTRY_KIND_PAYMENT_DEBIT, "pay:"+key)...)
	staged = append(staged, entry(3, 300, 1000, messages.EntryKind_ENTRY_KIND_REVERSAL_CREDIT, "rev:"+key)...)
	writeRaw(t, dir, staged...)

	e = mustOpenAt(t, dir, mutate...)
	defer e.Close()
	var got *messages.Payment
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		got, err = e.Payment(ctxTimeout(t), w.merchant, "crashed")
		if err != nil || got.State != messages.PaymentState_PAYMENT_STATE_STARTED || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || got.State != messages.PaymentState_PAYMENT_STATE_FAILED || got.Result != messages.PaymentResult_PAYMENT_RESULT_INTERRUPTED {
		t.Fatalf("payment after recovery: got %v %v, want FAILED INTERRUPTED", got, err)
	}
	if balance, seq := mustBalance(t, e, payer); balance != 1000 || seq != 3 {
		t.Errorf("payer: got balance %d after entry %d, want 1000 after 3 (the reversal not repeated)", balance, seq)
	}
	v, err := kaquan.Get(e, persistence.TransferKey(w.merchantAccount, "pay:"+key))
	if r, ok := persistence.ParseRefusal(v); err != nil || !ok || messages.PaymentResult(r) != messages.PaymentResult_PAYMENT_RESULT_INTERRUPTED {
		t.Errorf("merchant's pay transfer: got %v %v, want a fence (INTERRUPTED)", v, err)
	}
	mustAudit(t, e)
}
