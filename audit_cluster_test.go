package kaquan_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/actors/slot"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
	"google.golang.org/protobuf/proto"
)

// The test cluster: 3 nodes over 4 slots (slot s on node s mod 3: 0 and 3 on node 0, 1 on node 1,
// 2 on node 2). Ids are chosen by their slots.
const (
	clusterNodes = 3
	clusterSlots = 4

	cMerchant        = 1  // slot 1, node 1: its payments and its account there
	cMerchantAccount = 5  // slot 1, node 1
	cPayer           = 2  // slot 2, node 2
	cPayerAccount    = 6  // slot 2, node 2
	cTemplate        = 4  // slot 0, node 0: its cards there too
	cLocalUser       = 9  // slot 1, node 1: pays at the merchant with a card of cLocalTemplate
	cLocalAccount    = 13 // slot 1, node 1
	cLocalTemplate   = 5  // slot 1, node 1
	cSaver           = 3  // slot 3, node 0: deposits and withdraws
	cSaverAccount    = 7  // slot 3, node 0
	cDeposit         = 10_000
	cCharged         = 2_500 // the cross-node payment 1/k1: 3000 less the card's 500
	cReversed        = 1_000 // the cross-node payment 1/k2: debited, refused by the merchant's account, reversed
)

var clusterLayout = slot.Layout{Slots: clusterSlots, Nodes: clusterNodes}

// clusterBaseDirs builds the engine-made part of the test cluster: each node's own parties,
// accounts, deposits and, on node 1, a payment whose participants are all there. Tests copy it
// (crossRecords.write) rather than build it again.
func clusterBaseDirs(t *testing.T) []string {
	t.Helper()
	dirs, err := buildClusterBase(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

func buildClusterBase(root string) ([]string, error) {
	ctx := context.Background()
	var dirs []string
	for node := range clusterNodes {
		dir := filepath.Join(root, "node"+string(rune('0'+node)))
		o := kaquan.DefaultOptions()
		o.Cluster = &kaquan.ClusterOptions{Node: node, Nodes: clusterNodes, Slots: clusterSlots}
		e, err := kaquan.Open(dir, o)
		if err != nil {
			return nil, err
		}
		err = buildNode(ctx, e, node)
		if err = errors.Join(err, e.Close()); err != nil {
			return nil, err
		}
		dirs = append(dirs, dir)
	}
	return dirs, nil
}

func buildNode(ctx context.Context, e *kaquan.Engine, node int) error {
	var errs []error
	do := func(_ any, err error) { errs = append(errs, err) }
	switch node {
	case 0:
		do(e.CreateParty(ctx, kaquan.CreateParty{ID: cSaver, Kind: kaquan.PartyUser, Name: "saver"}))
		do(e.CreateAccount(ctx, kaquan.CreateAccount{ID: cSaverAccount, Owner: cSaver}))
		do(e.Deposit(ctx, kaquan.Deposit{Account: cSaverAccount, Amount: 500, Key: "in"}))
		do(e.Withdraw(ctx, kaquan.Withdrawal{Account: cSaverAccount, Amount: 200, Key: "out"}))
	case 1:
		do(e.CreateParty(ctx, kaquan.CreateParty{ID: cMerchant, Kind: kaquan.PartyMerchant, Name: "shop"}))
		do(e.CreateAccount(ctx, kaquan.CreateAccount{ID: cMerchantAccount, Owner: cMerchant}))
		do(e.CreateParty(ctx, kaquan.CreateParty{ID: cLocalUser, Kind: kaquan.PartyUser, Name: "local"}))
		do(e.CreateAccount(ctx, kaquan.CreateAccount{ID: cLocalAccount, Owner: cLocalUser}))
		do(e.Deposit(ctx, kaquan.Deposit{Account: cLocalAccount, Amount: 4000, Key: "initial"}))
		do(e.CreateTemplate(ctx, &messages.Template{Id: cLocalTemplate, MerchantId: cMerchant, Kind: kaquan.TemplateCash,
			ReduceAmount: 500, LeastCost: 2000, StockTotal: 10, PerUserLimit: 10, ValidDays: 30}))
		c, err := e.Claim(ctx, kaquan.Claim{Template: cLocalTemplate, User: cLocalUser})
		if err != nil {
			return err
		}
		code, err := e.IssuePaymentCode(ctx, kaquan.IssuePaymentCode{User: cLocalUser, Account: cLocalAccount, Card: c.Id})
		if err != nil {
			return err
		}
		do(e.Pay(ctx, kaquan.Pay{Merchant: cMerchant, MerchantAccount: cMerchantAccount, Code: code.Code, Amount: 2500, Key: "k0"}))
	case 2:
		do(e.CreateParty(ctx, kaquan.CreateParty{ID: cPayer, Kind: kaquan.PartyUser, Name: "payer"}))
		do(e.CreateAccount(ctx, kaquan.CreateAccount{ID: cPayerAccount, Owner: cPayer}))
		do(e.Deposit(ctx, kaquan.Deposit{Account: cPayerAccount, Amount: cDeposit, Key: "initial"}))
	}
	return errors.Join(errs...)
}

// crossRecords are the records the transport would leave on the nodes: the cross-node payment
// 1/k1 (merchant and merchant account on node 1, payer on node 2, card on node 0) and 1/k2, whose
// debit the merchant's account refused (a refusal in its transfer index) and which was reversed.
// A test changes them before they are written.
type crossRecords struct {
	payment, failed *messages.Payment
	template        *messages.Template
	card            *messages.Card
	payer, merchant []*messages.LedgerEntry // appended after the engine's entries; seq and balance computed
	merchantRefusal bool
	extra           map[int][]persistence.Entry // more raw records, by node
}

func newCrossRecords() *crossRecords {
	card := uint64(cTemplate)<<32 | 1
	r := &crossRecords{
		payment: &messages.Payment{Key: "1/k1", MerchantId: cMerchant, MerchantAccount: cMerchantAccount, PayerAccount: cPayerAccount,
			PayerId: cPayer, CardId: card, Amount: 3000, Discount: 500, Charged: cCharged,
			State: messages.PaymentState_PAYMENT_STATE_COMPLETED, Result: messages.PaymentResult_PAYMENT_RESULT_OK},
		failed: &messages.Payment{Key: "1/k2", MerchantId: cMerchant, MerchantAccount: cMerchantAccount, PayerAccount: cPayerAccount,
			PayerId: cPayer, Amount: cReversed, State: messages.PaymentState_PAYMENT_STATE_FAILED,
			Result: messages.PaymentResult_PAYMENT_RESULT_ACCOUNT_NOT_ACTIVE},
		template: &messages.Template{Id: cTemplate, MerchantId: cMerchant, Kind: kaquan.TemplateCash, ReduceAmount: 500,
			LeastCost: 2000, StockTotal: 10, Issued: 1, PerUserLimit: 10, ValidDays: 30},
		card: &messages.Card{Id: card, TemplateId: cTemplate, OwnerId: cPayer, Code: clusterLayout.NewCardCode(0),
			State: messages.CardState_CARD_STATE_USED, Payment: "1/k1", Discount: 500, ValidUntil: 1 << 62,
			Kind: kaquan.TemplateCash, ReduceAmount: 500, LeastCost: 2000, MerchantId: cMerchant},
		payer: []*messages.LedgerEntry{
			{Kind: messages.EntryKind_ENTRY_KIND_PAYMENT_DEBIT, Amount: -cCharged, Transfer: "pay:1/k1", CounterAccount: cMerchantAccount},
			{Kind: messages.EntryKind_ENTRY_KIND_PAYMENT_DEBIT, Amount: -cReversed, Transfer: "pay:1/k2", CounterAccount: cMerchantAccount},
			{Kind: messages.EntryKind_ENTRY_KIND_REVERSAL_CREDIT, Amount: cReversed, Transfer: "rev:1/k2", CounterAccount: cMerchantAccount},
		},
		merchant: []*messages.LedgerEntry{
			{Kind: messages.EntryKind_ENTRY_KIND_PAYMENT_CREDIT, Amount: cCharged, Transfer: "pay:1/k1", CounterAccount: cPayerAccount},
		},
		merchantRefusal: true,
		extra:           map[int][]persistence.Entry{},
	}
	return r
}

// marshal is proto.Marshal, failing t.
func marshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	v, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// ledgerEntries numbers entries after an account's seq and balance, with their index entries.
func ledgerEntries(t *testing.T, account uint64, seq uint64, balance int64, entries []*messages.LedgerEntry) []persistence.Entry {
	t.Helper()
	var es []persistence.Entry
	for _, en := range entries {
		seq++
		balance += en.Amount
		en.AccountId, en.Seq, en.BalanceAfter = account, seq, balance
		es = append(es, persistence.Entry{Key: persistence.LedgerKey(account, seq), Value: marshal(t, en)},
			persistence.Entry{Key: persistence.TransferKey(account, en.Transfer), Value: persistence.Uint64(seq)})
	}
	return es
}

// write writes r into copies of the base folders and returns them.
func (r *crossRecords) write(t *testing.T, base []string) []string {
	t.Helper()
	root := t.TempDir()
	dirs := make([]string, len(base))
	for i, b := range base {
		dirs[i] = filepath.Join(root, filepath.Base(b))
		if err := os.CopyFS(dirs[i], os.DirFS(b)); err != nil {
			t.Fatal(err)
		}
	}
	raw := map[int][]persistence.Entry{}
	if r.card != nil {
		raw[0] = append(raw[0], persistence.Entry{Key: persistence.TemplateKey(r.template.Id), Value: marshal(t, r.template)},
			persistence.Entry{Key: persistence.CardKey(r.card.Id), Value: marshal(t, r.card)},
			persistence.Entry{Key: persistence.WalletKey(r.card.OwnerId, r.card.Id)},
			persistence.Entry{Key: persistence.CardCodeKey(r.card.Code), Value: persistence.Uint64(r.card.Id)})
	}
	for _, p := range []*messages.Payment{r.payment, r.failed} {
		if p != nil {
			raw[1] = append(raw[1], persistence.Entry{Key: persistence.PaymentKey(p.Key), Value: marshal(t, p)})
		}
	}
	// The engine left: on node 2 the payer's deposit (seq 1); on node 1 the local payment's credit
	// of 2000 (seq 1) to the merchant's account.
	raw[2] = append(raw[2], ledgerEntries(t, cPayerAccount, 1, cDeposit, r.payer)...)
	raw[1] = append(raw[1], ledgerEntries(t, cMerchantAccount, 1, 2000, r.merchant)...)
	if r.merchantRefusal {
		raw[1] = append(raw[1], persistence.Entry{Key: persistence.TransferKey(cMerchantAccount, "pay:1/k2"),
			Value: []byte{byte(messages.PaymentResult_PAYMENT_RESULT_ACCOUNT_NOT_ACTIVE)}})
	}
	for node, es := range r.extra {
		raw[node] = append(raw[node], es...)
	}
	for node, es := range raw {
		writeRaw(t, dirs[node], es...)
	}
	return dirs
}

func auditCluster(t *testing.T, dirs []string, acks ...string) *kaquan.ClusterAuditReport {
	t.Helper()
	r, err := kaquan.AuditCluster(ctxTimeout(t), dirs, acks, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestAuditCluster_Consistent: a cluster whose payments cross nodes audits clean, each node's
// records checked against the others', with conservation over the nodes (no node balances alone).
func TestAuditCluster_Consistent(t *testing.T) {
	dirs := newCrossRecords().write(t, clusterBaseDirs(t))
	// The folders in another order: each is placed by the ordinal it recorded.
	r := auditCluster(t, []string{dirs[2], dirs[0], dirs[1]}, "1/k0", "1/k1")
	if !r.OK() {
		t.Fatalf("%s\n%q", r, r.Problems)
	}
	t.Log(r)
	if len(r.Cluster.Nodes) != clusterNodes || r.Cluster.Slots != clusterSlots {
		t.Fatalf("cluster section: %d nodes, %d slots", len(r.Cluster.Nodes), r.Cluster.Slots)
	}
	for i, n := range r.Cluster.Nodes {
		if n.Node != i || n.Data != dirs[i] || !n.OK() {
			t.Errorf("node report %d: node %d of %s, %s", i, n.Node, n.Data, n.AuditReport)
		}
	}
	payer := r.Cluster.Nodes[2]
	if payer.Deposits-payer.Withdrawals == payer.Balances+payer.InFlight {
		t.Errorf("node 2 balances alone (%s): the cross-node legs did not leave it", payer.AuditReport)
	}
	wantDeposits := int64(cDeposit + 4000 + 500)
	if r.Deposits != wantDeposits || r.Withdrawals != 200 || r.Balances != wantDeposits-200 || r.InFlight != 0 {
		t.Errorf("totals: deposits %d withdrawals %d balances %d in flight %d", r.Deposits, r.Withdrawals, r.Balances, r.InFlight)
	}
	if r.Payments["COMPLETED"] != 2 || r.Payments["FAILED"] != 1 || r.Cards["USED"] != 2 || r.Accounts != 4 {
		t.Errorf("payments %v, cards %v, accounts %d", r.Payments, r.Cards, r.Accounts)
	}
	if r.RefusedTransfers != 1 || r.Cluster.Nodes[1].RefusedTransfers != 1 {
		t.Errorf("refused transfers: %d in all, %d on node 1; want the merchant account's one", r.RefusedTransfers, r.Cluster.Nodes[1].RefusedTransfers)
	}
}

// TestAuditCluster_Faults: each fault alone fails the cluster audit, with its problem.
func TestAuditCluster_Faults(t *testing.T) {
	base := clusterBaseDirs(t)
	misplaced := func(node int, key []byte, m proto.Message) func(t *testing.T, r *crossRecords) {
		return func(t *testing.T, r *crossRecords) {
			r.extra[node] = append(r.extra[node], persistence.Entry{Key: key, Value: marshal(t, m)})
		}
	}
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, r *crossRecords)
		acks   []string
		want   []string // each in one of the problems
	}{
		{"MissingLeg", func(_ *testing.T, r *crossRecords) { r.merchant = nil },
			nil, []string{"node 1: payment 1/k1 (COMPLETED): transfer pay:1/k1 misses a leg: -2500 on account 6 on node 2, none on account 5 on node 1", "conservation over 3 nodes"}},
		{"UnequalLegs", func(_ *testing.T, r *crossRecords) { r.merchant[0].Amount = cCharged - 100 },
			nil, []string{"transfer pay:1/k1 has unequal legs: -2500 on account 6 on node 2, 2400 on account 5 on node 1"}},
		{"ReversalMissing", func(_ *testing.T, r *crossRecords) { r.payer = r.payer[:2] },
			nil, []string{"payment 1/k2 (FAILED): transfer pay:1/k2 misses a leg: -1000 on account 6 on node 2, none on account 5 on node 1"}},
		{"PostedTwice", func(_ *testing.T, r *crossRecords) {
			// A resent debit posted again; the index still names the first entry.
			r.payer = append(r.payer, proto.Clone(r.payer[0]).(*messages.LedgerEntry))
			r.extra[2] = append(r.extra[2], persistence.Entry{Key: persistence.TransferKey(cPayerAccount, "pay:1/k1"), Value: persistence.Uint64(2)})
		}, nil, []string{"conservation over 3 nodes: deposits 14500 - withdrawals 200 != balances 11800 + in flight 0", "node 2: account 6 entry 5: transfer \"pay:1/k1\" indexes entry 2"}},
		{"CardUsedPaymentFailed", func(_ *testing.T, r *crossRecords) {
			r.payment.State, r.payment.Result, r.payment.Charged, r.payment.Discount = messages.PaymentState_PAYMENT_STATE_FAILED, messages.PaymentResult_PAYMENT_RESULT_INSUFFICIENT_FUNDS, 0, 0
			r.payer, r.merchant = r.payer[1:], nil
		}, nil, []string{"node 0: card 17179869185 USED without its completed payment \"1/k1\": it is FAILED on node 1\n"}},
		{"CardReservedPaymentCompleted", func(_ *testing.T, r *crossRecords) { r.card.State = messages.CardState_CARD_STATE_RESERVED },
			nil, []string{"node 0: card 17179869185 RESERVED by payment \"1/k1\" in state PAYMENT_STATE_COMPLETED on node 1",
				"node 1: payment 1/k1 COMPLETED with card 17179869185, which is CARD_STATE_RESERVED"}},
		{"PartyMisplaced", misplaced(1, persistence.PartyKey(7), &messages.Party{Id: 7, Kind: kaquan.PartyUser, Name: "stray"}),
			nil, []string{"node 1: party 7 is in slot 3, owned by node 0, but stored on node 1"}},
		{"AccountMisplaced", misplaced(2, persistence.AccountKey(11), &messages.Account{Id: 11, OwnerId: cSaver, OwnerKind: kaquan.PartyUser}),
			nil, []string{"node 2: account 11 is in slot 3, owned by node 0, but stored on node 2"}},
		{"TemplateMisplaced", misplaced(1, persistence.TemplateKey(8), &messages.Template{Id: 8, MerchantId: cMerchant, StockTotal: 1}),
			nil, []string{"node 1: template 8 is in slot 0, owned by node 0, but stored on node 1"}},
		{"PaymentMisplaced", misplaced(2, persistence.PaymentKey("3/x"), &messages.Payment{Key: "3/x", MerchantId: 3, State: messages.PaymentState_PAYMENT_STATE_FAILED}),
			nil, []string{"node 2: payment 3/x is in slot 3, owned by node 0, but stored on node 2"}},
		{"CardMisplaced", func(t *testing.T, r *crossRecords) {
			c := &messages.Card{Id: cTemplate<<32 | 2, TemplateId: cTemplate, OwnerId: cPayer, Code: clusterLayout.NewCardCode(0),
				State: messages.CardState_CARD_STATE_AVAILABLE, ValidUntil: 1 << 62, MerchantId: cMerchant}
			r.extra[2] = append(r.extra[2], persistence.Entry{Key: persistence.CardKey(c.Id), Value: marshal(t, c)},
				persistence.Entry{Key: persistence.WalletKey(c.OwnerId, c.Id)}, persistence.Entry{Key: persistence.CardCodeKey(c.Code), Value: persistence.Uint64(c.Id)})
		}, nil, []string{"node 2: card 17179869186 is in slot 0, owned by node 0, but stored on node 2"}},
		{"AckedFailed", func(*testing.T, *crossRecords) {}, []string{"1/k1", "1/k2"}, []string{"acknowledged payment 1/k2 is PAYMENT_STATE_FAILED"}},
		{"AckedMissing", func(*testing.T, *crossRecords) {}, []string{"1/k9"}, []string{"acknowledged payment 1/k9 does not exist"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs := newCrossRecords()
			tc.change(t, recs)
			r := auditCluster(t, recs.write(t, base), tc.acks...)
			all := strings.Join(r.Problems, "\n") + "\n"
			if r.OK() {
				t.Fatalf("audit passed: %s", r)
			}
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("no problem %q in\n%s", w, all)
				}
			}
			t.Logf("found: %q", r.Problems)
		})
	}
}

// TestAuditCluster_ProblemsBySection: acknowledgements and conservation are problems of
// the cluster (its section lists them), a node's problems are its own.
func TestAuditCluster_ProblemsBySection(t *testing.T) {
	recs := newCrossRecords()
	recs.merchant = nil
	r := auditCluster(t, recs.write(t, clusterBaseDirs(t)), "1/k9")
	if got := r.Cluster.ProblemCount; got != 2 || !strings.HasPrefix(r.Cluster.Problems[0], "conservation") ||
		!strings.HasPrefix(r.Cluster.Problems[1], "acknowledged payment 1/k9") {
		t.Errorf("cluster problems %d: %q", got, r.Cluster.Problems)
	}
	if n := r.Cluster.Nodes[1]; n.OK() || !strings.Contains(strings.Join(n.Problems, "\n"), "misses a leg") {
		t.Errorf("node 1: %s %q", n.AuditReport, n.Problems)
	}
	sum := r.Cluster.ProblemCount
	for _, n := range r.Cluster.Nodes {
		sum += n.ProblemCount
	}
	if r.ProblemCount != sum || len(r.Problems) != sum {
		t.Errorf("%d problems in all (%d listed), nodes and cluster say %d", r.ProblemCount, len(r.Problems), sum)
	}
}

// TestAuditCluster_RefusesFolders: folders that are not every node of one cluster, once each, are
// refused before any check.
func TestAuditCluster_RefusesFolders(t *testing.T) {
	dirs := clusterBaseDirs(t)
	other := func(node, nodes, slots int) string {
		dir := t.TempDir()
		if err := openErr(t, dir, asNode(node, nodes, slots)); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	single := t.TempDir()
	if err := openErr(t, single); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		dirs []string
		want string
	}{
		{"OtherSlots", []string{dirs[0], dirs[1], other(2, 3, 8)}, "is node 2 of 3, 8 slots: not one cluster"},
		{"OtherNodes", []string{dirs[0], dirs[1], other(2, 4, 4)}, "is node 2 of 4, 4 slots: not one cluster"},
		{"DuplicateOrdinal", []string{dirs[0], dirs[1], other(1, 3, 4)}, "are both node 1"},
		{"SameFolderTwice", []string{dirs[0], dirs[1], filepath.Join(dirs[1], ".")}, "are one folder"},
		{"NodeMissing", []string{dirs[0], dirs[2]}, "node [1] missing"},
		{"SingleNodeFolder", []string{dirs[0], dirs[1], single}, "records no cluster layout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := kaquan.AuditCluster(ctxTimeout(t), tc.dirs, nil, slog.Default())
			if err == nil {
				t.Fatalf("audited: %s", r)
			}
			if !errors.Is(err, kaquan.ErrClusterLayout) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrClusterLayout with %q", err, tc.want)
			}
			t.Log(err)
		})
	}
}
