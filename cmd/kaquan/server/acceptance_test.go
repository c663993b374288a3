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

// TestServer_AcceptanceAuthorization: only the accepting merchant (or the admin) grants, revokes
// and lists its acceptances; the issuer may read the pair too; nobody else may.
func TestServer_AcceptanceAuthorization(t *testing.T) {
	s := startServer(t)
	f := setupFlow(t, s, true)
	ctx := context.Background()
	merchant := func(id uint64) messagesconnect.KaquanServiceClient {
		must(t)(f.admin.CreateParty(ctx, connect.NewRequest(&messages.CreatePartyRequest{Id: id, Kind: messages.PartyKind_PARTY_KIND_MERCHANT, Name: "shop"})))
		r, err := f.admin.CreateToken(ctx, connect.NewRequest(&messages.CreateTokenRequest{Kind: messages.PrincipalKind_PRINCIPAL_KIND_MERCHANT, PartyId: id}))
		return s.client(ok(t, r, err).Token, true)
	}
	principals := map[string]messagesconnect.KaquanServiceClient{
		"none": s.client("", true), "admin": f.admin, "merchant1": f.merchant, "merchant2": merchant(2), "merchant3": merchant(3), "user100": f.user,
	}
	pair := &messages.AcceptanceRequest{Acceptor: 2, Issuer: 1}
	e := func(_ any, err error) error { return err }
	ops := []struct {
		name    string
		call    func(c messagesconnect.KaquanServiceClient) error
		allowed string
	}{
		{"GrantAcceptance", func(c messagesconnect.KaquanServiceClient) error {
			return e(c.GrantAcceptance(ctx, connect.NewRequest(pair)))
		}, "admin merchant2"},
		{"RevokeAcceptance", func(c messagesconnect.KaquanServiceClient) error {
			return e(c.RevokeAcceptance(ctx, connect.NewRequest(pair)))
		}, "admin merchant2"},
		{"GetAcceptance", func(c messagesconnect.KaquanServiceClient) error {
			return e(c.GetAcceptance(ctx, connect.NewRequest(pair)))
		}, "admin merchant1 merchant2"},
		{"ListAcceptances", func(c messagesconnect.KaquanServiceClient) error {
			return e(c.ListAcceptances(ctx, connect.NewRequest(&messages.ListAcceptancesRequest{Acceptor: 2})))
		}, "admin merchant2"},
	}
	for _, op := range ops {
		for name, c := range principals {
			t.Run(fmt.Sprintf("%s/%s", op.name, name), func(t *testing.T) {
				err := op.call(c)
				code := connect.CodeOf(err)
				refused := err != nil && (code == connect.CodePermissionDenied || code == connect.CodeUnauthenticated)
				allowed := strings.Contains(" "+op.allowed+" ", " "+name+" ")
				switch {
				case allowed && refused:
					t.Errorf("refused: %v", err)
				case !allowed && !refused:
					t.Errorf("allowed (err %v)", err)
				case name == "none" && code != connect.CodeUnauthenticated:
					t.Errorf("without a token: %v, want Unauthenticated", err)
				}
			})
		}
	}
}

// TestServer_AcceptancePayment: merchant 1's template listing merchant 2 alone (5000 off, no
// minimum) pays at merchant 2 only once merchant 2 granted its acceptance.
func TestServer_AcceptancePayment(t *testing.T) {
	s := startServer(t)
	f := setupFlow(t, s, false)
	ctx := context.Background()
	must(t)(f.admin.CreateParty(ctx, connect.NewRequest(&messages.CreatePartyRequest{Id: 2, Kind: messages.PartyKind_PARTY_KIND_MERCHANT, Name: "other shop"})))
	must(t)(f.admin.CreateAccount(ctx, connect.NewRequest(&messages.CreateAccountRequest{Id: 20, Owner: 2})))
	r, err := f.admin.CreateToken(ctx, connect.NewRequest(&messages.CreateTokenRequest{Kind: messages.PrincipalKind_PRINCIPAL_KIND_MERCHANT, PartyId: 2}))
	merchant2 := s.client(ok(t, r, err).Token, false)
	must(t)(f.merchant.CreateTemplate(ctx, connect.NewRequest(&messages.CreateTemplateRequest{Template: &messages.Template{Id: 9, MerchantId: 1,
		Kind: messages.TemplateKind_TEMPLATE_KIND_CASH, ReduceAmount: 5000, StockTotal: 10, PerUserLimit: 5, ValidDays: 30, AcceptedMerchants: []uint64{2}}})))
	pay := func(key string) (*connect.Response[messages.PaymentResponse], error) {
		c, err := f.user.Claim(ctx, connect.NewRequest(&messages.ClaimRequest{Template: 9, User: 100}))
		card := ok(t, c, err)
		pc, err := f.user.IssuePaymentCode(ctx, connect.NewRequest(&messages.IssuePaymentCodeRequest{User: 100, Account: 1000, Card: card.Id}))
		return merchant2.Pay(ctx, connect.NewRequest(&messages.PayRequest{Merchant: 2, MerchantAccount: 20, Code: ok(t, pc, err).Code, Amount: 5000, Key: key}))
	}
	if _, err := pay("before"); connect.CodeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), "ACCEPTANCE_NOT_GRANTED") {
		t.Fatalf("pay before the grant: got %v, want FailedPrecondition ACCEPTANCE_NOT_GRANTED", err)
	}
	if _, err := f.merchant.GrantAcceptance(ctx, connect.NewRequest(&messages.AcceptanceRequest{Acceptor: 2, Issuer: 1})); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("the issuer granting for merchant 2: got %v, want PermissionDenied", err)
	}
	must(t)(merchant2.GrantAcceptance(ctx, connect.NewRequest(&messages.AcceptanceRequest{Acceptor: 2, Issuer: 1})))
	p, err := pay("after")
	if got := ok(t, p, err).Payment; got.Discount != 5000 || got.Charged != 0 {
		t.Errorf("pay after the grant: got %v, want discount 5000", got)
	}
	must(t)(merchant2.RevokeAcceptance(ctx, connect.NewRequest(&messages.AcceptanceRequest{Acceptor: 2, Issuer: 1})))
	if _, err := pay("revoked"); connect.CodeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), "ACCEPTANCE_REVOKED") {
		t.Fatalf("pay after the revocation: got %v, want FailedPrecondition ACCEPTANCE_REVOKED", err)
	}
}
