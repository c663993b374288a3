package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpcreflect"
	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/cmd/kaquan/server"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/messages/messagesconnect"
)

const adminToken = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

// testServer is a real server on a loopback port, over a real engine in a temporary folder.
type testServer struct {
	e    *kaquan.Engine
	url  string
	http *http.Client // HTTP/2 without TLS (h2c), as gRPC needs
}

func startServer(t *testing.T) *testServer { t.Helper(); return startServerWith(t, nil) }

// startServerWith is startServer with the server's options changed by set.
func startServerWith(t *testing.T, set func(*server.Options)) *testServer {
	t.Helper()
	e, err := kaquan.Open(t.TempDir(), kaquan.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	opts := server.DefaultOptions()
	opts.AdminToken = adminToken
	if set != nil {
		set(&opts)
	}
	srv, err := server.New(e, opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var protocols http.Protocols // HTTP/1.1 and, without TLS, HTTP/2 with prior knowledge (gRPC)
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	hs := &http.Server{Handler: srv.Handler(), Protocols: &protocols}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() {
		_ = hs.Close()
		if err := e.Close(); err != nil {
			t.Error(err)
		}
	})
	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	h2 := &http.Client{Transport: &http.Transport{Protocols: &h2c}}
	return &testServer{e: e, url: "http://" + ln.Addr().String(), http: h2}
}

// client is a gRPC (grpc=true) or Connect-JSON client acting with token.
func (s *testServer) client(token string, grpc bool) messagesconnect.KaquanServiceClient {
	opts := []connect.ClientOption{connect.WithInterceptors(bearer(token))}
	if grpc {
		opts = append(opts, connect.WithGRPC())
	} else {
		opts = append(opts, connect.WithProtoJSON())
	}
	return messagesconnect.NewKaquanServiceClient(s.http, s.url, opts...)
}

// grpcWebClient is a gRPC-Web client (what browsers use) acting with token, over HTTP/1.1.
func (s *testServer) grpcWebClient(token string) messagesconnect.KaquanServiceClient {
	return messagesconnect.NewKaquanServiceClient(http.DefaultClient, s.url, connect.WithGRPCWeb(), connect.WithInterceptors(bearer(token)))
}

func bearer(token string) connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			if token != "" {
				req.Header().Set("Authorization", "Bearer "+token)
			}
			return next(ctx, req)
		}
	}
}

// ok returns a response's message, failing the test on an error.
func ok[T any](t *testing.T, r *connect.Response[T], err error) *T {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	return r.Msg
}

// must fails the test on an error.
func must(t *testing.T) func(any, error) {
	return func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
}

// flow is the seed world over the API: merchant 1 (account 10) with template 7, users 100 and 101
// (accounts 1000, 1010), each with a token.
type flow struct {
	admin, merchant, user, other messagesconnect.KaquanServiceClient
	merchantToken, userToken     string
}

func setupFlow(t *testing.T, s *testServer, grpc bool) flow {
	t.Helper()
	ctx := context.Background()
	admin := s.client(adminToken, grpc)
	must(t)(admin.CreateParty(ctx, connect.NewRequest(&messages.CreatePartyRequest{Id: 1, Kind: messages.PartyKind_PARTY_KIND_MERCHANT, Name: "Tea House"})))
	for _, u := range []uint64{100, 101} {
		must(t)(admin.CreateParty(ctx, connect.NewRequest(&messages.CreatePartyRequest{Id: u, Kind: messages.PartyKind_PARTY_KIND_USER, Name: "user"})))
		must(t)(admin.CreateAccount(ctx, connect.NewRequest(&messages.CreateAccountRequest{Id: u * 10, Owner: u})))
		must(t)(admin.Deposit(ctx, connect.NewRequest(&messages.TransferRequest{Account: u * 10, Amount: 10_000, Key: "initial"})))
	}
	must(t)(admin.CreateAccount(ctx, connect.NewRequest(&messages.CreateAccountRequest{Id: 10, Owner: 1})))
	tok := func(kind messages.PrincipalKind, id uint64) string {
		r, err := admin.CreateToken(ctx, connect.NewRequest(&messages.CreateTokenRequest{Kind: kind, PartyId: id}))
		return ok(t, r, err).Token
	}
	f := flow{admin: admin, merchantToken: tok(messages.PrincipalKind_PRINCIPAL_KIND_MERCHANT, 1), userToken: tok(messages.PrincipalKind_PRINCIPAL_KIND_USER, 100)}
	f.merchant, f.user = s.client(f.merchantToken, grpc), s.client(f.userToken, grpc)
	f.other = s.client(tok(messages.PrincipalKind_PRINCIPAL_KIND_USER, 101), grpc)
	must(t)(f.merchant.CreateTemplate(ctx, connect.NewRequest(&messages.CreateTemplateRequest{Template: &messages.Template{Id: 7, MerchantId: 1,
		Kind: messages.TemplateKind_TEMPLATE_KIND_CASH, ReduceAmount: 500, LeastCost: 2000, StockTotal: 100, PerUserLimit: 5, ValidDays: 30,
		CanGift: true, CanShare: true}})))
	return f
}

// payFlow runs the card-validated payment seed flow through the API and checks its money.
func payFlow(t *testing.T, f flow) {
	ctx := context.Background()
	r1, err := f.user.Claim(ctx, connect.NewRequest(&messages.ClaimRequest{Template: 7, User: 100}))
	card := ok(t, r1, err)
	r2, err := f.user.IssuePaymentCode(ctx, connect.NewRequest(&messages.IssuePaymentCodeRequest{User: 100, Account: 1000, Card: card.Id}))
	code := ok(t, r2, err)
	r3, err := f.merchant.Pay(ctx, connect.NewRequest(&messages.PayRequest{Merchant: 1, MerchantAccount: 10, Code: code.Code, Amount: 3000, Key: "order-1"}))
	paid := ok(t, r3, err)
	if paid.Payment.State != messages.PaymentState_PAYMENT_STATE_COMPLETED || paid.Payment.Discount != 500 || paid.Payment.Charged != 2500 || paid.Duplicate {
		t.Fatalf("payment: %v", paid)
	}
	r4, err := f.merchant.Pay(ctx, connect.NewRequest(&messages.PayRequest{Merchant: 1, MerchantAccount: 10, Code: code.Code, Amount: 3000, Key: "order-1"}))
	if again := ok(t, r4, err); !again.Duplicate {
		t.Errorf("retry: %v", again)
	}
	r5, err := f.user.GetAccount(ctx, connect.NewRequest(&messages.GetAccountRequest{Id: 1000}))
	if a := ok(t, r5, err); a.Balance != 7500 {
		t.Errorf("payer balance %d, want 7500", a.Balance)
	}
	r6, err := f.merchant.Refund(ctx, connect.NewRequest(&messages.RefundRequest{Merchant: 1, Key: "order-1"}))
	if ref := ok(t, r6, err); ref.Payment.State != messages.PaymentState_PAYMENT_STATE_REFUNDED {
		t.Errorf("refund: %v", ref)
	}
	r7, err := f.admin.Audit(ctx, connect.NewRequest(&messages.AuditRequest{}))
	if a := ok(t, r7, err); !a.Ok {
		t.Errorf("audit: %s %v", a.Summary, a.Problems)
	}
}

func TestServer_PaymentFlowGRPC(t *testing.T) {
	s := startServer(t)
	payFlow(t, setupFlow(t, s, true))
}

func TestServer_PaymentFlowConnectJSON(t *testing.T) {
	s := startServer(t)
	payFlow(t, setupFlow(t, s, false))
}

func TestServer_PaymentFlowGRPCWeb(t *testing.T) {
	s := startServer(t)
	f := setupFlow(t, s, true)
	f.admin, f.merchant, f.user = s.grpcWebClient(adminToken), s.grpcWebClient(f.merchantToken), s.grpcWebClient(f.userToken)
	payFlow(t, f)
}

// token creates a token for a party.
func (s *testServer) token(t *testing.T, kind messages.PrincipalKind, party uint64) string {
	t.Helper()
	r, err := s.client(adminToken, true).CreateToken(context.Background(), connect.NewRequest(&messages.CreateTokenRequest{Kind: kind, PartyId: party}))
	return ok(t, r, err).Token
}

// postJSON is what curl does: a POST of JSON to /kaquan.v1.KaquanService/<Method>.
func (s *testServer) postJSON(t *testing.T, token, method, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.url+"/"+method, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out := map[string]any{}
	b, _ := io.ReadAll(res.Body)
	_ = json.Unmarshal(b, &out)
	return res.StatusCode, out
}

// TestServer_PlainHTTPJSON drives the gifting and pool flows with plain HTTP/1.1 POSTs of JSON, as
// curl would, and checks the health endpoint both ways.
func TestServer_PlainHTTPJSON(t *testing.T) {
	s := startServer(t)
	f := setupFlow(t, s, false)
	svc := "kaquan.v1.KaquanService/"
	code, out := s.postJSON(t, f.userToken, svc+"Claim", `{"template": "7", "user": "100"}`)
	if code != 200 {
		t.Fatalf("claim: %d %v", code, out)
	}
	card := out["id"].(string)
	png1x1 := "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
	code, out = s.postJSON(t, f.userToken, svc+"Gift", fmt.Sprintf(`{"from": "100", "to": "101", "card": %q, "image": %q, "message": "生日快乐"}`, card, png1x1))
	if code != 200 || out["ownerId"] != "101" {
		t.Fatalf("gift: %d %v", code, out)
	}
	// The library over JSON, then its image over plain GET with a long cache lifetime.
	_, lib := s.postJSON(t, adminToken, svc+"GiftLibrary", fmt.Sprintf(`{"card": %q}`, card))
	recs, _ := lib["records"].([]any)
	if len(recs) != 1 {
		t.Fatalf("library: %v", lib)
	}
	imageID := recs[0].(map[string]any)["imageId"].(string)
	res, err := http.Get(s.url + "/images/" + imageID)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "image/png" || !strings.Contains(res.Header.Get("Cache-Control"), "max-age=31536000") || len(body) == 0 {
		t.Errorf("image: %d %v %d bytes", res.StatusCode, res.Header, len(body))
	}
	if res, _ := http.Get(s.url + "/images/" + strings.Repeat("0", 64)); res.StatusCode != 404 {
		t.Errorf("unknown image: %d", res.StatusCode)
	}
	// Pools: 101 shares the card, 100 (a contact) sees and claims it.
	if code, out := s.postJSON(t, adminToken, svc+"AddContact", `{"a": "100", "b": "101"}`); code != 200 {
		t.Fatalf("contact: %d %v", code, out)
	}
	code, out = s.postJSON(t, adminToken, svc+"Share", fmt.Sprintf(`{"user": "101", "card": %q}`, card))
	if code != 200 || out["state"] != "CARD_STATE_SHARED" {
		t.Fatalf("share: %d %v", code, out)
	}
	code, out = s.postJSON(t, f.userToken, svc+"ContactPools", `{"viewer": "100", "limit": 10}`)
	if cards, _ := out["cards"].([]any); code != 200 || len(cards) != 1 {
		t.Fatalf("pools: %d %v", code, out)
	}
	code, out = s.postJSON(t, f.userToken, svc+"ClaimShared", fmt.Sprintf(`{"claimer": "100", "sharer": "101", "card": %q}`, card))
	if code != 200 || out["sharedBy"] != "101" {
		t.Fatalf("claim shared: %d %v", code, out)
	}
	// The claimed card is used elsewhere: its merchant's server confirms, signed; 101 is rewarded.
	// (No template names a reward here, so the notification names one.)
	if code, out := s.postJSON(t, f.merchantToken, svc+"SetNotifySecret", `{"merchant": "1", "secret": "c2VjcmV0LXNlY3JldC1zZWNyZXQ="}`); code != 200 {
		t.Fatalf("secret: %d %v", code, out)
	}
	_, claimed := s.postJSON(t, f.userToken, svc+"Wallet", `{"user": "100"}`)
	var cardCode string
	for _, c := range claimed["cards"].([]any) {
		if c.(map[string]any)["id"] == card {
			cardCode = c.(map[string]any)["code"].(string)
		}
	}
	n := kaquan.UseNotification{ID: "n-1", CardCode: cardCode, Merchant: 1, Time: time.Now().Unix(), RewardTemplate: 7}
	n.Signature = n.Sign([]byte("secret-secret-secret"))
	note := fmt.Sprintf(`{"id": "n-1", "cardCode": %q, "merchant": "1", "time": "%d", "rewardTemplate": "7", "signature": %q}`, cardCode, n.Time, n.Signature)
	code, out = s.postJSON(t, "", svc+"ConfirmUse", note)
	if reward, _ := out["reward"].(map[string]any); code != 200 || reward["state"] != "REWARD_STATE_GRANTED" || reward["sharer"] != "101" {
		t.Fatalf("confirm: %d %v", code, out)
	}
	if code, out := s.postJSON(t, "", svc+"ConfirmUse", note); code != 200 || out["duplicate"] != true {
		t.Errorf("the same notification again: %d %v", code, out)
	}
	otherToken := s.token(t, messages.PrincipalKind_PRINCIPAL_KIND_USER, 101)
	if code, out := s.postJSON(t, otherToken, svc+"Rewards", `{"sharer": "101"}`); code != 200 || len(out["rewards"].([]any)) != 1 {
		t.Errorf("rewards: %d %v", code, out)
	}
	// Metrics: operations by outcome, and the group commit.
	res, err = http.Get(s.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{`kaquan_requests_total{operation="Gift",outcome="ok"} 1`, "kaquan_commits_total", "kaquan_apply_lag_batches", "kaquan_apply_lag_entries", "kaquan_applies_total", "kaquan_request_seconds_bucket", "kaquan_active_entities", "kaquan_deliveries_total", "kaquan_activations_total", "kaquan_store_reads_total"} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// Health, for HTTP: a POST of JSON {}.
	if code, out := s.postJSON(t, "", "grpc.health.v1.Health/Check", `{}`); code != 200 || out["status"] != "SERVING" {
		t.Errorf("health over JSON: %d %v", code, out)
	}
}

// TestServer_Errors: statuses and typed reasons for bad input, unknown fields, oversize requests
// and refused tokens.
func TestServer_Errors(t *testing.T) {
	s := startServer(t)
	f := setupFlow(t, s, true)
	ctx := context.Background()
	reasonOf := errorReason
	_, err := f.admin.Deposit(ctx, connect.NewRequest(&messages.TransferRequest{Account: 1000, Amount: -5, Key: "neg"}))
	if connect.CodeOf(err) != connect.CodeInvalidArgument || reasonOf(err) != "invalid_argument" {
		t.Errorf("negative deposit: %v (%s)", err, reasonOf(err))
	}
	_, err = f.merchant.Pay(ctx, connect.NewRequest(&messages.PayRequest{Merchant: 1, MerchantAccount: 10, Code: "123456789012345678", Amount: 100, Key: "k"}))
	if connect.CodeOf(err) != connect.CodeNotFound || reasonOf(err) != "code_unknown" {
		t.Errorf("unknown code: %v (%s)", err, reasonOf(err))
	}
	_, err = f.user.Claim(ctx, connect.NewRequest(&messages.ClaimRequest{Template: 999, User: 100}))
	if connect.CodeOf(err) != connect.CodeNotFound {
		t.Errorf("unknown template: %v", err)
	}
	// Unknown fields in JSON are refused.
	if code, out := s.postJSON(t, f.userToken, "kaquan.v1.KaquanService/Claim", `{"template": "7", "user": "100", "bogus": 1}`); code != 400 {
		t.Errorf("unknown field: %d %v", code, out)
	}
	if code, _ := s.postJSON(t, f.userToken, "kaquan.v1.KaquanService/Claim", `{"template": `); code != 400 {
		t.Errorf("malformed JSON: %d", code)
	}
	// A request over the size limit.
	big := bytes.Repeat([]byte{'x'}, 4<<20)
	_, err = f.user.Gift(ctx, connect.NewRequest(&messages.GiftRequest{From: 100, To: 101, Card: 7 << 32, Image: big}))
	if connect.CodeOf(err) != connect.CodeResourceExhausted {
		t.Errorf("oversize request: %v", err)
	}
	// Tokens: none, malformed, forged, revoked.
	for name, tok := range map[string]string{"none": "", "malformed": "abc", "forged": strings.Repeat("ab", 32)} {
		_, err := s.client(tok, true).Wallet(ctx, connect.NewRequest(&messages.WalletRequest{User: 100}))
		if connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Errorf("%s token: %v", name, err)
		}
	}
	r, err := f.admin.CreateToken(ctx, connect.NewRequest(&messages.CreateTokenRequest{Kind: messages.PrincipalKind_PRINCIPAL_KIND_USER, PartyId: 100}))
	tok := ok(t, r, err)
	must(t)(s.client(tok.Token, true).Wallet(ctx, connect.NewRequest(&messages.WalletRequest{User: 100})))
	must(t)(f.admin.RevokeToken(ctx, connect.NewRequest(&messages.RevokeTokenRequest{TokenId: tok.TokenId})))
	if _, err := s.client(tok.Token, true).Wallet(ctx, connect.NewRequest(&messages.WalletRequest{User: 100})); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("revoked token: %v", err)
	}
	r, err = f.admin.CreateToken(ctx, connect.NewRequest(&messages.CreateTokenRequest{Kind: messages.PrincipalKind_PRINCIPAL_KIND_USER, PartyId: 100, TtlSeconds: 1}))
	short := ok(t, r, err)
	must(t)(s.client(short.Token, true).Wallet(ctx, connect.NewRequest(&messages.WalletRequest{User: 100})))
	time.Sleep(1100 * time.Millisecond)
	if _, err := s.client(short.Token, true).Wallet(ctx, connect.NewRequest(&messages.WalletRequest{User: 100})); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("expired token: %v", err)
	}
}

// TestServer_HealthGRPC asks the health service over gRPC itself: one empty message frame on
// HTTP/2, answered SERVING with grpc-status 0.
func TestServer_HealthGRPC(t *testing.T) {
	s := startServer(t)
	req, err := http.NewRequest(http.MethodPost, s.url+"/grpc.health.v1.Health/Check", bytes.NewReader([]byte{0, 0, 0, 0, 0}))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("TE", "trailers")
	res, err := s.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	// A frame: not compressed, length 2, then field 1 (status) = 1 (SERVING).
	if got := res.Trailer.Get("Grpc-Status"); got != "0" || !bytes.Equal(body, []byte{0, 0, 0, 0, 2, 0x08, 0x01}) {
		t.Errorf("health over gRPC: status %q, body %x", got, body)
	}
}

// TestServer_CodeBruteForce: a merchant guessing payment codes is stopped after 5 failures in any
// one second, on the server's clock (a test clock here: nothing depends on how fast the loop runs).
func TestServer_CodeBruteForce(t *testing.T) {
	var clock testClock
	clock.set(time.Unix(1_700_000_000, 0))
	s := startServerWith(t, func(o *server.Options) { o.Clock = clock.now })
	f := setupFlow(t, s, true)
	ctx := context.Background()
	guess := 0
	guesses := func(n int) (notFound, exhausted int) {
		t.Helper()
		for range n {
			guess++
			_, err := f.merchant.Pay(ctx, connect.NewRequest(&messages.PayRequest{Merchant: 1, MerchantAccount: 10,
				Code: fmt.Sprintf("%018d", 555_000+guess), Amount: 100, Key: fmt.Sprint("guess-", guess)}))
			switch connect.CodeOf(err) {
			case connect.CodeResourceExhausted:
				exhausted++
			case connect.CodeNotFound:
				notFound++
			default:
				t.Fatalf("guess %d: %v", guess, err)
			}
		}
		return notFound, exhausted
	}
	for _, step := range []struct {
		after   time.Duration
		want, n int
	}{
		{0, 5, 20},                     // five looked up, then refused
		{999 * time.Millisecond, 0, 5}, // still within the second of the first five
		{time.Millisecond, 5, 10},      // a second after them: five more, not ten
		{500 * time.Millisecond, 0, 5},
	} {
		clock.add(step.after)
		if notFound, exhausted := guesses(step.n); notFound != step.want || exhausted != step.n-step.want {
			t.Errorf("%d guesses %s later: %d looked up, %d refused; want %d looked up", step.n, step.after, notFound, exhausted, step.want)
		}
	}
	// Another merchant is not slowed by the first one's guessing.
	rp, err := f.admin.CreateParty(ctx, connect.NewRequest(&messages.CreatePartyRequest{Id: 2, Kind: messages.PartyKind_PARTY_KIND_MERCHANT, Name: "b"}))
	ok(t, rp, err)
	_, err = f.admin.Pay(ctx, connect.NewRequest(&messages.PayRequest{Merchant: 2, MerchantAccount: 10, Code: "000000000000000001", Amount: 1, Key: "x"}))
	if connect.CodeOf(err) == connect.CodeResourceExhausted {
		t.Errorf("merchant 2 limited by merchant 1's guesses")
	}
}

// testClock is a clock tests move by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) set(t time.Time)     { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }
func (c *testClock) add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// TestServer_PaymentCodeDisplay: the owner gets the code as a QR code and a Code 128 barcode
// while it can be paid with; once used or expired, 410 Gone; nobody else learns anything.
func TestServer_PaymentCodeDisplay(t *testing.T) {
	var clock testClock
	clock.set(time.Now())
	s := startServerWith(t, func(o *server.Options) { o.Clock = clock.now })
	f := setupFlow(t, s, true)
	ctx := context.Background()
	issue := func() string {
		r, err := f.user.IssuePaymentCode(ctx, connect.NewRequest(&messages.IssuePaymentCodeRequest{User: 100, Account: 1000}))
		return ok(t, r, err).Code
	}
	get := func(token, path string) (*http.Response, []byte) {
		req, _ := http.NewRequest(http.MethodGet, s.url+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, b
	}
	formats := []string{"qr.png", "barcode.png"}
	code := issue()
	for _, format := range formats {
		res, b := get(f.userToken, "/payment-codes/"+code+"/"+format)
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != "image/png" || res.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("%s: %d %v", format, res.StatusCode, res.Header)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil || img.Bounds().Dx() < 100 {
			t.Errorf("%s: %v %v", format, err, img)
		}
		if res, _ := get(f.merchantToken, "/payment-codes/"+code+"/"+format); res.StatusCode != 404 {
			t.Errorf("%s for a stranger: %d", format, res.StatusCode)
		}
		if res, _ := get("", "/payment-codes/"+code+"/"+format); res.StatusCode != 404 {
			t.Errorf("%s without a token: %d", format, res.StatusCode)
		}
	}
	// Used: the merchant took it.
	must(t)(f.merchant.Pay(ctx, connect.NewRequest(&messages.PayRequest{Merchant: 1, MerchantAccount: 10, Code: code, Amount: 100, Key: "shown"})))
	// Expired: another code, a minute and a second later on the server's clock (the TTL is 60 s).
	stale := issue()
	live := issue()
	for _, format := range formats {
		if res, _ := get(f.userToken, "/payment-codes/"+code+"/"+format); res.StatusCode != http.StatusGone || res.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s of a used code for its owner: %d %v, want 410", format, res.StatusCode, res.Header)
		}
		if res, _ := get(f.merchantToken, "/payment-codes/"+code+"/"+format); res.StatusCode != 404 {
			t.Errorf("%s of a used code for a stranger: %d, want 404", format, res.StatusCode)
		}
		if res, _ := get(f.userToken, "/payment-codes/"+live+"/"+format); res.StatusCode != 200 {
			t.Errorf("%s of a live code: %d", format, res.StatusCode)
		}
	}
	// The engine stamped the code with its own (real) clock: a minute and a second after now, however
	// long the setup took on a loaded machine.
	clock.set(time.Now().Add(61 * time.Second))
	for _, format := range formats {
		if res, _ := get(f.userToken, "/payment-codes/"+stale+"/"+format); res.StatusCode != http.StatusGone {
			t.Errorf("%s of an expired code for its owner: %d, want 410", format, res.StatusCode)
		}
		if res, _ := get(adminToken, "/payment-codes/"+stale+"/"+format); res.StatusCode != http.StatusGone {
			t.Errorf("%s of an expired code for the admin: %d, want 410", format, res.StatusCode)
		}
	}
}

// TestServer_Reflection lists the services as grpcurl does, over gRPC.
func TestServer_Reflection(t *testing.T) {
	s := startServer(t)
	stream := grpcreflect.NewClient(s.http, s.url, connect.WithGRPC()).NewStream(context.Background())
	names, err := stream.ListServices()
	if err != nil {
		t.Fatal(err)
	}
	list := fmt.Sprint(names)
	for _, want := range []string{"kaquan.v1.KaquanService", "grpc.health.v1.Health"} {
		if !strings.Contains(list, want) {
			t.Errorf("services %s lack %s", list, want)
		}
	}
	files, err := stream.FileContainingSymbol("kaquan.v1.KaquanService")
	if err != nil || len(files) == 0 {
		t.Errorf("descriptor of the service: %v, %d files", err, len(files))
	}
	_, _ = stream.Close()
}

// TestServer_RevokedAtOnce: a token used (and so cached) a moment ago is refused as soon as its
// revocation is acknowledged.
func TestServer_RevokedAtOnce(t *testing.T) {
	s := startServer(t)
	f := setupFlow(t, s, true)
	ctx := context.Background()
	for range 20 {
		r, err := f.admin.CreateToken(ctx, connect.NewRequest(&messages.CreateTokenRequest{Kind: messages.PrincipalKind_PRINCIPAL_KIND_USER, PartyId: 100}))
		tok := ok(t, r, err)
		c := s.client(tok.Token, true)
		must(t)(c.Wallet(ctx, connect.NewRequest(&messages.WalletRequest{User: 100})))
		done := make(chan struct{})
		go func() { // requests racing the revocation
			defer close(done)
			for range 10 {
				_, _ = c.Wallet(ctx, connect.NewRequest(&messages.WalletRequest{User: 100}))
			}
		}()
		must(t)(f.admin.RevokeToken(ctx, connect.NewRequest(&messages.RevokeTokenRequest{TokenId: tok.TokenId})))
		<-done
		if _, err := c.Wallet(ctx, connect.NewRequest(&messages.WalletRequest{User: 100})); connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Fatalf("right after its revocation: %v", err)
		}
	}
}
