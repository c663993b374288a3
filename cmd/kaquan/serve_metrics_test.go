package main

import (
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// get answers a plain GET of url: its status and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestServe_MetricsListen: with --metrics-listen, /metrics and /debug/pprof/ are served on their
// own listener and no longer on the API port; without it, /metrics stays on the API port.
func TestServe_MetricsListen(t *testing.T) {
	lines, _ := startServeLines(t, filepath.Join(t.TempDir(), "data"), 2, "--metrics-listen", "127.0.0.1:0", "--pprof")
	api, metrics := strings.TrimPrefix(lines[0], "kaquan serving on "), strings.TrimPrefix(lines[1], "kaquan metrics on ")
	if api == metrics || !strings.HasPrefix(lines[1], "kaquan metrics on ") {
		t.Fatalf("serve printed %q", lines)
	}
	if code, body := get(t, "http://"+metrics+"/metrics"); code != http.StatusOK || !strings.Contains(body, "kaquan_commits_total") {
		t.Errorf("/metrics on the metrics listener: %d, %d bytes", code, len(body))
	}
	if code, _ := get(t, "http://"+metrics+"/debug/pprof/"); code != http.StatusOK {
		t.Errorf("/debug/pprof/ on the metrics listener: %d", code)
	}
	for _, path := range []string{"/metrics", "/debug/pprof/"} {
		if code, _ := get(t, "http://"+api+path); code != http.StatusNotFound {
			t.Errorf("%s on the API port with --metrics-listen: %d, want 404", path, code)
		}
	}
	if code, _ := get(t, "http://"+metrics+"/kaquan.v1.KaquanService/Audit"); code != http.StatusNotFound {
		t.Errorf("the API on the metrics listener: %d, want 404", code)
	}
	if code, body := get(t, "http://"+api+"/images/"+strings.Repeat("0", 64)); code != http.StatusNotFound || body == "" {
		t.Errorf("the API port still answers: %d", code)
	}
}

// TestServe_MetricsListenFromEnvironment: KAQUAN_METRICS_LISTEN stands in for the flag.
func TestServe_MetricsListenFromEnvironment(t *testing.T) {
	t.Setenv("KAQUAN_METRICS_LISTEN", "127.0.0.1:0")
	lines, _ := startServeLines(t, filepath.Join(t.TempDir(), "data"), 2)
	metrics := strings.TrimPrefix(lines[1], "kaquan metrics on ")
	if code, _ := get(t, "http://"+metrics+"/metrics"); code != http.StatusOK {
		t.Errorf("/metrics on KAQUAN_METRICS_LISTEN: %d", code)
	}
	if code, _ := get(t, "http://"+strings.TrimPrefix(lines[0], "kaquan serving on ")+"/metrics"); code != http.StatusNotFound {
		t.Errorf("/metrics on the API port: %d, want 404", code)
	}
}

// TestIsLoopback: serve warns that /metrics is public when the API listens beyond loopback.
func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{"127.0.0.1:7070": true, "[::1]:7070": true, "0.0.0.0:7070": false, "[::]:7070": false, "10.1.2.3:7070": false} {
		a, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := isLoopback(a); got != want {
			t.Errorf("isLoopback(%s) = %v, want %v", addr, got, want)
		}
	}
}
