package server_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/messages/messagesconnect"
)

// TestServer_AuthorizationMatrix calls every operation as every principal: each is allowed (it may
// still fail for the domain's reasons) or refused with PermissionDenied / Unauthenticated, exactly
// as the rules say.
func TestServer_AuthorizationMatrix(t *testing.T) {
	s := startServer(t)
	f := setupFlow(t, s, true)
	ctx := context.Background()
	rp, err := f.admin.CreateParty(ctx, connect.NewRequest(&messages.CreatePartyRequest{Id: 2, Kind: messages.PartyKind_PARTY_KIND_MERCHANT, Name: "other shop"}))
	ok(t, rp, err)
	r, err := f.admin.CreateToken(ctx, connect.NewRequest(&messages.CreateTokenRequest{Kind: messages.PrincipalKind_PRINCIPAL_KIND_MERCHANT, PartyId: 2}))
	merchant2 := s.client(ok(t, r, err).Token, true)
	principals := map[string]messagesconnect.KaquanServiceClient{
		"none": s.client("", true), "admin": f.admin, "merchant1": f.merchant, "merchant2": merchant2, "user100": f.user, "user101": f.other,
	}
	type call func(c messagesconnect.KaquanServiceClient) error
	e := func(_ any, err error) error { return err }
	tpl := &messages.Template{Id: 8, MerchantId: 1, Kind: messages.TemplateKind_TEMPLATE_KIND_CASH, ReduceAmount: 1, StockTotal: 1, PerUserLimit: 1, ValidDays: 1}
	ops := []struct {
		name    string
		call    call
		allowed string // principals allowed, space separated
	}{
		{"CreateToken", func(c messagesconnect.KaquanServiceClient) error {
			return e(c.CreateToken(ctx, connect.NewRequest(&messages.CreateTokenRequest{Kind: messages.PrincipalKind_PRINCIPAL_KIND_USER, PartyId: 100})))
		}, "admin"},
		{"RevokeToken", func(c messagesconnect.KaquanServiceClient) error {
			return e(c.RevokeToken(ctx, connect.NewRequest(&messages.RevokeTokenRequest{TokenId: strings.Repeat("0", 64)})))
		}, "admin"},
		{"CreateParty", func(c messagesconnect.KaquanServiceClient) error {
			return e(c.CreateParty(ctx, connect.NewRequest(&messages.CreatePartyRequest{Id: 300, Kind: messages.PartyKind_PARTY_KIND_USER, Name: "u"})))
		}, "admin"},
		{"CreateAccount", func(c messagesconnect.KaquanServiceClient) error {
			return e(c.CreateAccount(ctx, connect.NewRequest(&messages.CreateAccountRequest{Id: 3000, Owner: 100})))
		}, "admin"},
		{"Deposit", func(c messagesconnect.KaquanServiceClient) error {
			return e(c.Deposit(ctx, connect.NewRequest(&messages.TransferRequest{Account: 1000, Amount: 1, Key: "m"})))
		}, "admin"},
		{"Withdraw", func(c messagesconnect.KaquanServiceClient) error {
			return e(c.Withdraw(ctx, connect.NewRequest(&messages.TransferRequest{Account: 1000, Amount: 1, Key: "w"})))
		}, "admin"},
		{"Audit", func(c messagesconnect.KaquanServiceClient) error {
			return e(c.Audit(ctx, connect.NewRequest(&messages.AuditRequest{})))
		}, "admin"},
		{"AddContact", func(c messagesconnect.KaquanServiceClient) error {
			return e(c.AddContact(ctx, connect.NewRequest(&messages.ContactRequest{A: 100, B: 101})))
		}, "admin"},
		{"RemoveContact", func(c messagesconnect.KaquanServiceClient) error {
			return e(c.RemoveContact(ctx, connect.NewRequest(&messages.ContactRequest{A: 100, B: 101})))
		}, "admin"},
		{"GetAccount", func(c messagesconnect.KaquanServiceClient) error {
			return e(c.GetAccount(ctx, connect.NewRequest(&messages.GetAccountRequest{Id: 1000})))
		}, "admin user100"},
		{"GetMerchantAccount", func(c messagesconnect.KaquanServiceClient) error {
			return e(c.GetAccount(ctx, connect.NewRequest(&messages.GetAccountRequest{Id: 10})))
		}, "admin merchant1"},
		{"CreateTemplate", func(c messagesconnect.KaquanServiceClient) error {
			return e(c.CreateTemplate(ctx, connect.NewRequest(&messages.CreateTemplateRequest{Template: tpl})))
		}, "admin merchant1"},
		{"SetNotifySecret", func(c messagesconnect.KaquanServiceClient) error {
			return e(c.SetNotifySecret(ctx, connect.NewRequest(&messages.SetNotifySecretRequest{Merchant: 1, Secret: []byte("0123456789abcdef0123")})))
		}, "admin merchant1"},
		{"Pay", func(c messagesconnect.KaquanServiceClient) error {
			return e(c.Pay(ctx, connect.NewRequest(&messages.PayRequest{Merchant: 1, MerchantAccount: 10, Code: "123456789012345678", Amount: 1, Key: "p"})))
		}, "admin merchant1"},
		{"Refund", func(c messagesconnect.KaquanServiceClient) error {
			return e(c.Refund(ctx, connect.NewRequest(&messages.RefundRequest{Merchant: 1, Key: "p"})))
		}, "admin merchant1"},
		{"GetPayment", func(c messagesconnect.KaquanServiceClient) error {
			return e(c.GetPayment(ctx, connect.NewRequest(&messages.GetPaymentRequest{Merchant: 1, Key: "p"})))
		}, "admin merchant1"},
		{"Claim", func(c messagesconnect.KaquanServiceClient) error {
			return e(c.Claim(ctx, connect.NewRequest(&messages.ClaimRequest{Template: 7, User: 100})))
		}, "admin user100"},
		{"Wallet", func(c messagesconnect.KaquanServiceClient) error {
			return e(c.Wallet(ctx, connect.NewRequest(&messages.WalletRequest{User: 100})))
		}, "admin user100"},
		{"IssuePaymentCode", func(c messagesconnect.KaquanServiceClient) error {
			return e(c.IssuePaymentCode(ctx, connect.NewRequest(&messages.IssuePaymentCodeRequest{User: 100, Account: 1000})))
		}, "admin user100"},
		{"Gift", func(c messagesconnect.KaquanServiceClient) error {
			return e(c.Gift(ctx, connect.NewRequest(&messages.GiftRequest{From: 100, To: 101, Card: 7<<32 | 99})))
		}, "admin user100"},
		{"AcceptGift", func(c messagesconnect.KaquanServiceClient) error {
			return e(c.AcceptGift(ctx, connect.NewRequest(&messages.AnswerGiftRequest{User: 100, Card: 7<<32 | 99})))
		}, "admin user100"},
		{"DeclineGift", func(c messagesconnect.KaquanServiceClient) error {
			return e(c.DeclineGift(ctx, connect.NewRequest(&messages.AnswerGiftRequest{User: 100, Card: 7<<32 | 99})))
		}, "admin user100"},
		{"GiftLibrary", func(c messagesconnect.KaquanServiceClient) error {
			return e(c.GiftLibrary(ctx, connect.NewRequest(&messages.GiftLibraryRequest{Card: 7<<32 | 1})))
		}, "admin user100"},
		{"Share", func(c messagesconnect.KaquanServiceClient) error {
			return e(c.Share(ctx, connect.NewRequest(&messages.ShareRequest{User: 100, Card: 7<<32 | 99})))
		}, "admin user100"},
		{"Unshare", func(c messagesconnect.KaquanServiceClient) error {
			return e(c.Unshare(ctx, connect.NewRequest(&messages.ShareRequest{User: 100, Card: 7<<32 | 99})))
		}, "admin user100"},
		{"ClaimShared", func(c messagesconnect.KaquanServiceClient) error {
			return e(c.ClaimShared(ctx, connect.NewRequest(&messages.ClaimSharedRequest{Claimer: 100, Sharer: 101, Card: 7<<32 | 99})))
		}, "admin user100"},
		{"ContactPools", func(c messagesconnect.KaquanServiceClient) error {
			return e(c.ContactPools(ctx, connect.NewRequest(&messages.ContactPoolsRequest{Viewer: 100, Limit: 10})))
		}, "admin user100"},
		{"Rewards", func(c messagesconnect.KaquanServiceClient) error {
			return e(c.Rewards(ctx, connect.NewRequest(&messages.RewardsRequest{Sharer: 100})))
		}, "admin user100"},
		{"SetAccountStatus", func(c messagesconnect.KaquanServiceClient) error {
			return e(c.SetAccountStatus(ctx, connect.NewRequest(&messages.SetAccountStatusRequest{Id: 1010, Status: messages.AccountStatus_ACCOUNT_STATUS_ACTIVE})))
		}, "admin"},
		{"GetParty", func(c messagesconnect.KaquanServiceClient) error {
			return e(c.GetParty(ctx, connect.NewRequest(&messages.GetPartyRequest{Id: 100})))
		}, "admin user100"},
		{"GetTemplate", func(c messagesconnect.KaquanServiceClient) error {
			return e(c.GetTemplate(ctx, connect.NewRequest(&messages.GetTemplateRequest{Id: 7})))
		}, "admin merchant1 merchant2 user100 user101"},
		{"GetCard", func(c messagesconnect.KaquanServiceClient) error {
			return e(c.GetCard(ctx, connect.NewRequest(&messages.GetCardRequest{Id: 7<<32 | 1})))
		}, "admin merchant1 user100"},
		{"ListContacts", func(c messagesconnect.KaquanServiceClient) error {
			return e(c.ListContacts(ctx, connect.NewRequest(&messages.ListContactsRequest{User: 100})))
		}, "admin user100"},
		{"VoidCard", func(c messagesconnect.KaquanServiceClient) error {
			return e(c.VoidCard(ctx, connect.NewRequest(&messages.CardRequest{Merchant: 1, Card: 7<<32 | 99})))
		}, "admin merchant1"},
		{"ExpireCard", func(c messagesconnect.KaquanServiceClient) error {
			return e(c.ExpireCard(ctx, connect.NewRequest(&messages.CardRequest{Merchant: 1, Card: 7<<32 | 1})))
		}, "admin merchant1"},
		// Verified by the notification's signature: open to every caller, token or not.
		{"ConfirmUse", func(c messagesconnect.KaquanServiceClient) error {
			return e(c.ConfirmUse(ctx, connect.NewRequest(&messages.ConfirmUseRequest{Id: "n", CardCode: "x", Merchant: 1, Signature: "00"})))
		}, "none admin merchant1 merchant2 user100 user101"},
	}
	// The card 7<<32|1 exists (user 100's): claim it first so GiftLibrary's owner check applies.
	rc, err := f.user.Claim(ctx, connect.NewRequest(&messages.ClaimRequest{Template: 7, User: 100}))
	ok(t, rc, err)
	for _, op := range ops {
		for name, c := range principals {
			t.Run(fmt.Sprintf("%s/%s", op.name, name), func(t *testing.T) {
				err := op.call(c)
				code := connect.CodeOf(err)
				refused := err != nil && (code == connect.CodePermissionDenied || code == connect.CodeUnauthenticated) &&
					!strings.Contains(err.Error(), "signature") && !strings.Contains(err.Error(), "not a contact")
				allowed := strings.Contains(" "+op.allowed+" ", " "+name+" ")
				switch {
				case allowed && refused:
					t.Errorf("refused: %v", err)
				case !allowed && !refused:
					t.Errorf("allowed (err %v)", err)
				case name == "none" && !allowed && code != connect.CodeUnauthenticated:
					t.Errorf("without a token: %v, want Unauthenticated", err)
				}
			})
		}
	}
}
