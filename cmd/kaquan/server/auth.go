package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/messages"
)

// Principal is who a request acts as: the admin, a merchant or a user.
type Principal struct {
	Kind  messages.PrincipalKind
	Party uint64
}

type principalKey struct{}

// principalOf is the caller of ctx, set by the auth interceptor (zero when unauthenticated).
func principalOf(ctx context.Context) Principal {
	p, _ := ctx.Value(principalKey{}).(Principal)
	return p
}

// newToken draws a random 256-bit bearer token, hex encoded.
func newToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func tokenHash(token string) [32]byte { return sha256.Sum256([]byte(token)) }

// tokenID names a token by its hash (not a secret: the hash cannot be turned back into the token).
func tokenID(h [32]byte) string { return hex.EncodeToString(h[:]) }

func parseTokenID(id string) ([32]byte, bool) {
	var h [32]byte
	b, err := hex.DecodeString(id)
	if err != nil || len(b) != len(h) {
		return h, false
	}
	copy(h[:], b)
	return h, true
}

// authenticate finds the principal behind an Authorization header; a missing header is no
// principal, a bad or revoked token is an error.
func (s *Server) authenticate(ctx context.Context, header http.Header) (Principal, error) {
	auth := header.Get("Authorization")
	if auth == "" {
		return Principal{}, nil
	}
	token, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || len(token) != 64 {
		return Principal{}, connect.NewError(connect.CodeUnauthenticated, errors.New("want Authorization: Bearer <64 hex digits>"))
	}
	h := tokenHash(token)
	if s.adminHash != nil && subtle.ConstantTimeCompare(h[:], s.adminHash[:]) == 1 {
		return Principal{Kind: messages.PrincipalKind_PRINCIPAL_KIND_ADMIN}, nil
	}
	rec, err := s.e.Token(ctx, h)
	if errors.Is(err, kaquan.ErrUnknownEntity) || (err == nil && rec.RevokedAt != 0) {
		return Principal{}, connect.NewError(connect.CodeUnauthenticated, errors.New("unknown or revoked token"))
	}
	if err == nil && rec.ExpiresAt != 0 && time.Now().UnixNano() >= rec.ExpiresAt {
		return Principal{}, connect.NewError(connect.CodeUnauthenticated, errors.New("expired token"))
	}
	if err != nil {
		return Principal{}, engineError(err)
	}
	return Principal{Kind: rec.Kind, Party: rec.PartyId}, nil
}

// authInterceptor authenticates every request; ConfirmUse is the one operation open to callers
// without a token (its notification carries its merchant's signature).
func (s *Server) authInterceptor() connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			p, err := s.authenticate(ctx, req.Header())
			if err != nil {
				return nil, err
			}
			if p.Kind == messages.PrincipalKind_PRINCIPAL_KIND_UNSPECIFIED && !strings.HasSuffix(req.Spec().Procedure, "/ConfirmUse") {
				return nil, connect.NewError(connect.CodeUnauthenticated, errors.New("a bearer token is required"))
			}
			return next(context.WithValue(ctx, principalKey{}, p), req)
		}
	}
}

func (p Principal) admin() bool { return p.Kind == messages.PrincipalKind_PRINCIPAL_KIND_ADMIN }

// needAdmin allows the admin only.
func needAdmin(ctx context.Context) error {
	if principalOf(ctx).admin() {
		return nil
	}
	return denied("admin only")
}

// needUser allows user id itself, or the admin.
func needUser(ctx context.Context, id uint64) error {
	p := principalOf(ctx)
	if p.admin() || (p.Kind == messages.PrincipalKind_PRINCIPAL_KIND_USER && p.Party == id && id != 0) {
		return nil
	}
	return denied(fmt.Sprintf("acting as user %d", id))
}

// needMerchant allows merchant id itself, or the admin.
func needMerchant(ctx context.Context, id uint64) error {
	p := principalOf(ctx)
	if p.admin() || (p.Kind == messages.PrincipalKind_PRINCIPAL_KIND_MERCHANT && p.Party == id && id != 0) {
		return nil
	}
	return denied(fmt.Sprintf("acting as merchant %d", id))
}

// needParty allows the party owning something (a user or a merchant), or the admin.
func needParty(ctx context.Context, id uint64) error {
	p := principalOf(ctx)
	if p.admin() || (p.Kind != messages.PrincipalKind_PRINCIPAL_KIND_UNSPECIFIED && p.Party == id && id != 0) {
		return nil
	}
	return denied(fmt.Sprintf("acting for party %d", id))
}

func denied(what string) error {
	return connect.NewError(connect.CodePermissionDenied, fmt.Errorf("permission denied: %s", what))
}
