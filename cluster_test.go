package kaquan_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/actors/slot"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
)

// asNode makes an engine node `node` of a cluster of `nodes` nodes and `slots` slots.
func asNode(node, nodes, slots int) func(*kaquan.Options) {
	return func(o *kaquan.Options) { o.Cluster = &kaquan.ClusterOptions{Node: node, Nodes: nodes, Slots: slots} }
}

func TestClusterOptions_Validate(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    kaquan.ClusterOptions
		ok   bool
	}{
		{"Default", kaquan.ClusterOptions{Node: 0, Nodes: 3, Slots: kaquan.ClusterSlotsDefault}, true},
		{"LastNode", kaquan.ClusterOptions{Node: 2, Nodes: 3, Slots: 64}, true},
		{"OneNode", kaquan.ClusterOptions{Node: 0, Nodes: 1, Slots: 1}, true},
		{"Largest", kaquan.ClusterOptions{Node: kaquan.ClusterNodesMax - 1, Nodes: kaquan.ClusterNodesMax, Slots: kaquan.ClusterSlotsMax}, true},
		{"NoSlots", kaquan.ClusterOptions{Node: 0, Nodes: 1, Slots: 0}, false},
		{"SlotsNotPowerOfTwo", kaquan.ClusterOptions{Node: 0, Nodes: 3, Slots: 48}, false},
		{"TooManySlots", kaquan.ClusterOptions{Node: 0, Nodes: 3, Slots: kaquan.ClusterSlotsMax * 2}, false},
		{"NegativeSlots", kaquan.ClusterOptions{Node: 0, Nodes: 1, Slots: -64}, false},
		{"NoNodes", kaquan.ClusterOptions{Node: 0, Nodes: 0, Slots: 64}, false},
		{"MoreNodesThanSlots", kaquan.ClusterOptions{Node: 0, Nodes: 5, Slots: 4}, false},
		{"TooManyNodes", kaquan.ClusterOptions{Node: 0, Nodes: kaquan.ClusterNodesMax + 1, Slots: kaquan.ClusterSlotsMax}, false},
		{"NodeTooLarge", kaquan.ClusterOptions{Node: 3, Nodes: 3, Slots: 64}, false},
		{"NegativeNode", kaquan.ClusterOptions{Node: -1, Nodes: 3, Slots: 64}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := kaquan.DefaultOptions()
			o.Cluster = &tc.c
			if err := o.Validate(); (err == nil) != tc.ok {
				t.Errorf("got %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// openErr opens dir with mutate and returns Open's error, closing an engine that opened.
func openErr(t *testing.T, dir string, mutate ...func(*kaquan.Options)) error {
	t.Helper()
	o := kaquan.DefaultOptions()
	for _, m := range mutate {
		m(&o)
	}
	e, err := kaquan.Open(dir, o)
	if err == nil {
		if err := e.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
	}
	return err
}

func TestCluster_LayoutRecorded(t *testing.T) {
	dir := t.TempDir()
	if err := openErr(t, dir, asNode(1, 3, 64)); err != nil {
		t.Fatalf("first open: %v", err)
	}
	for _, tc := range []struct {
		name   string
		mutate func(*kaquan.Options)
	}{
		{"OtherSlots", asNode(1, 3, 32)},
		{"OtherNodes", asNode(1, 2, 64)},
		{"OtherOrdinal", asNode(0, 3, 64)},
		{"SingleNode", func(*kaquan.Options) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := openErr(t, dir, tc.mutate)
			if !errors.Is(err, kaquan.ErrClusterLayout) || kaquan.Reason(err) != "cluster_layout" {
				t.Fatalf("got %v, want ErrClusterLayout", err)
			}
		})
	}
	// A refused Open changed nothing: the recorded layout still opens.
	e := mustOpenAt(t, dir, asNode(1, 3, 64))
	must(t)(e.CreateParty(context.Background(), kaquan.CreateParty{ID: 4, Kind: kaquan.PartyUser, Name: "u"}))
}

func TestCluster_SingleNodeFolder(t *testing.T) {
	t.Run("WithData", func(t *testing.T) {
		dir := t.TempDir()
		e := mustOpenAt(t, dir)
		must(t)(e.CreateParty(context.Background(), kaquan.CreateParty{ID: 1, Kind: kaquan.PartyUser, Name: "u"}))
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		if err := openErr(t, dir, asNode(0, 1, 64)); !errors.Is(err, kaquan.ErrClusterLayout) {
			t.Fatalf("cluster open of a single-node folder with data: got %v, want ErrClusterLayout", err)
		}
		// Still a single-node folder, with its data.
		e = mustOpenAt(t, dir)
		must(t)(e.Party(context.Background(), 1))
	})
	t.Run("Empty", func(t *testing.T) {
		// A folder opened and closed single-node holds only engine markers: it may become a node.
		dir := t.TempDir()
		if err := openErr(t, dir); err != nil {
			t.Fatal(err)
		}
		if err := openErr(t, dir, asNode(0, 2, 64)); err != nil {
			t.Fatalf("cluster open of an empty folder: %v", err)
		}
		if err := openErr(t, dir); !errors.Is(err, kaquan.ErrClusterLayout) {
			t.Fatalf("single-node open of a cluster folder: got %v, want ErrClusterLayout", err)
		}
	})
}

// storeKeys lists the prefixes of every key in the folder dir, engine markers aside.
func storeKeys(t *testing.T, dir string) map[byte]int {
	t.Helper()
	store, err := persistence.Open(dir, persistence.DurabilitySync, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	got := map[byte]int{}
	err = store.Scan(nil, false, func(k, _ []byte) (bool, error) {
		if k[0] != persistence.PrefixEngineMarker {
			got[k[0]]++
		}
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestCluster_WrongNode(t *testing.T) {
	ctx := ctxTimeout(t)
	dir := t.TempDir()
	e := mustOpenAt(t, dir, asNode(0, 2, 64)) // node 0 owns the even slots
	must(t)(e.CreateParty(ctx, kaquan.CreateParty{ID: 2, Kind: kaquan.PartyMerchant, Name: "shop"}))
	must(t)(e.CreateParty(ctx, kaquan.CreateParty{ID: 4, Kind: kaquan.PartyUser, Name: "user"}))
	must(t)(e.CreateAccount(ctx, kaquan.CreateAccount{ID: 2, Owner: 2}))
	must(t)(e.CreateAccount(ctx, kaquan.CreateAccount{ID: 4, Owner: 4}))
	must(t)(e.Deposit(ctx, kaquan.Deposit{Account: 4, Amount: 10_000, Key: "d"}))
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	before := storeKeys(t, dir)
	e = mustOpenAt(t, dir, asNode(0, 2, 64))

	layout := slot.Layout{Slots: 64, Nodes: 2}
	foreignPayCode := layout.NewPaymentCode(3)
	foreignCardCode := layout.NewCardCode(3)
	tmpl := &messages.Template{Id: 3, MerchantId: 2, Kind: messages.TemplateKind_TEMPLATE_KIND_CASH, ReduceAmount: 500,
		LeastCost: 2000, StockTotal: 10, PerUserLimit: 10, ValidDays: 30}
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"CreateAccount", func() error { _, err := e.CreateAccount(ctx, kaquan.CreateAccount{ID: 3, Owner: 4}); return err }},
		{"CreateParty", func() error {
			_, err := e.CreateParty(ctx, kaquan.CreateParty{ID: 5, Kind: kaquan.PartyUser, Name: "u"})
			return err
		}},
		{"Party", func() error { _, err := e.Party(ctx, 5); return err }},
		{"Account", func() error { _, err := e.Account(ctx, 3); return err }},
		{"Deposit", func() error { _, err := e.Deposit(ctx, kaquan.Deposit{Account: 3, Amount: 1, Key: "d"}); return err }},
		{"CreateTemplate", func() error { _, err := e.CreateTemplate(ctx, tmpl); return err }},
		{"Claim", func() error { _, err := e.Claim(ctx, kaquan.Claim{Template: 3, User: 4}); return err }},
		{"Card", func() error { _, err := e.Card(ctx, 3<<32|1); return err }},
		{"IssuePaymentCode", func() error {
			_, err := e.IssuePaymentCode(ctx, kaquan.IssuePaymentCode{User: 4, Account: 4, Card: 3<<32 | 1})
			return err
		}},
		{"PaymentCodeInfo", func() error { _, err := e.PaymentCodeInfo(ctx, foreignPayCode); return err }},
		{"CardByCode", func() error { _, err := e.CardByCode(ctx, foreignCardCode); return err }},
		{"PayForeignMerchant", func() error {
			_, err := e.Pay(ctx, kaquan.Pay{Merchant: 3, MerchantAccount: 2, Code: layout.NewPaymentCode(4), Amount: 100, Key: "k"})
			return err
		}},
		{"PayForeignPayer", func() error {
			_, err := e.Pay(ctx, kaquan.Pay{Merchant: 2, MerchantAccount: 2, Code: foreignPayCode, Amount: 100, Key: "k"})
			return err
		}},
		{"PayForeignMerchantAccount", func() error {
			_, err := e.Pay(ctx, kaquan.Pay{Merchant: 2, MerchantAccount: 3, Code: layout.NewPaymentCode(4), Amount: 100, Key: "k"})
			return err
		}},
		{"Refund", func() error { _, err := e.Refund(ctx, kaquan.Refund{Merchant: 3, Key: "k"}); return err }},
		{"GrantAcceptance", func() error {
			_, err := e.GrantAcceptance(ctx, kaquan.GrantAcceptance{Acceptor: 3, Issuer: 2})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if !errors.Is(err, kaquan.ErrWrongNode) || kaquan.Reason(err) != "wrong_node" {
				t.Fatalf("got %v, want ErrWrongNode", err)
			}
			if c, _ := kaquan.Class(err); c != kaquan.ClassUnavailable {
				t.Errorf("class %v, want unavailable", c)
			}
		})
	}
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"Gift", func() error { _, err := e.Gift(ctx, kaquan.Gift{From: 4, To: 6, Card: 2<<32 | 1}); return err }},
		{"Share", func() error { _, err := e.Share(ctx, kaquan.Share{User: 4, Card: 2<<32 | 1}); return err }},
		{"AddContact", func() error { return e.AddContact(ctx, kaquan.ContactPair{A: 4, B: 6}) }},
		{"Rewards", func() error { _, err := e.Rewards(ctx, 4, ""); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, kaquan.ErrNotInCluster) {
				t.Fatalf("got %v, want ErrNotInCluster", err)
			}
		})
	}
	r, err := e.Audit(ctx)
	if err != nil || !r.OK() || r.Accounts != 2 || r.Templates != 0 || len(r.Payments) != 0 {
		t.Fatalf("audit: %+v %v", r, err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if after := storeKeys(t, dir); !equalCounts(after, before) {
		t.Errorf("misrouted calls wrote records: before %v, after %v", before, after)
	}
}

func equalCounts(a, b map[byte]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestCluster_LocalPayment: a one-node cluster owns every slot; the whole payment flow runs, and
// its codes carry their slots.
func TestCluster_LocalPayment(t *testing.T) {
	ctx := ctxTimeout(t)
	e := MustOpenEngine(t, asNode(0, 1, 64))
	w := mustWorld(t, e, 2, 10_000, 10)
	u := w.users[0]
	c, err := e.Claim(ctx, kaquan.Claim{Template: w.template, User: u})
	if err != nil {
		t.Fatal(err)
	}
	layout := slot.Layout{Slots: 64, Nodes: 1}
	if s, ok := layout.SlotOfCardCode(c.Code); !ok || s != layout.OfTemplate(w.template) {
		t.Errorf("card code %q carries slot %d %v, want the template's %d", c.Code, s, ok, layout.OfTemplate(w.template))
	}
	code, err := e.IssuePaymentCode(ctx, kaquan.IssuePaymentCode{User: u, Account: userAccount(u), Card: c.Id})
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := layout.SlotOfPaymentCode(code.Code); s != layout.OfAccount(userAccount(u)) {
		t.Errorf("payment code %q carries slot %d, want the account's %d", code.Code, s, layout.OfAccount(userAccount(u)))
	}
	o, err := e.Pay(ctx, kaquan.Pay{Merchant: w.merchant, MerchantAccount: w.merchantAccount, Code: code.Code, Amount: 3000, Key: "p1"})
	if err != nil || o.Payment.GetState() != messages.PaymentState_PAYMENT_STATE_COMPLETED {
		t.Fatalf("pay: %+v %v", o, err)
	}
	if got, err := e.CardByCode(ctx, c.Code); err != nil || got.Id != c.Id {
		t.Fatalf("card by code: %v %v", got, err)
	}
	r, err := e.Audit(ctx)
	if err != nil || !r.OK() {
		t.Fatalf("audit: %+v %v", r, err)
	}
}

func TestClusterOptions_Peers(t *testing.T) {
	peers := []string{"127.0.0.1:7000", "127.0.0.1:7002", "node-2.kaquan-hl:7000"}
	for _, c := range []struct {
		name string
		o    kaquan.ClusterOptions
		ok   bool
	}{
		{"ThreePeers", kaquan.ClusterOptions{Node: 1, Nodes: 3, Slots: 64, Peers: peers}, true},
		{"NoPeers", kaquan.ClusterOptions{Node: 1, Nodes: 3, Slots: 64}, true},
		{"TooFewPeers", kaquan.ClusterOptions{Node: 1, Nodes: 3, Slots: 64, Peers: peers[:2]}, false},
		{"NoPort", kaquan.ClusterOptions{Node: 0, Nodes: 1, Slots: 64, Peers: []string{"127.0.0.1"}}, false},
		{"NoHost", kaquan.ClusterOptions{Node: 0, Nodes: 1, Slots: 64, Peers: []string{":7000"}}, false},
		{"NoRoomForHealthPort", kaquan.ClusterOptions{Node: 0, Nodes: 1, Slots: 64, Peers: []string{"127.0.0.1:65535"}}, false},
		{"NegativeOffset", kaquan.ClusterOptions{Node: 0, Nodes: 1, Slots: 64, Peers: []string{"127.0.0.1:7000"}, HealthPortOffset: -1}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := c.o.Validate(); (err == nil) != c.ok {
				t.Fatalf("Validate(%+v) = %v, want ok=%v", c.o, err, c.ok)
			}
		})
	}
}
