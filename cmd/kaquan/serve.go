package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/cmd/kaquan/server"
	"github.com/kaquan/kaquan/persistence"
)

// serve runs the network service until ctx ends (SIGINT or SIGTERM), then shuts down gracefully:
// it stops accepting, finishes the requests under way, and closes the engine (flushing its writes).
func (m Main) serve(ctx context.Context, args []string) error {
	fs := m.newFlags("serve")
	data := fs.String("data", "kaquan-data", "data folder")
	listen := fs.String("listen", "127.0.0.1:7070", "address to serve gRPC, gRPC-Web and JSON on")
	adminToken := fs.String("admin-token", "", "bootstrap admin token: 64 hex digits (better from KAQUAN_ADMIN_TOKEN)")
	tlsCert := fs.String("tls-cert", "", "TLS certificate file (with --tls-key: serve HTTPS)")
	tlsKey := fs.String("tls-key", "", "TLS key file")
	durability := fs.String("durability", "sync", "sync, or none (benchmarks only: a machine crash loses acknowledged work)")
	requestBytes := fs.Int("request-bytes-max", server.DefaultOptions().RequestBytesMax, "largest request body")
	timeout := fs.Duration("request-timeout", server.DefaultOptions().RequestTimeout, "deadline of every request")
	shutdown := fs.Duration("shutdown-timeout", 15*time.Second, "how long a graceful shutdown may take")
	pprofOn := fs.Bool("pprof", false, "serve /debug/pprof/ (for operators; not on a public port)")
	verbose := fs.Bool("v", false, "log engine activity")
	gc := addGCFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := gc.apply(); err != nil {
		fmt.Fprintln(m.Stderr, err)
		return errUsage
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		fmt.Fprintln(m.Stderr, "--tls-cert and --tls-key go together")
		return errUsage
	}
	d, err := persistence.ParseDurability(*durability)
	if err != nil || d == persistence.DurabilityMemory {
		fmt.Fprintln(m.Stderr, "--durability: sync or none")
		return errUsage
	}
	log := m.logger(*verbose)
	opts := kaquan.DefaultOptions()
	opts.Durability, opts.Logger = d, log
	e, err := kaquan.Open(*data, opts)
	if err != nil {
		return err
	}
	sopts := server.DefaultOptions()
	sopts.AdminToken, sopts.RequestBytesMax, sopts.RequestTimeout, sopts.Pprof, sopts.Logger = *adminToken, *requestBytes, *timeout, *pprofOn, log
	srv, err := server.New(e, sopts)
	if err != nil {
		e.Close()
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		e.Close()
		return err
	}
	log.Warn("kaquan serving", "addr", ln.Addr().String(), "data", *data, "durability", d, "tls", *tlsCert != "")
	fmt.Fprintf(m.Stdout, "kaquan serving on %s\n", ln.Addr())
	return serveUntil(ctx, ln, srv.Handler(), *tlsCert, *tlsKey, *shutdown, e)
}

// serveUntil serves handler on ln until ctx ends, then shuts down within limit and closes e.
func serveUntil(ctx context.Context, ln net.Listener, handler http.Handler, cert, key string, limit time.Duration, e *kaquan.Engine) error {
	// gRPC needs HTTP/2; without TLS, clients speak it with prior knowledge (h2c). HTTP/1.1 serves
	// Connect JSON, gRPC-Web and /metrics.
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetHTTP2(true)
	protocols.SetUnencryptedHTTP2(true)
	hs := &http.Server{
		Handler:           handler,
		Protocols:         &protocols,
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	done := make(chan error, 1)
	go func() {
		if cert != "" {
			done <- hs.ServeTLS(ln, cert, key)
		} else {
			done <- hs.Serve(ln)
		}
	}()
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-done:
	}
	sctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	shutErr := hs.Shutdown(sctx) // stop accepting, wait for the requests under way
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	return errors.Join(serveErr, shutErr, e.Close())
}
