package bench

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/messages/messagesconnect"
)

// Remote is a kaquan server as an API: Connect's binary protocol over HTTP/1.1 keep-alive
// connections, one per concurrent caller (cheaper here than multiplexing one HTTP/2 connection),
// every call with token.
type Remote struct {
	c messagesconnect.KaquanServiceClient
}

// NewRemote talks to the server at url (http://host:port or https://) with token.
func NewRemote(url, token string) *Remote {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost, tr.IdleConnTimeout = 4096, 4096, 90*time.Second
	auth := connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			req.Header().Set("Authorization", "Bearer "+token)
			return next(ctx, req)
		}
	})
	return &Remote{c: messagesconnect.NewKaquanServiceClient(&http.Client{Transport: tr}, strings.TrimRight(url, "/"),
		connect.WithInterceptors(auth))}
}

// msg returns a response's message, or the engine's typed error behind a status.
func msg[T any](r *connect.Response[T], err error) (*T, error) {
	if err != nil {
		return nil, typed(err)
	}
	return r.Msg, nil
}

// typed gives a status back its engine error, from the reason in its details.
func typed(err error) error {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return err
	}
	for _, d := range ce.Details() {
		if m, e := d.Value(); e == nil {
			if r, ok := m.(*messages.ErrorReason); ok {
				if sentinel := kaquan.ReasonError(r.Reason); sentinel != nil {
					return errors.Join(sentinel, err)
				}
			}
		}
	}
	return err
}

func req[T any](m *T) *connect.Request[T] { return connect.NewRequest(m) }

func (r *Remote) CreateParty(ctx context.Context, q kaquan.CreateParty) (*messages.Party, error) {
	return msg(r.c.CreateParty(ctx, req(&messages.CreatePartyRequest{Id: q.ID, Kind: q.Kind, Name: q.Name})))
}

func (r *Remote) CreateAccount(ctx context.Context, q kaquan.CreateAccount) (*messages.Account, error) {
	return msg(r.c.CreateAccount(ctx, req(&messages.CreateAccountRequest{Id: q.ID, Owner: q.Owner})))
}

func (r *Remote) Deposit(ctx context.Context, q kaquan.Deposit) (*messages.LedgerEntry, error) {
	return msg(r.c.Deposit(ctx, req(&messages.TransferRequest{Account: q.Account, Amount: q.Amount, Key: q.Key})))
}

func (r *Remote) CreateTemplate(ctx context.Context, t *messages.Template) (*messages.Template, error) {
	return msg(r.c.CreateTemplate(ctx, req(&messages.CreateTemplateRequest{Template: t})))
}

func (r *Remote) Claim(ctx context.Context, q kaquan.Claim) (*messages.Card, error) {
	return msg(r.c.Claim(ctx, req(&messages.ClaimRequest{Template: q.Template, User: q.User})))
}

func (r *Remote) IssuePaymentCode(ctx context.Context, q kaquan.IssuePaymentCode) (*messages.PaymentCode, error) {
	return msg(r.c.IssuePaymentCode(ctx, req(&messages.IssuePaymentCodeRequest{User: q.User, Account: q.Account, Card: q.Card})))
}

func (r *Remote) Pay(ctx context.Context, q kaquan.Pay) (kaquan.PaymentOutcome, error) {
	res, err := msg(r.c.Pay(ctx, req(&messages.PayRequest{Merchant: q.Merchant, MerchantAccount: q.MerchantAccount, Code: q.Code, Amount: q.Amount, Key: q.Key})))
	if err != nil {
		return kaquan.PaymentOutcome{}, err
	}
	return kaquan.PaymentOutcome{Payment: res.Payment, Duplicate: res.Duplicate}, nil
}

func (r *Remote) Gift(ctx context.Context, q kaquan.Gift) (*messages.Card, error) {
	return msg(r.c.Gift(ctx, req(&messages.GiftRequest{From: q.From, To: q.To, Card: q.Card, Offer: q.Offer,
		OfferTtlSeconds: int64(q.OfferTTL / time.Second), Image: q.Image, Message: q.Message})))
}

func (r *Remote) SetNotifySecret(ctx context.Context, q kaquan.SetNotifySecret) error {
	_, err := msg(r.c.SetNotifySecret(ctx, req(&messages.SetNotifySecretRequest{Merchant: q.Merchant, Secret: q.Secret})))
	return err
}

func (r *Remote) AddContact(ctx context.Context, q kaquan.ContactPair) error {
	_, err := msg(r.c.AddContact(ctx, req(&messages.ContactRequest{A: q.A, B: q.B})))
	return err
}

func (r *Remote) Share(ctx context.Context, q kaquan.Share) (*messages.Card, error) {
	return msg(r.c.Share(ctx, req(&messages.ShareRequest{User: q.User, Card: q.Card})))
}

func (r *Remote) ContactPools(ctx context.Context, viewer uint64, cursor string, limit int) (*kaquan.PoolPage, error) {
	res, err := msg(r.c.ContactPools(ctx, req(&messages.ContactPoolsRequest{Viewer: viewer, Cursor: cursor, Limit: int32(limit)})))
	if err != nil {
		return nil, err
	}
	return &kaquan.PoolPage{Cards: res.Cards, Next: res.Next}, nil
}

func (r *Remote) ClaimShared(ctx context.Context, q kaquan.ClaimShared) (*messages.Card, error) {
	return msg(r.c.ClaimShared(ctx, req(&messages.ClaimSharedRequest{Claimer: q.Claimer, Sharer: q.Sharer, Card: q.Card})))
}

func (r *Remote) ConfirmUse(ctx context.Context, n kaquan.UseNotification) (*messages.Reward, error) {
	res, err := msg(r.c.ConfirmUse(ctx, req(&messages.ConfirmUseRequest{Id: n.ID, CardCode: n.CardCode, Merchant: n.Merchant,
		Time: n.Time, RewardTemplate: n.RewardTemplate, Signature: n.Signature})))
	if err != nil {
		return nil, err
	}
	return res.Reward, nil
}

func (r *Remote) AuditSummary(ctx context.Context) (bool, string, error) {
	res, err := msg(r.c.Audit(ctx, req(&messages.AuditRequest{})))
	if err != nil {
		return false, "", err
	}
	return res.Ok, res.Summary, nil
}

func (r *Remote) ImageStats(context.Context) (kaquan.ImageStats, error) {
	return kaquan.ImageStats{}, nil
}

func (r *Remote) WalletCards(ctx context.Context, user uint64) ([]*messages.Card, error) {
	res, err := msg(r.c.Wallet(ctx, req(&messages.WalletRequest{User: user})))
	if err != nil {
		return nil, err
	}
	return res.Cards, nil
}
