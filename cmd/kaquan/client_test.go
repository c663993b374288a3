package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestClient_Commands drives the everyday operations through the client subcommands against a
// running `kaquan serve`, as an operator's script would.
func TestClient_Commands(t *testing.T) {
	dir := t.TempDir()
	addr, _ := startServe(t, filepath.Join(dir, "data"))
	server := "http://" + addr
	run := func(token string, args ...string) map[string]any {
		t.Helper()
		var stdout, stderr bytes.Buffer
		args = append(args, "--server", server, "--token", token)
		if code := (Main{Stdout: &stdout, Stderr: &stderr}).Run(context.Background(), args); code != ExitOK {
			t.Fatalf("kaquan %v: exit %d: %s", args, code, stderr.String())
		}
		m := map[string]any{}
		if err := json.Unmarshal(stdout.Bytes(), &m); err != nil {
			t.Fatalf("kaquan %v: %v in %q", args, err, stdout.String())
		}
		return m
	}
	admin := testAdminToken
	run(admin, "create-merchant", "--id", "1", "--name", "Tea House", "--account", "10")
	run(admin, "create-user", "--id", "100", "--name", "Ann", "--account", "1000")
	run(admin, "create-user", "--id", "101", "--name", "Bo", "--account", "1010")
	run(admin, "deposit", "--account", "1000", "--amount", "10000", "--key", "initial")
	merchant := run(admin, "create-token", "--kind", "merchant", "--party", "1")["token"].(string)
	user := run(admin, "create-token", "--kind", "user", "--party", "100")["token"].(string)
	run(merchant, "create-template", "--template", `{"id":"7","merchantId":"1","kind":"TEMPLATE_KIND_CASH","reduceAmount":"500","leastCost":"2000","stockTotal":100,"perUserLimit":5,"validDays":30,"canGift":true,"canShare":true}`)
	card := run(user, "claim", "--template", "7", "--user", "100")["id"].(string)
	qr := filepath.Join(dir, "code.png")
	code := run(user, "payment-code", "--user", "100", "--account", "1000", "--card", card, "--qr", qr)["code"].(string)
	f, err := os.Open(qr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(f); err != nil {
		t.Errorf("QR code file: %v", err)
	}
	f.Close()
	paid := run(merchant, "pay", "--merchant", "1", "--account", "10", "--code", code, "--amount", "3000", "--key", "order-1")
	if p := paid["payment"].(map[string]any); p["charged"] != "2500" || p["state"] != "PAYMENT_STATE_COMPLETED" {
		t.Errorf("pay: %v", paid)
	}
	second := run(user, "claim", "--template", "7", "--user", "100")["id"].(string)
	if g := run(user, "gift", "--from", "100", "--to", "101", "--card", second, "--message", "for you"); g["ownerId"] != "101" {
		t.Errorf("gift: %v", g)
	}
	third := run(user, "claim", "--template", "7", "--user", "100")["id"].(string)
	if s := run(user, "share", "--user", "100", "--card", third); s["state"] != "CARD_STATE_SHARED" {
		t.Errorf("share: %v", s)
	}
	w := run(user, "wallet", "--user", "100")
	if cards, _ := w["cards"].([]any); len(cards) != 1 { // the used card; the gift went, the shared one is in the pool
		t.Errorf("wallet: %v", w)
	}
	// A refused operation exits non-zero with the reason.
	var stderr bytes.Buffer
	if code := (Main{Stdout: io.Discard, Stderr: &stderr}).Run(context.Background(),
		[]string{"claim", "--template", "7", "--user", "101", "--server", server, "--token", user}); code != ExitFailure || !strings.Contains(stderr.String(), "permission_denied") {
		t.Errorf("claim as another user: exit %d, %s", code, stderr.String())
	}
}
