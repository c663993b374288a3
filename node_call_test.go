package kaquan_test

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
)

// threeNodes opens the three nodes of a cluster of 4 slots in this process, linked (Connect).
// Slot s is node s mod 3: ids 4 and 8 are node 0's, 1 and 5 node 1's, 2 and 6 node 2's.
func threeNodes(t *testing.T) []*kaquan.Engine {
	t.Helper()
	var es []*kaquan.Engine
	for n := range 3 {
		es = append(es, MustOpenEngine(t, inMemory, func(o *kaquan.Options) {
			o.Cluster = &kaquan.ClusterOptions{Node: n, Nodes: 3, Slots: 4}
		}))
	}
	kaquan.Connect(es...)
	return es
}

// TestCluster_PaymentAcrossNodes: every call is made on a node that does not own what it names,
// and the payment's payer (node 0), card and merchant account (node 1) and coordinator (node 2)
// are on three nodes. It completes, refunds and answers retries as on one node.
func TestCluster_PaymentAcrossNodes(t *testing.T) {
	es := threeNodes(t)
	ctx := ctxTimeout(t)
	const (
		merchant, merchantAccount = 2, 5 // nodes 2 and 1
		user, payer               = 4, 8 // node 0
		tmpl                      = 1    // node 1, with its cards
	)
	must(t)(es[0].CreateParty(ctx, kaquan.CreateParty{ID: merchant, Kind: kaquan.PartyMerchant, Name: "shop"}))
	must(t)(es[1].CreateParty(ctx, kaquan.CreateParty{ID: user, Kind: kaquan.PartyUser, Name: "ann"}))
	must(t)(es[0].CreateAccount(ctx, kaquan.CreateAccount{ID: merchantAccount, Owner: merchant}))
	must(t)(es[2].CreateAccount(ctx, kaquan.CreateAccount{ID: payer, Owner: user}))
	must(t)(es[1].Deposit(ctx, kaquan.Deposit{Account: payer, Amount: 10_000, Key: "initial"}))
	must(t)(es[0].CreateTemplate(ctx, &messages.Template{Id: tmpl, MerchantId: merchant, Kind: kaquan.TemplateCash,
		ReduceAmount: 500, LeastCost: 1000, StockTotal: 10, PerUserLimit: 2, ValidDays: 30}))
	c, err := es[2].Claim(ctx, kaquan.Claim{Template: tmpl, User: user})
	if err != nil {
		t.Fatal(err)
	}
	ids, err := es[0].Wallet(ctx, user)
	if err != nil || len(ids) != 1 || ids[0] != c.Id {
		t.Fatalf("wallet from node 0: got %v %v, want [%d]", ids, err, c.Id)
	}
	code, err := es[1].IssuePaymentCode(ctx, kaquan.IssuePaymentCode{User: user, Account: payer, Card: c.Id})
	if err != nil {
		t.Fatal(err)
	}
	if pc, err := es[2].PaymentCodeInfo(ctx, code.Code); err != nil || pc.AccountId != payer {
		t.Fatalf("code info from node 2: got %v %v, want account %d", pc, err, payer)
	}
	pay := kaquan.Pay{Merchant: merchant, MerchantAccount: merchantAccount, Code: code.Code, Amount: 3000, Key: "k1"}
	out, err := es[0].Pay(ctx, pay)
	if err != nil || out.Payment.State != messages.PaymentState_PAYMENT_STATE_COMPLETED || out.Payment.Charged != 2500 {
		t.Fatalf("pay: got %v %v, want COMPLETED charging 2500", out.Payment, err)
	}
	if again, err := es[1].Pay(ctx, pay); err != nil || !again.Duplicate || again.Payment.Charged != 2500 {
		t.Fatalf("retry on another node: got %+v %v, want the first outcome, Duplicate", again, err)
	}
	balance := func(acc uint64, want int64) {
		t.Helper()
		info, err := es[2].Account(ctx, acc)
		if err != nil || info.Balance != want {
			t.Fatalf("account %d: got %d %v, want %d", acc, info.Balance, err, want)
		}
	}
	balance(payer, 7_500)
	balance(merchantAccount, 2_500)
	if got, err := es[0].Card(ctx, c.Id); err != nil || got.State != kaquan.CardUsed {
		t.Fatalf("card: got %v %v, want USED", got, err)
	}
	if _, err := es[1].Refund(ctx, kaquan.Refund{Merchant: merchant, Key: "k1"}); err != nil {
		t.Fatal(err)
	}
	balance(payer, 10_000)
	balance(merchantAccount, 0)

	// Typed errors come back as on one node.
	if _, err := es[0].Pay(ctx, kaquan.Pay{Merchant: merchant, MerchantAccount: merchantAccount, Code: code.Code, Amount: 3000, Key: "k2"}); !errors.Is(err, kaquan.ErrCodeUsed) {
		t.Errorf("pay with a used code: got %v, want ErrCodeUsed", err)
	}
	code2, err := es[0].IssuePaymentCode(ctx, kaquan.IssuePaymentCode{User: user, Account: payer})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := es[2].Pay(ctx, kaquan.Pay{Merchant: merchant, MerchantAccount: merchantAccount, Code: code2.Code, Amount: 20_000, Key: "k3"}); !errors.Is(err, kaquan.ErrInsufficientFunds) {
		t.Errorf("pay beyond the balance: got %v, want ErrInsufficientFunds", err)
	}
	if _, err := es[1].Pay(ctx, kaquan.Pay{Merchant: merchant, MerchantAccount: payer, Code: code2.Code, Amount: 10, Key: "k4"}); !errors.Is(err, kaquan.ErrPermissionDenied) {
		t.Errorf("pay into the payer's account: got %v, want ErrPermissionDenied", err)
	}
	if _, err := es[1].Claim(ctx, kaquan.Claim{Template: tmpl, User: merchant}); !errors.Is(err, kaquan.ErrInvalidArgument) {
		t.Errorf("a merchant claims: got %v, want ErrInvalidArgument", err)
	}
	if _, err := es[0].Party(ctx, 6); !errors.Is(err, kaquan.ErrUnknownEntity) {
		t.Errorf("party of node 2 that does not exist: got %v, want ErrUnknownEntity", err)
	}
	balance(payer, 10_000)

	// Each record is on the node of its slot alone.
	for _, r := range []struct {
		what string
		key  []byte
		node int
	}{
		{"payment", persistence.PaymentKey(kaquan.PaymentKey(merchant, "k1")), 2},
		{"merchant", persistence.PartyKey(merchant), 2},
		{"merchant account", persistence.AccountKey(merchantAccount), 1},
		{"payer account", persistence.AccountKey(payer), 0},
		{"user", persistence.PartyKey(user), 0},
		{"card", persistence.CardKey(c.Id), 1},
		{"template", persistence.TemplateKey(tmpl), 1},
		{"payment code", persistence.PaymentCodeKey(code.Code), 0},
	} {
		for n, e := range es {
			_, err := kaquan.Get(e, r.key)
			if found := err == nil; found != (n == r.node) {
				t.Errorf("%s on node %d: got found=%t (%v), want %t", r.what, n, found, err, n == r.node)
			}
		}
	}
}

// TestCluster_NodeCallRefusals: what another node sends is checked, never trusted: a call for an
// entity of a slot this node does not own, an op for another kind, an empty op, a read of a
// record of another slot or of a kind nodes do not read for each other are refused with a typed
// error, create nothing, and never crash the node.
func TestCluster_NodeCallRefusals(t *testing.T) {
	es := threeNodes(t)
	node0 := es[0]
	tests := []struct {
		name string
		call *messages.NodeCall
		want error
	}{
		{"ForeignAccount", &messages.NodeCall{Kind: 1, Num: 5, Op: &messages.NodeCall_AccountGet{AccountGet: &messages.AccountGetCall{}}}, kaquan.ErrWrongNode},
		{"ForeignPayment", &messages.NodeCall{Kind: 4, Str: "2/k", Op: &messages.NodeCall_PaymentGet{PaymentGet: &messages.PaymentGetCall{}}}, kaquan.ErrWrongNode},
		{"OpForAnotherKind", &messages.NodeCall{Kind: 3, Num: 4, Op: &messages.NodeCall_AccountGet{AccountGet: &messages.AccountGetCall{}}}, kaquan.ErrInvalidArgument},
		{"UnknownKind", &messages.NodeCall{Kind: 99, Num: 4, Op: &messages.NodeCall_AccountGet{AccountGet: &messages.AccountGetCall{}}}, kaquan.ErrInvalidArgument},
		{"KindOutOfRange", &messages.NodeCall{Kind: 257, Num: 4, Op: &messages.NodeCall_AccountGet{AccountGet: &messages.AccountGetCall{}}}, kaquan.ErrInvalidArgument},
		{"NoOp", &messages.NodeCall{Kind: 1, Num: 4}, kaquan.ErrInvalidArgument},
		{"TemplateCreateWithoutTemplate", &messages.NodeCall{Kind: 2, Num: 4, Op: &messages.NodeCall_TemplateCreate{TemplateCreate: &messages.TemplateCreateCall{}}}, kaquan.ErrInvalidArgument},
		{"ReadOfAnotherSlot", &messages.NodeCall{Op: &messages.NodeCall_Read{Read: &messages.RecordRead{Slot: 1, Key: persistence.PartyKey(5)}}}, kaquan.ErrWrongNode},
		{"ReadOfAnAccount", &messages.NodeCall{Op: &messages.NodeCall_Read{Read: &messages.RecordRead{Slot: 0, Key: persistence.AccountKey(4)}}}, kaquan.ErrInvalidArgument},
		{"ReadOfNoKey", &messages.NodeCall{Op: &messages.NodeCall_Read{Read: &messages.RecordRead{Slot: 0}}}, kaquan.ErrInvalidArgument},
		{"ScanOfTokens", &messages.NodeCall{Op: &messages.NodeCall_Scan{Scan: &messages.RecordScan{Slot: 0, Prefix: []byte{persistence.PrefixToken}}}}, kaquan.ErrInvalidArgument},
		{"ForeignParty", &messages.NodeCall{Op: &messages.NodeCall_PartyCreate{PartyCreate: &messages.PartyCreateCall{Id: 5, Kind: kaquan.PartyUser, Name: "x"}}}, kaquan.ErrWrongNode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := kaquan.ServeNodeCall(node0, tt.call)
			if got := kaquan.ReasonError(r.Reason); got == nil || !errors.Is(got, tt.want) {
				t.Errorf("reply: got %q (%s), want %v", r.Reason, r.Error, tt.want)
			}
			if r.Result != nil {
				t.Errorf("result: got %v, want none", r.Result)
			}
		})
	}
	if n := node0.Stats().ActiveEntities; n != 0 {
		t.Errorf("entities in memory on node 0: got %d, want 0 (nothing created)", n)
	}
	if r := kaquan.ServeNodeCall(node0, nil); kaquan.ReasonError(r.Reason) != kaquan.ErrInvalidArgument {
		t.Errorf("nil call: got %q, want invalid_argument", r.Reason)
	}
}

// TestCluster_ChaosAcrossNodes runs concurrent card and plain payments whose payers, cards,
// merchants and merchants' accounts are spread over three nodes, each call on a random node, over
// a network that duplicates, loses and delays the payments' steps. Every balance, card and payment
// must come out as the callers were told.
func TestCluster_ChaosAcrossNodes(t *testing.T) {
	var es []*kaquan.Engine
	for n := range 3 {
		es = append(es, MustOpenEngine(t, inMemory, func(o *kaquan.Options) {
			o.Cluster = &kaquan.ClusterOptions{Node: n, Nodes: 3, Slots: 4}
		}))
	}
	kaquan.ConnectWithChaos(actors.Chaos{Duplicate: 0.2, Drop: 0.05, Delay: 0.3, DelayMax: 10 * time.Millisecond, Seed: 3}, es...)
	ctx := ctxTimeout(t)
	rng := rand.New(rand.NewPCG(5, 6))
	node := func() *kaquan.Engine { return es[rng.IntN(len(es))] }
	const users, deposit, tmpl = 12, 20_000, 1
	merchants := []uint64{1, 2, 3} // accounts 101, 102, 103: slots 1, 2, 3
	for _, m := range merchants {
		must(t)(node().CreateParty(ctx, kaquan.CreateParty{ID: m, Kind: kaquan.PartyMerchant, Name: "shop"}))
		must(t)(node().CreateAccount(ctx, kaquan.CreateAccount{ID: 100 + m, Owner: m}))
	}
	must(t)(node().CreateTemplate(ctx, &messages.Template{Id: tmpl, MerchantId: 1, Kind: kaquan.TemplateCash,
		ReduceAmount: 500, LeastCost: 1000, StockTotal: 100, PerUserLimit: 3, ValidDays: 30, AcceptedMerchants: []uint64{1, 2, 3}}))
	for _, m := range merchants[1:] { // consents, made on any node, copied to every node
		must(t)(node().GrantAcceptance(ctx, kaquan.GrantAcceptance{Acceptor: m, Issuer: 1}))
	}
	expect := map[uint64]int64{}
	var cards []uint64
	for u := range uint64(users) {
		id := 10 + u // users and their accounts (1000 + id) on every node
		must(t)(node().CreateParty(ctx, kaquan.CreateParty{ID: id, Kind: kaquan.PartyUser, Name: "u"}))
		must(t)(node().CreateAccount(ctx, kaquan.CreateAccount{ID: 1000 + id, Owner: id}))
		must(t)(node().Deposit(ctx, kaquan.Deposit{Account: 1000 + id, Amount: deposit, Key: "initial"}))
		expect[1000+id] = deposit
		c, err := node().Claim(ctx, kaquan.Claim{Template: tmpl, User: id})
		if err != nil {
			t.Fatal(err)
		}
		cards = append(cards, c.Id)
	}
	type op struct {
		user, merchant uint64
		card           uint64
		amount         int64
		key            string
		via            *kaquan.Engine
	}
	var ops []op
	for i := range 120 {
		u := uint64(rng.IntN(users))
		o := op{user: 10 + u, merchant: merchants[rng.IntN(3)], amount: 1 + rng.Int64N(6000), key: fmt.Sprint("k", i), via: node()}
		if rng.IntN(3) == 0 {
			o.card, o.amount = cards[u], 1000+rng.Int64N(3000)
		}
		ops = append(ops, o)
	}
	var mu sync.Mutex
	usedBy := map[uint64]string{}
	parallel(len(ops), 16, func(i int) {
		o := ops[i]
		pc, err := o.via.IssuePaymentCode(ctx, kaquan.IssuePaymentCode{User: o.user, Account: 1000 + o.user, Card: o.card})
		if err != nil {
			if o.card != 0 && cardReason(err) == messages.CardReason_CARD_REASON_NOT_AVAILABLE {
				return // used by an earlier payment
			}
			t.Errorf("code for %s: %v", o.key, err)
			return
		}
		out, err := o.via.Pay(ctx, kaquan.Pay{Merchant: o.merchant, MerchantAccount: 100 + o.merchant, Code: pc.Code, Amount: o.amount, Key: o.key})
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err == nil:
			expect[1000+o.user] -= out.Payment.Charged
			expect[100+o.merchant] += out.Payment.Charged
			if o.card != 0 {
				usedBy[o.card] = kaquan.PaymentKey(o.merchant, o.key)
			}
		case errors.Is(err, kaquan.ErrInsufficientFunds), cardReason(err) == messages.CardReason_CARD_REASON_NOT_AVAILABLE:
		default:
			t.Errorf("pay %s: %v", o.key, err)
		}
	})
	for acc, want := range expect {
		info, err := node().Account(ctx, acc)
		if err != nil || info.Balance != want {
			t.Errorf("account %d: got %d %v, want %d", acc, info.Balance, err, want)
		}
	}
	for _, id := range cards {
		c, err := node().Card(ctx, id)
		want := kaquan.CardAvailable
		if _, ok := usedBy[id]; ok {
			want = kaquan.CardUsed
		}
		if err != nil || c.State != want || (want == kaquan.CardUsed && c.Payment != usedBy[id]) {
			t.Errorf("card %d: got %v %v, want %s by %q", id, c, err, want, usedBy[id])
		}
	}
	t.Logf("%d payments, %d with cards used", len(ops), len(usedBy))
}

// TestCluster_Tokens: a token stored on any node is read on every node at once (its home slot's
// node keeps it), and a revocation too.
func TestCluster_Tokens(t *testing.T) {
	es := threeNodes(t)
	ctx := ctxTimeout(t)
	for i := range 6 {
		h := sha256.Sum256([]byte(fmt.Sprint("token", i)))
		rec := &messages.TokenRecord{Kind: messages.PrincipalKind_PRINCIPAL_KIND_USER, PartyId: uint64(10 + i)}
		if err := es[i%3].PutToken(ctx, h, rec); err != nil {
			t.Fatal(err)
		}
		for n, e := range es {
			got, err := e.Token(ctx, h)
			if err != nil || got.PartyId != rec.PartyId {
				t.Errorf("token %d on node %d: got %v %v, want party %d", i, n, got, err, rec.PartyId)
			}
		}
		rec.RevokedAt = 99
		if err := es[(i+1)%3].PutToken(ctx, h, rec); err != nil {
			t.Fatal(err)
		}
		if got, err := es[(i+2)%3].Token(ctx, h); err != nil || got.RevokedAt != 99 {
			t.Errorf("token %d after revocation: got %v %v, want revoked", i, got, err)
		}
	}
	if _, err := es[0].Token(ctx, sha256.Sum256([]byte("never"))); !errors.Is(err, kaquan.ErrUnknownEntity) {
		t.Errorf("unknown token: got %v, want ErrUnknownEntity", err)
	}
}

// TestCluster_AcceptanceAcrossNodes: a merchant's consent to take another's cards, granted or
// revoked on any node, holds for the cards on every node from the moment the call returns.
func TestCluster_AcceptanceAcrossNodes(t *testing.T) {
	es := threeNodes(t)
	ctx := ctxTimeout(t)
	const issuer, acceptor, acceptorAccount, user, payer, tmpl = 2, 3, 7, 4, 8, 1 // nodes 2, 0, 0, 0, 0, 1
	must(t)(es[1].CreateParty(ctx, kaquan.CreateParty{ID: issuer, Kind: kaquan.PartyMerchant, Name: "issuer"}))
	must(t)(es[1].CreateParty(ctx, kaquan.CreateParty{ID: acceptor, Kind: kaquan.PartyMerchant, Name: "acceptor"}))
	must(t)(es[1].CreateParty(ctx, kaquan.CreateParty{ID: user, Kind: kaquan.PartyUser, Name: "ann"}))
	must(t)(es[1].CreateAccount(ctx, kaquan.CreateAccount{ID: acceptorAccount, Owner: acceptor}))
	must(t)(es[1].CreateAccount(ctx, kaquan.CreateAccount{ID: payer, Owner: user}))
	must(t)(es[1].Deposit(ctx, kaquan.Deposit{Account: payer, Amount: 10_000, Key: "initial"}))
	must(t)(es[2].CreateTemplate(ctx, &messages.Template{Id: tmpl, MerchantId: issuer, Kind: kaquan.TemplateCash,
		ReduceAmount: 500, LeastCost: 1000, StockTotal: 10, PerUserLimit: 5, ValidDays: 30, AcceptedMerchants: []uint64{acceptor}}))
	payAt := func(key string) error {
		t.Helper()
		c, err := es[2].Claim(ctx, kaquan.Claim{Template: tmpl, User: user})
		if err != nil {
			t.Fatal(err)
		}
		code, err := es[2].IssuePaymentCode(ctx, kaquan.IssuePaymentCode{User: user, Account: payer, Card: c.Id})
		if err != nil {
			t.Fatal(err)
		}
		_, err = es[1].Pay(ctx, kaquan.Pay{Merchant: acceptor, MerchantAccount: acceptorAccount, Code: code.Code, Amount: 2000, Key: key})
		return err
	}
	wantCardErr(t, "before the grant", payAt("k1"), messages.CardReason_CARD_REASON_ACCEPTANCE_NOT_GRANTED)
	must(t)(es[2].GrantAcceptance(ctx, kaquan.GrantAcceptance{Acceptor: acceptor, Issuer: issuer}))
	if err := payAt("k2"); err != nil {
		t.Fatalf("pay after the grant: %v", err)
	}
	must(t)(es[1].RevokeAcceptance(ctx, kaquan.RevokeAcceptance{Acceptor: acceptor, Issuer: issuer}))
	wantCardErr(t, "after the revocation", payAt("k3"), messages.CardReason_CARD_REASON_ACCEPTANCE_REVOKED)
	if got, err := es[0].Acceptance(ctx, acceptor, issuer); err != nil || got.State != kaquan.AcceptanceRevoked {
		t.Errorf("acceptance on the acceptor's node: got %v %v, want REVOKED", got, err)
	}
	// A party's secret, set from another node, is set on the party's node.
	if err := es[2].SetNotifySecret(ctx, kaquan.SetNotifySecret{Merchant: acceptor, Secret: make([]byte, 32)}); err != nil {
		t.Errorf("notify secret from node 2: %v", err)
	}
	if err := es[2].SetNotifySecret(ctx, kaquan.SetNotifySecret{Merchant: acceptor, Secret: []byte("short")}); !errors.Is(err, kaquan.ErrInvalidArgument) {
		t.Errorf("short notify secret from node 2: got %v, want ErrInvalidArgument", err)
	}
}
