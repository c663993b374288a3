package server_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
)

// TestServer_HealthJSON: the health check over JSON answers the status by its grpc.health.v1
// name, SERVING, the string probes compare with; gRPC, gRPC-Web and Connect's binary protocol
// answer the same status.
func TestServer_HealthJSON(t *testing.T) {
	s := startServer(t)
	check := func(body string) (int, string) {
		t.Helper()
		res, err := http.Post(s.url+"/grpc.health.v1.Health/Check", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	for _, body := range []string{`{}`, `{"service": "kaquan.v1.KaquanService"}`} {
		if code, got := check(body); code != 200 || got != `{"status":"SERVING"}` {
			t.Errorf("health %s over JSON: %d %s, want 200 {\"status\":\"SERVING\"}", body, code, got)
		}
	}
	if code, got := check(`{"service": "no.such.Service"}`); code != 404 || !strings.Contains(got, `"not_found"`) {
		t.Errorf("health of an unknown service: %d %s, want 404 not_found", code, got)
	}
	for name, opts := range map[string][]connect.ClientOption{
		"gRPC": {connect.WithGRPC()}, "gRPC-Web": {connect.WithGRPCWeb()}, "Connect": nil,
	} {
		res, err := grpchealth.NewClient(s.http, s.url, opts...).Check(context.Background(), &grpchealth.CheckRequest{})
		if err != nil || res.Status != grpchealth.StatusServing {
			t.Errorf("health over %s: %v, %v; want SERVING", name, res, err)
		}
	}
}
