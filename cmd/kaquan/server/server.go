// Package server is kaquan's network service: the embedding API as protobuf over gRPC, gRPC-Web
// and JSON on one port (Connect), with bearer-token principals, health, reflection, Prometheus
// metrics and the payment-code and image endpoints.
package server

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/messages/messagesconnect"
)

// Options configures a Server.
type Options struct {
	AdminToken      string           // bootstrap admin token (64 hex digits); "" for none
	RequestBytesMax int              // largest request body (a gift image is 2 MiB)
	RequestTimeout  time.Duration    // deadline of every request
	CodeGuessesMax  int              // failed payment-code look-ups a merchant may make in any one second
	Pprof           bool             // serve /debug/pprof/
	MetricsApart    bool             // /metrics and /debug/pprof/ only from MetricsHandler, not Handler
	BackupTimeout   time.Duration    // how long one backup (GET /admin/backup) may take
	Clock           func() time.Time // for the guess limit and codes' expiry (give the engine's); tests pass their own
	Logger          *slog.Logger
}

// DefaultOptions are the defaults.
func DefaultOptions() Options {
	return Options{RequestBytesMax: 3 << 20, RequestTimeout: 10 * time.Second, CodeGuessesMax: 5, BackupTimeout: time.Hour, Clock: time.Now, Logger: slog.Default()}
}

// Server serves one engine.
type Server struct {
	e           *kaquan.Engine
	opts        Options
	adminHash   *[32]byte
	codeGuesses *guessLimiter
	metrics     *metrics
	tokens      tokenCache
	backups     chan struct{} // one per backup under way (backupsMax)
}

// New builds a server for e.
func New(e *kaquan.Engine, opts Options) (*Server, error) {
	switch {
	case opts.RequestBytesMax < 1<<10 || opts.RequestBytesMax > 64<<20:
		return nil, fmt.Errorf("server: RequestBytesMax %d outside 1KiB..64MiB", opts.RequestBytesMax)
	case opts.RequestTimeout < 10*time.Millisecond || opts.RequestTimeout > 10*time.Minute:
		return nil, fmt.Errorf("server: RequestTimeout %s outside 10ms..10m", opts.RequestTimeout)
	case opts.BackupTimeout < time.Second || opts.BackupTimeout > 24*time.Hour:
		return nil, fmt.Errorf("server: BackupTimeout %s outside 1s..24h", opts.BackupTimeout)
	case opts.CodeGuessesMax < 1 || opts.CodeGuessesMax > 1000:
		return nil, fmt.Errorf("server: CodeGuessesMax %d outside 1..1000", opts.CodeGuessesMax)
	case opts.AdminToken != "" && len(opts.AdminToken) != 64:
		return nil, errors.New("server: the admin token must be 64 hex digits (256 bits)")
	case opts.Clock == nil || opts.Logger == nil:
		return nil, errors.New("server: Clock and Logger are required")
	}
	s := &Server{e: e, opts: opts, codeGuesses: newGuessLimiter(opts.CodeGuessesMax, opts.Clock), metrics: newMetrics(e), backups: make(chan struct{}, backupsMax)}
	if opts.AdminToken != "" {
		h := sha256.Sum256([]byte(opts.AdminToken))
		s.adminHash = &h
	}
	return s, nil
}

// Handler is everything the server answers on its API port (without /metrics and /debug/pprof/
// when MetricsApart).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	// Every Connect handler reads at most RequestBytesMax per message (health and reflection too:
	// without a limit Connect reads a message whole, however large).
	limit := connect.WithReadMaxBytes(s.opts.RequestBytesMax)
	rpc := func(path string, h http.Handler) { mux.Handle(path, withContentTooLarge(h)) }
	opts := []connect.HandlerOption{
		connect.WithInterceptors(reachedInterceptor(), s.metrics.interceptor(), s.deadlineInterceptor(), s.authInterceptor()),
		limit,
		// Compressing a 100-byte answer costs more CPU than sending it (a quarter of the server's
		// CPU under load when every answer was gzipped).
		connect.WithCompressMinBytes(1024),
		connect.WithCodec(strictJSON{name: "json"}), connect.WithCodec(strictJSON{name: "json; charset=utf-8"}),
	}
	rpc(messagesconnect.NewKaquanServiceHandler(s, opts...))
	public := connect.WithHandlerOptions(connect.WithInterceptors(reachedInterceptor()), limit)
	checker := grpchealth.NewStaticChecker(messagesconnect.KaquanServiceName)
	rpc(grpchealth.NewHandler(checker, public, connect.WithCodec(healthJSON{strictJSON{name: "json"}}),
		connect.WithCodec(healthJSON{strictJSON{name: "json; charset=utf-8"}})))
	reflector := grpcreflect.NewStaticReflector(messagesconnect.KaquanServiceName, grpchealth.HealthV1ServiceName)
	rpc(grpcreflect.NewHandlerV1(reflector, public))
	rpc(grpcreflect.NewHandlerV1Alpha(reflector, public))
	mux.HandleFunc("GET /images/{id}", s.serveImage)
	mux.HandleFunc("GET /payment-codes/{code}/{format}", s.servePaymentCode)
	mux.HandleFunc("GET /admin/backup", s.serveBackup)
	if !s.opts.MetricsApart {
		s.operatorRoutes(mux)
	}
	return mux
}

// MetricsHandler serves /metrics, and /debug/pprof/ with Pprof, for a listener of their own
// (Options.MetricsApart): the common Prometheus practice, which keeps them off a public API port.
func (s *Server) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	s.operatorRoutes(mux)
	return mux
}

// operatorRoutes are the endpoints for operators rather than clients: metrics and pprof.
func (s *Server) operatorRoutes(mux *http.ServeMux) {
	mux.Handle("GET /metrics", s.metrics.handler())
	if s.opts.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
}

// deadlineInterceptor bounds every request's wait.
func (s *Server) deadlineInterceptor() connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			ctx, cancel := context.WithTimeout(ctx, s.opts.RequestTimeout)
			defer cancel()
			return next(ctx, req)
		}
	}
}
