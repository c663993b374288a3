package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"time"

	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/messages"
)

// demo runs the whole flow on an embedded engine and prints each step. It can run again on the same
// folder: ids are fixed, creations are idempotent, and payment keys are new each run.
func (m Main) demo(ctx context.Context, args []string) error {
	fs := m.newFlags("demo")
	data := fs.String("data", "kaquan-data", "data folder")
	verbose := fs.Bool("v", false, "log engine activity")
	if err := parse(fs, args); err != nil {
		return err
	}
	opts := kaquan.DefaultOptions()
	opts.Logger = m.logger(*verbose)
	e, err := kaquan.Open(*data, opts)
	if err != nil {
		return err
	}
	defer e.Close()
	d := &demoRun{e: e, m: m, run: fmt.Sprint(opts.Clock().UnixNano())}
	fmt.Fprintf(m.Stdout, "kaquan demo: data in %s\n", *data)
	return d.play(ctx)
}

type demoRun struct {
	e   *kaquan.Engine
	m   Main
	run string
	n   int
}

func (d *demoRun) step(format string, a ...any) {
	d.n++
	fmt.Fprintf(d.m.Stdout, "%2d. %s\n", d.n, fmt.Sprintf(format, a...))
}

func (d *demoRun) play(ctx context.Context) error {
	const merchant, merchantAcct, alice, aliceAcct, bob, bobAcct, tmpl = 1, 10, 100, 1000, 101, 1010, 1
	e := d.e
	if _, err := e.CreateParty(ctx, kaquan.CreateParty{ID: merchant, Kind: messages.PartyKind_PARTY_KIND_MERCHANT, Name: "Tea House"}); err != nil {
		return err
	}
	if _, err := e.CreateAccount(ctx, kaquan.CreateAccount{ID: merchantAcct, Owner: merchant}); err != nil {
		return err
	}
	d.step("merchant %d (Tea House) with account %d", merchant, merchantAcct)
	t, err := e.CreateTemplate(ctx, &messages.Template{Id: tmpl, MerchantId: merchant, Title: "5.00 off 20.00",
		Kind: messages.TemplateKind_TEMPLATE_KIND_CASH, ReduceAmount: 500, LeastCost: 2000,
		StockTotal: 1000, PerUserLimit: 100, ValidDays: 30})
	if err != nil {
		return err
	}
	d.step("template %d %q: CASH 500 off at least 2000, stock %d (%d issued), %d days", t.Id, t.Title, t.StockTotal, t.Issued, t.ValidDays)
	for _, u := range []struct{ id, acct uint64 }{{alice, aliceAcct}, {bob, bobAcct}} {
		if _, err := e.CreateParty(ctx, kaquan.CreateParty{ID: u.id, Kind: messages.PartyKind_PARTY_KIND_USER, Name: fmt.Sprint("user ", u.id)}); err != nil {
			return err
		}
		if _, err := e.CreateAccount(ctx, kaquan.CreateAccount{ID: u.acct, Owner: u.id}); err != nil {
			return err
		}
		en, err := e.Deposit(ctx, kaquan.Deposit{Account: u.acct, Amount: 10_000, Key: "demo-" + d.run})
		if err != nil {
			return err
		}
		d.step("user %d, account %d: deposit 10000, balance %d", u.id, u.acct, en.BalanceAfter)
	}
	card, err := e.Claim(ctx, kaquan.Claim{Template: tmpl, User: alice})
	if err != nil {
		return err
	}
	d.step("user %d claims card %d (code %s), valid until %s", alice, card.Id, card.Code, fmtTime(card.ValidUntil))
	code, err := e.IssuePaymentCode(ctx, kaquan.IssuePaymentCode{User: alice, Account: aliceAcct, Card: card.Id})
	if err != nil {
		return err
	}
	d.step("user %d shows payment code %s for card %d (single use, expires %s)", alice, code.Code, card.Id, fmtTime(code.ExpiresAt))
	key := "order-" + d.run
	o, err := e.Pay(ctx, kaquan.Pay{Merchant: merchant, MerchantAccount: merchantAcct, Code: code.Code, Amount: 3000, Key: key})
	if err != nil {
		return err
	}
	d.step("merchant submits 3000 with that code: card takes %d off, user pays %d -> %s", o.Payment.Discount, o.Payment.Charged, o.Payment.State)
	o, err = e.Pay(ctx, kaquan.Pay{Merchant: merchant, MerchantAccount: merchantAcct, Code: code.Code, Amount: 3000, Key: key})
	if err != nil {
		return err
	}
	d.step("the terminal retries the same request: duplicate=%v, still charged %d once", o.Duplicate, o.Payment.Charged)
	_, err = e.Pay(ctx, kaquan.Pay{Merchant: merchant, MerchantAccount: merchantAcct, Code: code.Code, Amount: 3000, Key: key + "-again"})
	d.step("a new payment with the same code is refused: %v", err)
	plain, err := e.IssuePaymentCode(ctx, kaquan.IssuePaymentCode{User: bob, Account: bobAcct})
	if err != nil {
		return err
	}
	o, err = e.Pay(ctx, kaquan.Pay{Merchant: merchant, MerchantAccount: merchantAcct, Code: plain.Code, Amount: 1200, Key: key + "-bob"})
	if err != nil {
		return err
	}
	d.step("user %d pays 1200 without a card: charged %d -> %s", bob, o.Payment.Charged, o.Payment.State)
	o, err = e.Refund(ctx, kaquan.Refund{Merchant: merchant, Key: key})
	if err != nil {
		return err
	}
	c, err := e.Card(ctx, card.Id)
	if err != nil {
		return err
	}
	d.step("merchant refunds order %s: %s, card %d is %s again", key, o.Payment.State, c.Id, c.State)
	if err := d.giftsAndPools(ctx, merchant, merchantAcct, alice, aliceAcct, bob); err != nil {
		return err
	}
	for _, a := range []uint64{aliceAcct, bobAcct, merchantAcct} {
		info, err := e.Account(ctx, a)
		if err != nil {
			return err
		}
		d.step("account %d balance %d (%d ledger entries)", a, info.Balance, info.Seq)
	}
	r, err := e.Audit(ctx)
	if err != nil {
		return err
	}
	d.step("%s", r)
	if !r.OK() {
		return fmt.Errorf("%w: %v", errAuditFailed, r.Problems)
	}
	return nil
}

// giftsAndPools: alice gifts a card to bob with a greeting image; bob shares a card into his pool,
// alice (his contact) claims it and pays with it, and bob earns a reward card.
func (d *demoRun) giftsAndPools(ctx context.Context, merchant, merchantAcct, alice, aliceAcct, bob uint64) error {
	const gifts = 2
	e := d.e
	t, err := e.CreateTemplate(ctx, &messages.Template{Id: gifts, MerchantId: merchant, Title: "3.00 off, to give or share",
		Kind: messages.TemplateKind_TEMPLATE_KIND_CASH, ReduceAmount: 300, LeastCost: 1000, StockTotal: 1000, PerUserLimit: 100,
		ValidDays: 30, CanGift: true, CanShare: true, RewardTemplate: 1})
	if err != nil {
		return err
	}
	d.step("template %d %q: may be gifted and shared; a shared card's use rewards its sharer with a card of template %d", t.Id, t.Title, t.RewardTemplate)
	present, err := e.Claim(ctx, kaquan.Claim{Template: gifts, User: alice})
	if err != nil {
		return err
	}
	var img bytes.Buffer
	pic := image.NewNRGBA(image.Rect(0, 0, 48, 32))
	for i := range pic.Pix {
		pic.Pix[i] = byte(i * 7)
	}
	if err := png.Encode(&img, pic); err != nil {
		return err
	}
	given, err := e.Gift(ctx, kaquan.Gift{From: alice, To: bob, Card: present.Id, Image: img.Bytes(), Message: "生日快乐"})
	if err != nil {
		return err
	}
	lib, err := e.GiftLibrary(ctx, present.Id, 0)
	if err != nil {
		return err
	}
	d.step("user %d gives card %d to user %d with a %d-byte PNG: new owner %d, new code %s; library: %d transfer(s), image %s…",
		alice, present.Id, bob, img.Len(), given.OwnerId, given.Code, len(lib), lib[0].ImageId[:12])
	if err := e.AddContact(ctx, kaquan.ContactPair{A: alice, B: bob}); err != nil {
		return err
	}
	shared, err := e.Claim(ctx, kaquan.Claim{Template: gifts, User: bob})
	if err != nil {
		return err
	}
	if _, err := e.Share(ctx, kaquan.Share{User: bob, Card: shared.Id}); err != nil {
		return err
	}
	page, err := e.ContactPools(ctx, alice, "", 10)
	if err != nil {
		return err
	}
	d.step("users %d and %d are contacts; %d shares card %d into his pool; %d sees %d card(s) in her contacts' pools", alice, bob, bob, shared.Id, alice, len(page.Cards))
	mine, err := e.ClaimShared(ctx, kaquan.ClaimShared{Claimer: alice, Sharer: bob, Card: shared.Id})
	if err != nil {
		return err
	}
	code, err := e.IssuePaymentCode(ctx, kaquan.IssuePaymentCode{User: alice, Account: aliceAcct, Card: mine.Id})
	if err != nil {
		return err
	}
	o, err := e.Pay(ctx, kaquan.Pay{Merchant: merchant, MerchantAccount: merchantAcct, Code: code.Code, Amount: 1500, Key: "shared-" + d.run})
	if err != nil {
		return err
	}
	d.step("user %d claims it from the pool (shared by %d) and pays 1500 with it: charged %d -> %s", alice, mine.SharedBy, o.Payment.Charged, o.Payment.State)
	// The reward is settled by bob's pool right after the payment; wait a moment for it.
	var rewards []*messages.Reward
	for range 100 {
		if rewards, err = e.Rewards(ctx, bob, ""); err != nil {
			return err
		}
		if n := len(rewards); n > 0 && rewards[n-1].State != messages.RewardState_REWARD_STATE_PENDING && hasUse(rewards, "pay:"+o.Payment.Key) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, r := range rewards {
		if r.UseId == "pay:"+o.Payment.Key {
			d.step("user %d is rewarded for the use (%s): %s, card %d", bob, r.UseId, r.State, r.SharerCard)
		}
	}
	return nil
}

func hasUse(rs []*messages.Reward, use string) bool {
	for _, r := range rs {
		if r.UseId == use && r.State != messages.RewardState_REWARD_STATE_PENDING {
			return true
		}
	}
	return false
}

func fmtTime(ns int64) string {
	return timeFromUnixNano(ns).Format("2006-01-02 15:04:05")
}
