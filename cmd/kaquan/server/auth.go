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
	"sync"
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
	rec, err := s.tokens.get(h, func() (*messages.TokenRecord, error) { return s.e.Token(ctx, h) })
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

// tokenCache keeps the records of tokens in use for a few seconds, so a request does not read the
// store to authenticate. Only found tokens are kept (forged ones would fill it); RevokeToken drops
// its token at once, and another server's revocation is seen within tokenCacheTTL.
type tokenCache struct {
	mu  sync.Mutex
	m   map[[32]byte]cachedToken
	gen uint64 // revocations so far: a record read before one is not cached after it
}

type cachedToken struct {
	rec   *messages.TokenRecord
	until time.Time
}

const (
	tokenCacheTTL = 5 * time.Second
	tokenCacheMax = 100_000
)

func (c *tokenCache) get(h [32]byte, load func() (*messages.TokenRecord, error)) (*messages.TokenRecord, error) {
	now := time.Now()
	c.mu.Lock()
	if t, ok := c.m[h]; ok && now.Before(t.until) {
		c.mu.Unlock()
		return t.rec, nil
	}
	gen := c.gen
	c.mu.Unlock()
	rec, err := load()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= tokenCacheMax {
		c.m = map[[32]byte]cachedToken{}
	}
	if c.gen == gen {
		c.m[h] = cachedToken{rec: rec, until: now.Add(tokenCacheTTL)}
	}
	c.mu.Unlock()
	return rec, nil
}

func (c *tokenCache) drop(h [32]byte) {
	c.mu.Lock()
	c.gen++
	delete(c.m, h)
	c.mu.Unlock()
}
