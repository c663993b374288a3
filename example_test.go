package kaquan_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/messages"
)

// A card-validated payment, embedded: a merchant with a CASH template (500 off at least 2000), a
// user with money and a claimed card, the user's payment code, the merchant's payment and its retry.
func Example() {
	dir, err := os.MkdirTemp("", "kaquan-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	e, err := kaquan.Open(dir, kaquan.DefaultOptions())
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	must := func(_ any, err error) {
		if err != nil {
			log.Fatal(err)
		}
	}

	must(e.CreateParty(ctx, kaquan.CreateParty{ID: 1, Kind: messages.PartyKind_PARTY_KIND_MERCHANT, Name: "Tea House"}))
	must(e.CreateAccount(ctx, kaquan.CreateAccount{ID: 10, Owner: 1}))
	must(e.CreateTemplate(ctx, &messages.Template{Id: 1, MerchantId: 1, Kind: messages.TemplateKind_TEMPLATE_KIND_CASH,
		ReduceAmount: 500, LeastCost: 2000, StockTotal: 1000, PerUserLimit: 1, ValidDays: 30}))
	must(e.CreateParty(ctx, kaquan.CreateParty{ID: 100, Kind: messages.PartyKind_PARTY_KIND_USER, Name: "Alice"}))
	must(e.CreateAccount(ctx, kaquan.CreateAccount{ID: 1000, Owner: 100}))
	must(e.Deposit(ctx, kaquan.Deposit{Account: 1000, Amount: 10_000, Key: "top-up-1"}))

	card, err := e.Claim(ctx, kaquan.Claim{Template: 1, User: 100})
	if err != nil {
		log.Fatal(err)
	}
	code, err := e.IssuePaymentCode(ctx, kaquan.IssuePaymentCode{User: 100, Account: 1000, Card: card.Id})
	if err != nil {
		log.Fatal(err)
	}
	pay := kaquan.Pay{Merchant: 1, MerchantAccount: 10, Code: code.Code, Amount: 3000, Key: "order-17"}
	out, err := e.Pay(ctx, pay)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(out.Payment.State, "discount", out.Payment.Discount, "charged", out.Payment.Charged)

	again, _ := e.Pay(ctx, pay) // a retry with the same key: the first outcome, nothing charged twice
	fmt.Println("retry duplicate:", again.Duplicate, "charged", again.Payment.Charged)

	pay.Key = "order-18" // the code is single use
	_, err = e.Pay(ctx, pay)
	fmt.Println("code reused:", errors.Is(err, kaquan.ErrCodeUsed))

	acct, err := e.Account(ctx, 1000)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("balance", acct.Balance)
	report, err := e.Audit(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("audit ok:", report.OK())
	// Output:
	// PAYMENT_STATE_COMPLETED discount 500 charged 2500
	// retry duplicate: true charged 2500
	// code reused: true
	// balance 7500
	// audit ok: true
}
