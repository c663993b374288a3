package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
	"google.golang.org/protobuf/proto"
)

// Ids of the test cluster (3 nodes, 4 slots: slot s on node s mod 3): merchant 1 and its account
// 5 in slot 1 (node 1), user 2 and its account 6 in slot 2 (node 2).
const (
	auditMerchant, auditMerchantAccount = 1, 5
	auditPayer, auditPayerAccount       = 2, 6
	auditDeposit, auditCharged          = 10_000, 2_500
)

// clusterFolders builds the folders of a 3-node cluster in root: parties, accounts and the
// payer's deposit made by each node's engine, and a payment across nodes 1 and 2 written as
// the transport would leave it (its record and credit on node 1, its debit on node 2), without
// the credit when withCredit is false.
func clusterFolders(t *testing.T, withCredit bool) []string {
	t.Helper()
	ctx := context.Background()
	root := t.TempDir()
	var dirs []string
	for node := range 3 {
		dir := filepath.Join(root, "node"+string(rune('0'+node)))
		o := kaquan.DefaultOptions()
		o.Logger = slog.New(slog.DiscardHandler)
		o.Cluster = &kaquan.ClusterOptions{Node: node, Nodes: 3, Slots: 4}
		e, err := kaquan.Open(dir, o)
		if err != nil {
			t.Fatal(err)
		}
		var errs []error
		do := func(_ any, err error) { errs = append(errs, err) }
		switch node {
		case 1:
			do(e.CreateParty(ctx, kaquan.CreateParty{ID: auditMerchant, Kind: kaquan.PartyMerchant, Name: "shop"}))
			do(e.CreateAccount(ctx, kaquan.CreateAccount{ID: auditMerchantAccount, Owner: auditMerchant}))
		case 2:
			do(e.CreateParty(ctx, kaquan.CreateParty{ID: auditPayer, Kind: kaquan.PartyUser, Name: "payer"}))
			do(e.CreateAccount(ctx, kaquan.CreateAccount{ID: auditPayerAccount, Owner: auditPayer}))
			do(e.Deposit(ctx, kaquan.Deposit{Account: auditPayerAccount, Amount: auditDeposit, Key: "initial"}))
		}
		if err := errors.Join(append(errs, e.Close())...); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, dir)
	}
	p := &messages.Payment{Key: "1/k1", MerchantId: auditMerchant, MerchantAccount: auditMerchantAccount, PayerAccount: auditPayerAccount,
		PayerId: auditPayer, Amount: auditCharged, Charged: auditCharged,
		State: messages.PaymentState_PAYMENT_STATE_COMPLETED, Result: messages.PaymentResult_PAYMENT_RESULT_OK}
	node1 := []persistence.Entry{{Key: persistence.PaymentKey(p.Key), Value: mustMarshal(t, p)}}
	if withCredit {
		node1 = append(node1, leg(t, auditMerchantAccount, 1, auditCharged, auditCharged, messages.EntryKind_ENTRY_KIND_PAYMENT_CREDIT)...)
	}
	writeEntries(t, dirs[1], node1...)
	writeEntries(t, dirs[2], leg(t, auditPayerAccount, 2, -auditCharged, auditDeposit-auditCharged, messages.EntryKind_ENTRY_KIND_PAYMENT_DEBIT)...)
	return dirs
}

// leg is ledger entry seq of account for payment 1/k1, and its transfer index entry.
func leg(t *testing.T, account, seq uint64, amount, balance int64, kind messages.EntryKind) []persistence.Entry {
	en := &messages.LedgerEntry{AccountId: account, Seq: seq, Amount: amount, BalanceAfter: balance, Kind: kind, Transfer: "pay:1/k1"}
	return []persistence.Entry{{Key: persistence.LedgerKey(account, seq), Value: mustMarshal(t, en)},
		{Key: persistence.TransferKey(account, en.Transfer), Value: persistence.Uint64(seq)}}
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	v, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// writeEntries writes entries straight into a closed node's store.
func writeEntries(t *testing.T, dir string, entries ...persistence.Entry) {
	t.Helper()
	store, err := persistence.Open(dir, persistence.DurabilitySync, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	w, err := persistence.NewWriter(store, persistence.DefaultWriterConfig())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	if err := w.Submit(&persistence.Write{Entries: entries, Done: func(err error) { done <- err }}); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(<-done, w.Close(), store.Close()); err != nil {
		t.Fatal(err)
	}
}

func ackFile(t *testing.T, lines ...string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "acks")
	if err := os.WriteFile(f, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestAudit_Cluster: `kaquan audit` with --data once per node audits the cluster: per node and
// over all nodes, text or JSON; exit 3 for a problem, 1 for folders that are not one cluster.
func TestAudit_Cluster(t *testing.T) {
	dirs := clusterFolders(t, true)
	data := []string{"audit", "--data", dirs[0], "--data", dirs[1], "--data", dirs[2]}

	code, out, errs := run(append(data, "--expect-acks", ackFile(t, "1/k1"))...)
	if code != ExitOK {
		t.Fatalf("exit %d: %s\n%s", code, errs, out)
	}
	for _, want := range []string{"node 0 (" + dirs[0] + "): audit OK: 0 accounts", "node 1 (" + dirs[1] + "): audit OK: 1 accounts",
		"cluster audit OK: 3 nodes, 4 slots; 2 accounts, 3 ledger entries", "deposits 10000 - withdrawals 0 = balances 10000 + in flight 0",
		"acknowledged payments checked: 1"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}

	code, out, errs = run(append(data, "--json")...)
	var r struct {
		OK       bool  `json:"ok"`
		Deposits int64 `json:"deposits"`
		Balances int64 `json:"balances"`
		Cluster  struct {
			Slots int `json:"slots"`
			Nodes []struct {
				Node     int    `json:"node"`
				Data     string `json:"data"`
				Balances int64  `json:"balances"`
			} `json:"nodes"`
		} `json:"cluster"`
	}
	if code != ExitOK || json.Unmarshal([]byte(out), &r) != nil {
		t.Fatalf("json: exit %d: %s\n%s", code, errs, out)
	}
	if !r.OK || r.Deposits != auditDeposit || r.Balances != auditDeposit || r.Cluster.Slots != 4 || len(r.Cluster.Nodes) != 3 ||
		r.Cluster.Nodes[2].Data != dirs[2] || r.Cluster.Nodes[2].Balances != auditDeposit-auditCharged {
		t.Errorf("json report: %s", out)
	}

	code, out, _ = run(append(data, "--expect-acks", ackFile(t, "1/k1", "1/k2"))...)
	if code != ExitAuditFailed || !strings.Contains(out, "problem: acknowledged payment 1/k2 does not exist") {
		t.Errorf("an acked payment missing: exit %d:\n%s", code, out)
	}

	broken := clusterFolders(t, false)
	code, out, _ = run("audit", "--data", broken[0], "--data", broken[1], "--data", broken[2])
	if code != ExitAuditFailed || !strings.Contains(out, "cluster audit FAILED (2 problems)") ||
		!strings.Contains(out, "problem: node 1: payment 1/k1 (COMPLETED): transfer pay:1/k1 misses a leg") ||
		!strings.Contains(out, "problem: conservation over 3 nodes") {
		t.Errorf("a missing leg: exit %d:\n%s", code, out)
	}

	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"NodeMissing":   {[]string{"audit", "--data", dirs[0], "--data", dirs[1]}, "node [2] missing"},
		"TwoNodesOne":   {[]string{"audit", "--data", dirs[0], "--data", broken[1], "--data", dirs[1]}, "are both node 1"},
		"OneNodeAlone":  {[]string{"audit", "--data", dirs[1]}, "open it with Options.Cluster"}, // as before: a single node's audit
		"FolderMissing": {append(data, "--data", filepath.Join(t.TempDir(), "none")), "data folder"},
	} {
		t.Run(name, func(t *testing.T) {
			code, out, errs := run(tc.args...)
			if code != ExitFailure || !strings.Contains(errs, tc.want) {
				t.Errorf("exit %d (want %d), stderr %q (want %q), stdout %q", code, ExitFailure, errs, tc.want, out)
			}
		})
	}
}
