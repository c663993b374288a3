package server

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"

	"connectrpc.com/connect"
)

// Connect answers every resource_exhausted error with HTTP 429 Too Many Requests, which tells an
// HTTP client to retry later; a request over RequestBytesMax will never pass, and is answered
// 413 Content Too Large instead. Connect enforces the limit itself (WithReadMaxBytes) as it reads
// the message, raw or decompressed, before any interceptor runs: a 429 written before the first
// interceptor is that limit. The interceptors' own 429s (a stock or a limit that ran out, the
// payment-code guess limit) stay 429. gRPC and gRPC-Web answer HTTP 200 with the code in
// grpc-status, resource_exhausted as before; their requests are passed through untouched.

type interceptorsReachedKey struct{}

// withContentTooLarge answers 413 rather than 429 to a Connect request (JSON or binary protobuf
// over plain HTTP) refused for its size; the body stays the Connect error, resource_exhausted.
func withContentTooLarge(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
			h.ServeHTTP(w, r)
			return
		}
		tw := &tooLargeWriter{ResponseWriter: w}
		h.ServeHTTP(tw, r.WithContext(context.WithValue(r.Context(), interceptorsReachedKey{}, &tw.reached)))
	})
}

// reachedInterceptor, the first interceptor, marks a request as past reading its message.
func reachedInterceptor() connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			if reached, ok := ctx.Value(interceptorsReachedKey{}).(*atomic.Bool); ok {
				reached.Store(true)
			}
			return next(ctx, req)
		}
	}
}

// tooLargeWriter turns a 429 written before the interceptors were reached into a 413.
type tooLargeWriter struct {
	http.ResponseWriter
	reached atomic.Bool
}

func (w *tooLargeWriter) WriteHeader(status int) {
	if status == http.StatusTooManyRequests && !w.reached.Load() {
		status = http.StatusRequestEntityTooLarge
	}
	w.ResponseWriter.WriteHeader(status)
}

// Flush lets Connect stream through the writer.
func (w *tooLargeWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap gives http.ResponseController the connection's writer (deadlines).
func (w *tooLargeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
