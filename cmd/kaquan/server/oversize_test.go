package server_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/kaquan/kaquan/cmd/kaquan/server"
	"github.com/kaquan/kaquan/messages"
)

// TestServer_OversizeBody: a request over the size limit is answered 413 over plain HTTP (JSON or
// binary protobuf, also when only its decompressed size is over), never 429, which would tell the
// client to retry; Connect, gRPC and gRPC-Web clients still see resource_exhausted. A 429 of a
// limit that does pass with time (payment-code guesses) stays 429.
func TestServer_OversizeBody(t *testing.T) {
	frozen := time.Unix(1_700_000_000, 0) // the guess limit's clock: guesses never age
	s := startServerWith(t, func(o *server.Options) { o.Clock = func() time.Time { return frozen } })
	f := setupFlow(t, s, true)
	ctx := context.Background()
	over := 4 << 20 // the limit is 3 MiB
	post := func(path, contentType string, body []byte, header http.Header) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, s.url+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range header {
			req.Header[k] = v
		}
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("Authorization", "Bearer "+f.userToken)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out struct{ Code string }
		b, _ := io.ReadAll(res.Body)
		_ = json.Unmarshal(b, &out)
		return res.StatusCode, out.Code
	}
	image := bytes.Repeat([]byte{'A'}, over)
	jsonBody := fmt.Appendf(nil, `{"from": "100", "to": "101", "card": "1", "image": "%s"}`, image)
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	_, _ = zw.Write(jsonBody)
	_ = zw.Close()
	gift := "/kaquan.v1.KaquanService/Gift"
	for _, c := range []struct {
		name, path, contentType string
		body                    []byte
		header                  http.Header
	}{
		{"JSON", gift, "application/json", jsonBody, nil},
		{"binary protobuf", gift, "application/proto", bytes.Repeat([]byte{0}, over), nil},
		{"gzipped JSON", gift, "application/json", zipped.Bytes(), http.Header{"Content-Encoding": {"gzip"}}},
		{"health check", "/grpc.health.v1.Health/Check", "application/json", fmt.Appendf(nil, `{"service": "%s"}`, image), nil},
	} {
		if c.name == "gzipped JSON" && len(c.body) >= over {
			t.Fatalf("the gzipped body is %d bytes", len(c.body))
		}
		status, code := post(c.path, c.contentType, c.body, c.header)
		if status != http.StatusRequestEntityTooLarge || code != "resource_exhausted" {
			t.Errorf("%s over the limit: HTTP %d %q, want 413 resource_exhausted", c.name, status, code)
		}
	}
	req := connect.NewRequest(&messages.GiftRequest{From: 100, To: 101, Card: 7 << 32, Image: image})
	for name, c := range map[string]interface {
		Gift(context.Context, *connect.Request[messages.GiftRequest]) (*connect.Response[messages.Card], error)
	}{"Connect": s.client(f.userToken, false), "gRPC": s.client(f.userToken, true), "gRPC-Web": s.grpcWebClient(f.userToken)} {
		if _, err := c.Gift(ctx, req); connect.CodeOf(err) != connect.CodeResourceExhausted {
			t.Errorf("%s client over the limit: %v, want resource_exhausted", name, err)
		}
	}
	// Guessing codes: refused with 429 once the guesses are used up (it passes with time).
	var status int
	for i := range 10 {
		status, _ = s.postJSON(t, f.merchantToken, "kaquan.v1.KaquanService/Pay",
			fmt.Sprintf(`{"merchant": "1", "merchantAccount": "10", "code": "%018d", "amount": "100", "key": "g%d"}`, 777_000+i, i))
	}
	if status != http.StatusTooManyRequests {
		t.Errorf("the 10th guess in a row: HTTP %d, want 429", status)
	}
}
