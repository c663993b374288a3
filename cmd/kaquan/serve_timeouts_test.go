package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/kaquan/kaquan/cmd/kaquan/server"
)

// TestServe_SlowBodyCut: a client that sends the headers of a 1000-byte request and one byte of
// its body, then nothing, is cut off once the read deadline passes (before the fix it held the
// connection and a handler goroutine forever, without any token).
func TestServe_SlowBodyCut(t *testing.T) {
	// The smallest body limit and a short request deadline make the read deadline about 0.1 s.
	addr, _ := startServe(t, filepath.Join(t.TempDir(), "data"), "--request-timeout", "100ms", "--request-bytes-max", "1024")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /kaquan.v1.KaquanService/GetParty HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
	const wait = 5 * time.Second // 40 times the read deadline, half ReadHeaderTimeout
	if err := conn.SetReadDeadline(time.Now().Add(wait)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1)
	_, err = conn.Read(buf)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("after %s without the body: got the connection still open and unanswered, want it answered or closed", wait)
	}
}

// TestConnTimeouts_Defaults: the default deadlines let the largest request body through a slow
// link, and the write deadline covers the body, the handler and an answer as large.
func TestConnTimeouts_Defaults(t *testing.T) {
	opts := server.DefaultOptions()
	read, write := connTimeouts(opts.RequestBytesMax, opts.RequestTimeout)
	upload := time.Duration(opts.RequestBytesMax) * time.Second / slowLinkBytesPerSecond
	if want := opts.RequestTimeout + upload; read != want {
		t.Errorf("read timeout: got %s, want %s", read, want)
	}
	if want := read + opts.RequestTimeout + upload; write != want {
		t.Errorf("write timeout: got %s, want %s", write, want)
	}
	if _, write := connTimeouts(1<<10, 10*time.Millisecond); write < writeTimeoutMin {
		t.Errorf("write timeout of tiny limits: got %s, want at least %s", write, writeTimeoutMin)
	}
}

// TestServe_BackupOutlivesWriteTimeout: a backup streams past the server's write deadline (up to
// its own bound); any other answer that late is cut off.
func TestServe_BackupOutlivesWriteTimeout(t *testing.T) {
	const writeTimeout = 100 * time.Millisecond
	body := bytes.Repeat([]byte("k"), 1<<20)
	slow := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(3 * writeTimeout) // a backup reading the store
		_, _ = w.Write(body)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: withBackupDeadline(slow, 10*time.Second), WriteTimeout: writeTimeout}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	get := func(path string) (int, error) {
		res, err := http.Get("http://" + ln.Addr().String() + path)
		if err != nil {
			return 0, err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		return len(b), err
	}
	if n, err := get(backupPath); err != nil || n != len(body) {
		t.Errorf("backup after the write deadline: got %d bytes, %v; want %d bytes", n, err, len(body))
	}
	if n, err := get("/metrics"); err == nil && n == len(body) {
		t.Errorf("another answer after the write deadline: got all %d bytes, want it cut off", n)
	}
}
