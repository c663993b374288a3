package server_test

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"testing"

	"connectrpc.com/connect"
	"github.com/kaquan/kaquan/messages"
)

// TestServer_ImageHeaders: a gift image, a user's upload served publicly from the API's origin,
// comes with headers that keep browsers from sniffing it as anything but its image type and from
// running anything in it.
func TestServer_ImageHeaders(t *testing.T) {
	s := startServer(t)
	f := setupFlow(t, s, true)
	ctx := context.Background()
	r, err := f.user.Claim(ctx, connect.NewRequest(&messages.ClaimRequest{Template: 7, User: 100}))
	card := ok(t, r, err)
	png1x1, _ := base64.StdEncoding.DecodeString("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")
	must(t)(f.user.Gift(ctx, connect.NewRequest(&messages.GiftRequest{From: 100, To: 101, Card: card.Id, Image: png1x1})))
	lib, err := f.admin.GiftLibrary(ctx, connect.NewRequest(&messages.GiftLibraryRequest{Card: card.Id}))
	recs := ok(t, lib, err).Records
	if len(recs) != 1 || recs[0].ImageId == "" {
		t.Fatalf("library: %v", recs)
	}
	res, err := http.Get(s.url + "/images/" + recs[0].ImageId)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	want := map[string]string{
		"Content-Type":            "image/png",
		"X-Content-Type-Options":  "nosniff",
		"Content-Security-Policy": "default-src 'none'",
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("image: %d", res.StatusCode)
	}
	for k, v := range want {
		if got := res.Header.Get(k); got != v {
			t.Errorf("%s: got %q, want %q", k, got, v)
		}
	}
}
