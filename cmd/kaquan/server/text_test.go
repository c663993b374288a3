package server_test

import (
	"context"
	"fmt"
	"testing"

	"connectrpc.com/connect"
	"github.com/kaquan/kaquan/messages"
)

// TestServer_ControlCharactersRefused: names, template titles, gift messages and notification ids
// carrying control characters (escape sequences for the terminals, logs and merchant screens that
// show them) are refused as invalid input over JSON and gRPC, and so are empty names; nothing is
// stored.
func TestServer_ControlCharactersRefused(t *testing.T) {
	s := startServer(t)
	f := setupFlow(t, s, true)
	ctx := context.Background()
	svc := "kaquan.v1.KaquanService/"
	// Over JSON, as curl sends them: \u escapes inside JSON strings.
	for _, name := range []string{``, `Tea\u0000House`, `\u001b[2J\u001b]0;owned\u0007`, `Tea\u007f`, `\u009b31mTea`, `Tea\nHouse`} {
		code, out := s.postJSON(t, adminToken, svc+"CreateParty", fmt.Sprintf(`{"id": "300", "kind": "PARTY_KIND_MERCHANT", "name": "%s"}`, name))
		if code != 400 || out["code"] != "invalid_argument" {
			t.Errorf("name %q over JSON: %d %v, want 400 invalid_argument", name, code, out)
		}
	}
	if _, err := f.admin.GetParty(ctx, connect.NewRequest(&messages.GetPartyRequest{Id: 300})); connect.CodeOf(err) != connect.CodeNotFound {
		t.Errorf("party 300 after refused creations: %v, want not found", err)
	}
	// Over gRPC, with the typed reason.
	refused := func(what string, err error) {
		t.Helper()
		if connect.CodeOf(err) != connect.CodeInvalidArgument || errorReason(err) != "invalid_argument" {
			t.Errorf("%s: got %v (reason %q), want InvalidArgument (invalid_argument)", what, err, errorReason(err))
		}
	}
	_, err := f.admin.CreateParty(ctx, connect.NewRequest(&messages.CreatePartyRequest{Id: 301, Kind: messages.PartyKind_PARTY_KIND_USER, Name: "Ann\x1b[8m"}))
	refused("name with ESC over gRPC", err)
	_, err = f.admin.CreateParty(ctx, connect.NewRequest(&messages.CreatePartyRequest{Id: 301, Kind: messages.PartyKind_PARTY_KIND_USER}))
	refused("empty name over gRPC", err)
	tpl := &messages.Template{Id: 8, MerchantId: 1, Kind: messages.TemplateKind_TEMPLATE_KIND_CASH, ReduceAmount: 100,
		StockTotal: 10, PerUserLimit: 1, ValidDays: 1, Title: "5 off\x1b[2K\rFREE"}
	_, err = f.merchant.CreateTemplate(ctx, connect.NewRequest(&messages.CreateTemplateRequest{Template: tpl}))
	refused("template title with ESC and CR", err)
	if _, err := f.merchant.GetTemplate(ctx, connect.NewRequest(&messages.GetTemplateRequest{Id: 8})); connect.CodeOf(err) != connect.CodeNotFound {
		t.Errorf("template 8 after a refused creation: %v, want not found", err)
	}
	r, err := f.user.Claim(ctx, connect.NewRequest(&messages.ClaimRequest{Template: 7, User: 100}))
	card := ok(t, r, err)
	_, err = f.user.Gift(ctx, connect.NewRequest(&messages.GiftRequest{From: 100, To: 101, Card: card.Id, Message: "hi\x1b[2J"}))
	refused("gift message with ESC", err)
	_, err = s.client("", true).ConfirmUse(ctx, connect.NewRequest(&messages.ConfirmUseRequest{Id: "n\x1b[2J", CardCode: card.Code, Merchant: 1, Time: 1, Signature: "00"}))
	refused("notification id with ESC", err)
	// What stays allowed: any printable Unicode, and line breaks in a greeting.
	must(t)(f.admin.CreateParty(ctx, connect.NewRequest(&messages.CreatePartyRequest{Id: 302, Kind: messages.PartyKind_PARTY_KIND_MERCHANT, Name: "茶馆 Café"})))
	r, err = f.user.Gift(ctx, connect.NewRequest(&messages.GiftRequest{From: 100, To: 101, Card: card.Id, Message: "生日快乐\nAnn"}))
	if got := ok(t, r, err); got.OwnerId != 101 {
		t.Errorf("gift with a two-line message: %v", got)
	}
}
