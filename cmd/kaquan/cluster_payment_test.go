//go:build unix

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/bench"
	"github.com/kaquan/kaquan/messages"
)

// TestCluster_UpPaymentAcrossNodes runs three nodes as processes (`kaquan cluster up`) and makes a
// card-validated payment through their servers whose payer (node 0), card (node 1) and merchant
// (node 2) are on three nodes, every call on a node that owns none of what it names. Then the
// nodes stop and the cluster audit of their three folders holds, with the payment acknowledged.
func TestCluster_UpPaymentAcrossNodes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cluster")
	c := startClusterUp(t, dir, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var api []*bench.Remote
	for _, u := range c.urls {
		api = append(api, bench.NewRemote(u, c.token))
	}
	// Slot = id mod 64, node = slot mod 3.
	const merchant, merchantAccount, user, payer, tmpl = 2, 5, 3, 6, 1 // nodes 2, 2, 0, 0, 1
	// The first call that crosses nodes waits for the nodes to see each other.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		_, err := api[0].CreateParty(ctx, kaquan.CreateParty{ID: merchant, Kind: kaquan.PartyMerchant, Name: "shop"})
		if err == nil {
			break
		}
		if !errors.Is(err, kaquan.ErrUnavailable) || time.Now().After(deadline) {
			t.Fatalf("create the merchant through node 0: %v\n%s", err, c.stderr.String())
		}
	}
	step := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	_, err := api[1].CreateParty(ctx, kaquan.CreateParty{ID: user, Kind: kaquan.PartyUser, Name: "ann"})
	step("user", err)
	_, err = api[0].CreateAccount(ctx, kaquan.CreateAccount{ID: merchantAccount, Owner: merchant})
	step("merchant account", err)
	_, err = api[1].CreateAccount(ctx, kaquan.CreateAccount{ID: payer, Owner: user})
	step("payer account", err)
	_, err = api[2].Deposit(ctx, kaquan.Deposit{Account: payer, Amount: 10_000, Key: "initial"})
	step("deposit", err)
	_, err = api[0].CreateTemplate(ctx, &messages.Template{Id: tmpl, MerchantId: merchant, Kind: kaquan.TemplateCash,
		ReduceAmount: 500, LeastCost: 1000, StockTotal: 10, PerUserLimit: 2, ValidDays: 30})
	step("template", err)
	card, err := api[2].Claim(ctx, kaquan.Claim{Template: tmpl, User: user})
	step("claim", err)
	code, err := api[2].IssuePaymentCode(ctx, kaquan.IssuePaymentCode{User: user, Account: payer, Card: card.Id})
	step("payment code", err)
	out, err := api[1].Pay(ctx, kaquan.Pay{Merchant: merchant, MerchantAccount: merchantAccount, Code: code.Code, Amount: 3000, Key: "k1"})
	if err != nil || out.Payment.State != messages.PaymentState_PAYMENT_STATE_COMPLETED || out.Payment.Charged != 2500 {
		t.Fatalf("pay: got %v %v, want COMPLETED charging 2500", out.Payment, err)
	}
	cards, err := api[0].WalletCards(ctx, user)
	if err != nil || len(cards) != 1 || cards[0].State != kaquan.CardUsed {
		t.Fatalf("wallet through node 0: got %v %v, want the card USED", cards, err)
	}
	if _, err := api[0].Pay(ctx, kaquan.Pay{Merchant: merchant, MerchantAccount: merchantAccount, Code: code.Code, Amount: 3000, Key: "k2"}); !errors.Is(err, kaquan.ErrCodeUsed) {
		t.Errorf("the used code again: got %v, want ErrCodeUsed", err)
	}

	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := c.wait(t, time.Minute); code != ExitOK {
		t.Fatalf("cluster up exit %d:\n%s", code, c.stderr.String())
	}
	acks := filepath.Join(t.TempDir(), "acks")
	if err := os.WriteFile(acks, []byte(kaquan.PaymentKey(merchant, "k1")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"audit", "--expect-acks", acks}
	for i := range 3 {
		args = append(args, "--data", filepath.Join(dir, fmt.Sprint("node-", i)))
	}
	if code, stdout, stderr := run(args...); code != ExitOK || !strings.Contains(stdout, "cluster audit OK") {
		t.Fatalf("cluster audit: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

// TestCluster_UpBench runs the payments bench against three nodes (`bench --target` with every
// node's URL): payments cross nodes (cross_node_share), none fails, and the cluster audit of the
// stopped nodes' folders holds with every acknowledged payment complete.
func TestCluster_UpBench(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cluster")
	c := startClusterUp(t, dir, 3)
	acks := filepath.Join(t.TempDir(), "acks")
	args := []string{"bench", "--target", strings.Join(c.urls, ","), "--token", c.token, "--duration", "3s",
		"--accounts", "60", "--merchants", "6", "--cards-per-user", "1", "--concurrency", "8", "--json", "--no-progress-bar", "--ack-log", acks}
	var code int
	var stdout, stderr string
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(500 * time.Millisecond) { // until the nodes see each other
		if code, stdout, stderr = run(args...); code == ExitOK || time.Now().After(deadline) || !strings.Contains(stdout+stderr, "unavailable") {
			break
		}
	}
	if code != ExitOK {
		t.Fatalf("bench: exit %d\n%s\n%s", code, stdout, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	var res struct {
		Ops            int64    `json:"ops"`
		Errors         int64    `json:"errors"`
		CrossNodeShare *float64 `json:"cross_node_share"`
		Unavailable    *int64   `json:"unavailable"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatalf("bench JSON: %v\n%s", err, stdout)
	}
	if res.Ops == 0 || res.Errors != 0 || res.CrossNodeShare == nil || *res.CrossNodeShare < 0.9 || res.Unavailable == nil {
		t.Fatalf("bench: got ops %d, errors %d, cross_node_share %v, unavailable %v; want payments, no error, a share >= 0.9\n%s",
			res.Ops, res.Errors, res.CrossNodeShare, res.Unavailable, stdout)
	}
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := c.wait(t, time.Minute); code != ExitOK {
		t.Fatalf("cluster up exit %d:\n%s", code, c.stderr.String())
	}
	audit := []string{"audit", "--expect-acks", acks}
	for i := range 3 {
		audit = append(audit, "--data", filepath.Join(dir, fmt.Sprint("node-", i)))
	}
	if code, out, errs := run(audit...); code != ExitOK || !strings.Contains(out, "cluster audit OK") {
		t.Fatalf("cluster audit: exit %d\n%s\n%s", code, out, errs)
	}
	t.Logf("%d payments, %.0f%% across nodes", res.Ops, 100**res.CrossNodeShare)
}
