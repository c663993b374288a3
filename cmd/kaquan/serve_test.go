package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/messages/messagesconnect"
)

const testAdminToken = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"

// TestServe_GracefulShutdown runs `kaquan serve`, keeps 16 clients paying, stops the server (as
// SIGTERM does) while payments are under way, and checks on the data folder that every payment the
// server acknowledged is complete and the audit holds.
func TestServe_GracefulShutdown(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	addr, stop := startServe(t, data)
	c := adminClient(http.DefaultClient, "http://"+addr, connect.WithProtoJSON())
	bg := context.Background()
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.CreateParty(bg, connect.NewRequest(&messages.CreatePartyRequest{Id: 1, Kind: messages.PartyKind_PARTY_KIND_MERCHANT, Name: "m"})))
	must(c.CreateAccount(bg, connect.NewRequest(&messages.CreateAccountRequest{Id: 10, Owner: 1})))
	const clients = 16
	for u := range uint64(clients) {
		must(c.CreateParty(bg, connect.NewRequest(&messages.CreatePartyRequest{Id: 100 + u, Kind: messages.PartyKind_PARTY_KIND_USER, Name: "u"})))
		must(c.CreateAccount(bg, connect.NewRequest(&messages.CreateAccountRequest{Id: 1000 + u, Owner: 100 + u})))
		must(c.Deposit(bg, connect.NewRequest(&messages.TransferRequest{Account: 1000 + u, Amount: 1 << 40, Key: "d"})))
	}
	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	for u := range uint64(clients) {
		wg.Go(func() {
			for i := 0; ; i++ {
				code, err := c.IssuePaymentCode(bg, connect.NewRequest(&messages.IssuePaymentCodeRequest{User: 100 + u, Account: 1000 + u}))
				if err != nil {
					return // the server is going away
				}
				key := fmt.Sprintf("u%d-%d", u, i)
				if _, err := c.Pay(bg, connect.NewRequest(&messages.PayRequest{Merchant: 1, MerchantAccount: 10, Code: code.Msg.Code, Amount: 100, Key: key})); err != nil {
					return
				}
				mu.Lock()
				acked = append(acked, kaquan.PaymentKey(1, key))
				mu.Unlock()
			}
		})
	}
	time.Sleep(500 * time.Millisecond)
	if code := stop(); code != ExitOK { // what SIGTERM does
		t.Fatalf("serve exit %d", code)
	}
	wg.Wait()
	if len(acked) < 10 {
		t.Fatalf("only %d payments acknowledged", len(acked))
	}
	e, err := kaquan.Open(data, kaquan.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	r, err := e.Audit(bg)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.CheckAcks(bg, r, acked); err != nil {
		t.Fatal(err)
	}
	if !r.OK() {
		t.Fatalf("after shutdown: %s %v", r, r.Problems)
	}
	t.Logf("%d payments acknowledged before the shutdown, all complete: %s", len(acked), r)
}

// adminClient calls the server at url through hc with the admin token.
func adminClient(hc *http.Client, url string, opts ...connect.ClientOption) messagesconnect.KaquanServiceClient {
	auth := connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			req.Header().Set("Authorization", "Bearer "+testAdminToken)
			return next(ctx, req)
		}
	})
	return messagesconnect.NewKaquanServiceClient(hc, url, append(opts, connect.WithInterceptors(auth))...)
}

// startServe runs `kaquan serve` (with extra flags) on a loopback port in this process and returns
// its address; stop ends it as SIGTERM does and returns its exit code (also called at the test's
// end).
func startServe(t *testing.T, data string, extra ...string) (addr string, stop func() int) {
	t.Helper()
	lines, stop := startServeLines(t, data, 1, extra...)
	return strings.TrimPrefix(lines[0], "kaquan serving on "), stop
}

// startServeLines is startServe returning the first n lines serve prints (trimmed).
func startServeLines(t *testing.T, data string, n int, extra ...string) (lines []string, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, outW := io.Pipe()
	done := make(chan int, 1)
	go func() {
		args := append([]string{"serve", "--data", data, "--listen", "127.0.0.1:0", "--admin-token", testAdminToken}, extra...)
		done <- Main{Stdout: outW, Stderr: io.Discard}.Run(ctx, args)
		outW.Close()
	}()
	r := bufio.NewReader(out)
	for range n {
		line, err := r.ReadString('\n')
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		lines = append(lines, strings.TrimSpace(line))
	}
	go io.Copy(io.Discard, r)
	var once sync.Once
	code := ExitFailure
	stop = func() int {
		once.Do(func() {
			cancel()
			select {
			case code = <-done:
			case <-time.After(30 * time.Second):
				t.Error("serve did not stop")
			}
		})
		return code
	}
	t.Cleanup(func() { stop() })
	return lines, stop
}

// TestBench_Target runs the payments scenario through the network API of a running server.
func TestBench_Target(t *testing.T) {
	addr, _ := startServe(t, filepath.Join(t.TempDir(), "data"))
	url := "http://" + addr
	var stdout, stderr strings.Builder
	code := Main{Stdout: &stdout, Stderr: &stderr}.Run(context.Background(), []string{"bench", "--target", url, "--token", testAdminToken,
		"--duration", "1s", "--concurrency", "8", "--accounts", "50", "--merchants", "2", "--cards-per-user", "1", "--json"})
	if code != ExitOK {
		t.Fatalf("exit %d: %s\n%s", code, stderr.String(), stdout.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	res := map[string]any{}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatal(err)
	}
	if res["target"] != url || res["audit_ok"] != true || res["ops"].(float64) < 10 || res["errors"].(float64) != 0 {
		t.Errorf("target %v (want %s), audit_ok %v, ops %v, errors %v %v", res["target"], url, res["audit_ok"], res["ops"], res["errors"], res["errors_by_kind"])
	}
	if _, ok := res["deliveries_per_op"]; ok { // the engine is in another process: only its server knows
		t.Errorf("deliveries_per_op reported for a remote engine: %v", res["deliveries_per_op"])
	}
}

// TestServe_TLS serves HTTPS with --tls-cert and --tls-key, and answers a client that trusts the
// certificate (HTTP/2 over TLS, as gRPC needs).
func TestServe_TLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	pool := writeSelfSigned(t, certFile, keyFile)
	addr, _ := startServe(t, filepath.Join(dir, "data"), "--tls-cert", certFile, "--tls-key", keyFile)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	c := adminClient(hc, "https://"+addr, connect.WithGRPC())
	r, err := c.Audit(context.Background(), connect.NewRequest(&messages.AuditRequest{}))
	if err != nil || !r.Msg.Ok {
		t.Fatalf("audit over TLS: %v %v", r, err)
	}
	if res, err := http.Get("http://" + addr + "/metrics"); err == nil && res.StatusCode == http.StatusOK {
		t.Errorf("plain HTTP served on the TLS port")
	}
}

// TestServe_GRPCWithoutTLS answers gRPC over unencrypted HTTP/2 (prior knowledge, as gRPC clients
// speak it without TLS) on the same port as HTTP/1.1.
func TestServe_GRPCWithoutTLS(t *testing.T) {
	addr, _ := startServe(t, filepath.Join(t.TempDir(), "data"))
	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	hc := &http.Client{Transport: &http.Transport{Protocols: &h2c}}
	c := adminClient(hc, "http://"+addr, connect.WithGRPC())
	r, err := c.Audit(context.Background(), connect.NewRequest(&messages.AuditRequest{}))
	if err != nil || !r.Msg.Ok {
		t.Fatalf("gRPC audit without TLS: %v %v", r, err)
	}
	res, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Proto != "HTTP/1.1" {
		t.Errorf("GET /metrics over HTTP/1.1: %s %s", res.Proto, res.Status)
	}
}

// writeSelfSigned writes a certificate for 127.0.0.1 and its key, and returns a pool trusting it.
func writeSelfSigned(t *testing.T, certFile, keyFile string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kaquan test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}
