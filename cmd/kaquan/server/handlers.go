package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"connectrpc.com/connect"
	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/messages"
)

// respond wraps an engine answer; errors become statuses with their typed reason.
func respond[T any](m *T, err error) (*connect.Response[T], error) {
	if err != nil {
		return nil, engineError(err)
	}
	return connect.NewResponse(m), nil
}

func (s *Server) CreateToken(ctx context.Context, r *connect.Request[messages.CreateTokenRequest]) (*connect.Response[messages.CreateTokenResponse], error) {
	if err := needAdmin(ctx); err != nil {
		return nil, err
	}
	m := r.Msg
	switch m.Kind {
	case messages.PrincipalKind_PRINCIPAL_KIND_ADMIN:
		if m.PartyId != 0 {
			return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("an admin token names no party"))
		}
	case messages.PrincipalKind_PRINCIPAL_KIND_MERCHANT, messages.PrincipalKind_PRINCIPAL_KIND_USER:
		kind := messages.PartyKind_PARTY_KIND_USER
		if m.Kind == messages.PrincipalKind_PRINCIPAL_KIND_MERCHANT {
			kind = messages.PartyKind_PARTY_KIND_MERCHANT
		}
		p, err := s.e.Party(ctx, m.PartyId)
		if err != nil {
			return nil, engineError(err)
		}
		if p.Kind != kind {
			return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("the party is not of the token's kind"))
		}
	default:
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("token kind"))
	}
	if m.TtlSeconds < 0 || m.TtlSeconds > 10*365*24*3600 {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("ttl_seconds outside 0..10 years"))
	}
	token, now := newToken(), time.Now()
	h := tokenHash(token)
	rec := &messages.TokenRecord{Kind: m.Kind, PartyId: m.PartyId, CreatedAt: now.UnixNano()}
	if m.TtlSeconds > 0 {
		rec.ExpiresAt = now.Add(time.Duration(m.TtlSeconds) * time.Second).UnixNano()
	}
	if err := s.e.PutToken(ctx, h, rec); err != nil {
		return nil, engineError(err)
	}
	return connect.NewResponse(&messages.CreateTokenResponse{Token: token, TokenId: tokenID(h)}), nil
}

func (s *Server) RevokeToken(ctx context.Context, r *connect.Request[messages.RevokeTokenRequest]) (*connect.Response[messages.RevokeTokenResponse], error) {
	if err := needAdmin(ctx); err != nil {
		return nil, err
	}
	hash, ok := parseTokenID(r.Msg.TokenId)
	if !ok {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("a token id is 64 hex digits"))
	}
	rec, err := s.e.Token(ctx, hash)
	if err != nil {
		return nil, engineError(err)
	}
	rec.RevokedAt = time.Now().UnixNano()
	err = s.e.PutToken(ctx, hash, rec)
	s.tokens.drop(hash) // after the write; a record read before it is not cached (see tokenCache.gen)
	return respond(&messages.RevokeTokenResponse{}, err)
}

func (s *Server) CreateParty(ctx context.Context, r *connect.Request[messages.CreatePartyRequest]) (*connect.Response[messages.Party], error) {
	if err := needAdmin(ctx); err != nil {
		return nil, err
	}
	return respond(s.e.CreateParty(ctx, kaquan.CreateParty{ID: r.Msg.Id, Kind: r.Msg.Kind, Name: r.Msg.Name}))
}

func (s *Server) CreateAccount(ctx context.Context, r *connect.Request[messages.CreateAccountRequest]) (*connect.Response[messages.Account], error) {
	if err := needAdmin(ctx); err != nil {
		return nil, err
	}
	return respond(s.e.CreateAccount(ctx, kaquan.CreateAccount{ID: r.Msg.Id, Owner: r.Msg.Owner}))
}

func (s *Server) Deposit(ctx context.Context, r *connect.Request[messages.TransferRequest]) (*connect.Response[messages.LedgerEntry], error) {
	if err := needAdmin(ctx); err != nil {
		return nil, err
	}
	return respond(s.e.Deposit(ctx, kaquan.Deposit{Account: r.Msg.Account, Amount: r.Msg.Amount, Key: r.Msg.Key}))
}

func (s *Server) Withdraw(ctx context.Context, r *connect.Request[messages.TransferRequest]) (*connect.Response[messages.LedgerEntry], error) {
	if err := needAdmin(ctx); err != nil {
		return nil, err
	}
	return respond(s.e.Withdraw(ctx, kaquan.Withdrawal{Account: r.Msg.Account, Amount: r.Msg.Amount, Key: r.Msg.Key}))
}

func (s *Server) Audit(ctx context.Context, _ *connect.Request[messages.AuditRequest]) (*connect.Response[messages.AuditResponse], error) {
	if err := needAdmin(ctx); err != nil {
		return nil, err
	}
	rep, err := s.e.Audit(ctx)
	if err != nil {
		return nil, engineError(err)
	}
	return connect.NewResponse(&messages.AuditResponse{Ok: rep.OK(), Summary: rep.String(), Problems: rep.Problems}), nil
}

func (s *Server) AddContact(ctx context.Context, r *connect.Request[messages.ContactRequest]) (*connect.Response[messages.ContactResponse], error) {
	if err := needAdmin(ctx); err != nil {
		return nil, err
	}
	return respond(&messages.ContactResponse{}, s.e.AddContact(ctx, kaquan.ContactPair{A: r.Msg.A, B: r.Msg.B}))
}

func (s *Server) RemoveContact(ctx context.Context, r *connect.Request[messages.ContactRequest]) (*connect.Response[messages.ContactResponse], error) {
	if err := needAdmin(ctx); err != nil {
		return nil, err
	}
	return respond(&messages.ContactResponse{}, s.e.RemoveContact(ctx, kaquan.ContactPair{A: r.Msg.A, B: r.Msg.B}))
}

func (s *Server) GetAccount(ctx context.Context, r *connect.Request[messages.GetAccountRequest]) (*connect.Response[messages.GetAccountResponse], error) {
	a, err := s.e.Account(ctx, r.Msg.Id)
	if err != nil {
		if needAdmin(ctx) != nil {
			return nil, denied("account") // no telling a stranger which accounts exist
		}
		return nil, engineError(err)
	}
	if err := needParty(ctx, a.Account.GetOwnerId()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&messages.GetAccountResponse{Account: a.Account, Balance: a.Balance, Seq: a.Seq}), nil
}

func (s *Server) CreateTemplate(ctx context.Context, r *connect.Request[messages.CreateTemplateRequest]) (*connect.Response[messages.Template], error) {
	if err := needMerchant(ctx, r.Msg.Template.GetMerchantId()); err != nil {
		return nil, err
	}
	return respond(s.e.CreateTemplate(ctx, r.Msg.Template))
}

func (s *Server) SetNotifySecret(ctx context.Context, r *connect.Request[messages.SetNotifySecretRequest]) (*connect.Response[messages.SetNotifySecretResponse], error) {
	if err := needMerchant(ctx, r.Msg.Merchant); err != nil {
		return nil, err
	}
	return respond(&messages.SetNotifySecretResponse{}, s.e.SetNotifySecret(ctx, kaquan.SetNotifySecret{Merchant: r.Msg.Merchant, Secret: r.Msg.Secret}))
}

func (s *Server) Pay(ctx context.Context, r *connect.Request[messages.PayRequest]) (*connect.Response[messages.PaymentResponse], error) {
	m := r.Msg
	if err := needMerchant(ctx, m.Merchant); err != nil {
		return nil, err
	}
	// Guessing codes: a merchant gets a few failed look-ups per second, then is refused.
	if !s.codeGuesses.allow(m.Merchant) {
		return nil, connect.NewError(connect.CodeResourceExhausted, errors.New("too many failed payment-code look-ups: slow down"))
	}
	out, err := s.e.Pay(ctx, kaquan.Pay{Merchant: m.Merchant, MerchantAccount: m.MerchantAccount, Code: m.Code, Amount: m.Amount, Key: m.Key})
	if errors.Is(err, kaquan.ErrCodeUnknown) {
		s.codeGuesses.failed(m.Merchant)
	}
	return respond(&messages.PaymentResponse{Payment: out.Payment, Duplicate: out.Duplicate}, err)
}

func (s *Server) Refund(ctx context.Context, r *connect.Request[messages.RefundRequest]) (*connect.Response[messages.PaymentResponse], error) {
	if err := needMerchant(ctx, r.Msg.Merchant); err != nil {
		return nil, err
	}
	out, err := s.e.Refund(ctx, kaquan.Refund{Merchant: r.Msg.Merchant, Key: r.Msg.Key})
	return respond(&messages.PaymentResponse{Payment: out.Payment, Duplicate: out.Duplicate}, err)
}

func (s *Server) GetPayment(ctx context.Context, r *connect.Request[messages.GetPaymentRequest]) (*connect.Response[messages.Payment], error) {
	if err := needMerchant(ctx, r.Msg.Merchant); err != nil {
		return nil, err
	}
	return respond(s.e.Payment(ctx, r.Msg.Merchant, r.Msg.Key))
}

func (s *Server) Claim(ctx context.Context, r *connect.Request[messages.ClaimRequest]) (*connect.Response[messages.Card], error) {
	if err := needUser(ctx, r.Msg.User); err != nil {
		return nil, err
	}
	return respond(s.e.Claim(ctx, kaquan.Claim{Template: r.Msg.Template, User: r.Msg.User}))
}

func (s *Server) Wallet(ctx context.Context, r *connect.Request[messages.WalletRequest]) (*connect.Response[messages.WalletResponse], error) {
	if err := needUser(ctx, r.Msg.User); err != nil {
		return nil, err
	}
	cards, err := s.e.WalletCards(ctx, r.Msg.User)
	return respond(&messages.WalletResponse{Cards: cards}, err)
}

func (s *Server) IssuePaymentCode(ctx context.Context, r *connect.Request[messages.IssuePaymentCodeRequest]) (*connect.Response[messages.PaymentCode], error) {
	if err := needUser(ctx, r.Msg.User); err != nil {
		return nil, err
	}
	return respond(s.e.IssuePaymentCode(ctx, kaquan.IssuePaymentCode{User: r.Msg.User, Account: r.Msg.Account, Card: r.Msg.Card}))
}

func (s *Server) Gift(ctx context.Context, r *connect.Request[messages.GiftRequest]) (*connect.Response[messages.Card], error) {
	m := r.Msg
	if err := needUser(ctx, m.From); err != nil {
		return nil, err
	}
	ttl, err := offerTTL(m.OfferTtlSeconds)
	if err != nil {
		return nil, engineError(err)
	}
	return respond(s.e.Gift(ctx, kaquan.Gift{From: m.From, To: m.To, Card: m.Card, Offer: m.Offer,
		OfferTTL: ttl, Image: m.Image, Message: m.Message}))
}

// offerTTL converts a gift's offer time-out (0: the default). The engine checks the bounds, but
// only of the converted duration: seconds are bounded first, or 2^55+3600 s would wrap to one hour.
func offerTTL(seconds int64) (time.Duration, error) {
	if maxSeconds := int64(actors.GiftOfferTTLMax / time.Second); seconds < 0 || seconds > maxSeconds {
		return 0, fmt.Errorf("%w: offer_ttl_seconds %d outside 0..%d", kaquan.ErrInvalidArgument, seconds, maxSeconds)
	}
	return time.Duration(seconds) * time.Second, nil
}

func (s *Server) AcceptGift(ctx context.Context, r *connect.Request[messages.AnswerGiftRequest]) (*connect.Response[messages.Card], error) {
	if err := needUser(ctx, r.Msg.User); err != nil {
		return nil, err
	}
	return respond(s.e.AcceptGift(ctx, kaquan.AcceptGift{User: r.Msg.User, Card: r.Msg.Card}))
}

func (s *Server) DeclineGift(ctx context.Context, r *connect.Request[messages.AnswerGiftRequest]) (*connect.Response[messages.Card], error) {
	if err := needUser(ctx, r.Msg.User); err != nil {
		return nil, err
	}
	return respond(s.e.DeclineGift(ctx, kaquan.DeclineGift{User: r.Msg.User, Card: r.Msg.Card}))
}

func (s *Server) GiftLibrary(ctx context.Context, r *connect.Request[messages.GiftLibraryRequest]) (*connect.Response[messages.GiftLibraryResponse], error) {
	c, err := s.e.Card(ctx, r.Msg.Card)
	if err != nil {
		if needAdmin(ctx) != nil {
			return nil, denied("card")
		}
		return nil, engineError(err)
	}
	if err := needUser(ctx, c.OwnerId); err != nil {
		return nil, err
	}
	recs, err := s.e.GiftLibrary(ctx, r.Msg.Card, r.Msg.After)
	return respond(&messages.GiftLibraryResponse{Records: recs}, err)
}

func (s *Server) Share(ctx context.Context, r *connect.Request[messages.ShareRequest]) (*connect.Response[messages.Card], error) {
	if err := needUser(ctx, r.Msg.User); err != nil {
		return nil, err
	}
	return respond(s.e.Share(ctx, kaquan.Share{User: r.Msg.User, Card: r.Msg.Card}))
}

func (s *Server) Unshare(ctx context.Context, r *connect.Request[messages.ShareRequest]) (*connect.Response[messages.Card], error) {
	if err := needUser(ctx, r.Msg.User); err != nil {
		return nil, err
	}
	return respond(s.e.Unshare(ctx, kaquan.Share{User: r.Msg.User, Card: r.Msg.Card}))
}

func (s *Server) ClaimShared(ctx context.Context, r *connect.Request[messages.ClaimSharedRequest]) (*connect.Response[messages.Card], error) {
	if err := needUser(ctx, r.Msg.Claimer); err != nil {
		return nil, err
	}
	return respond(s.e.ClaimShared(ctx, kaquan.ClaimShared{Claimer: r.Msg.Claimer, Sharer: r.Msg.Sharer, Card: r.Msg.Card}))
}

func (s *Server) ContactPools(ctx context.Context, r *connect.Request[messages.ContactPoolsRequest]) (*connect.Response[messages.ContactPoolsResponse], error) {
	if err := needUser(ctx, r.Msg.Viewer); err != nil {
		return nil, err
	}
	page, err := s.e.ContactPools(ctx, r.Msg.Viewer, r.Msg.Cursor, int(r.Msg.Limit))
	if err != nil {
		return nil, engineError(err)
	}
	return connect.NewResponse(&messages.ContactPoolsResponse{Cards: page.Cards, Next: page.Next}), nil
}

func (s *Server) Rewards(ctx context.Context, r *connect.Request[messages.RewardsRequest]) (*connect.Response[messages.RewardsResponse], error) {
	if err := needUser(ctx, r.Msg.Sharer); err != nil {
		return nil, err
	}
	rs, err := s.e.Rewards(ctx, r.Msg.Sharer, r.Msg.After)
	return respond(&messages.RewardsResponse{Rewards: rs}, err)
}

func (s *Server) ConfirmUse(ctx context.Context, r *connect.Request[messages.ConfirmUseRequest]) (*connect.Response[messages.ConfirmUseResponse], error) {
	m := r.Msg
	reward, err := s.e.ConfirmUse(ctx, kaquan.UseNotification{ID: m.Id, CardCode: m.CardCode, Merchant: m.Merchant,
		Time: m.Time, RewardTemplate: m.RewardTemplate, Signature: m.Signature})
	if errors.Is(err, kaquan.ErrDuplicateNotification) {
		return connect.NewResponse(&messages.ConfirmUseResponse{Reward: reward, Duplicate: true}), nil
	}
	return respond(&messages.ConfirmUseResponse{Reward: reward}, err)
}

func (s *Server) SetAccountStatus(ctx context.Context, r *connect.Request[messages.SetAccountStatusRequest]) (*connect.Response[messages.Account], error) {
	if err := needAdmin(ctx); err != nil {
		return nil, err
	}
	return respond(s.e.SetAccountStatus(ctx, kaquan.SetAccountStatus{Account: r.Msg.Id, Status: r.Msg.Status}))
}

func (s *Server) GetParty(ctx context.Context, r *connect.Request[messages.GetPartyRequest]) (*connect.Response[messages.Party], error) {
	if err := needParty(ctx, r.Msg.Id); err != nil {
		return nil, err
	}
	return respond(s.e.Party(ctx, r.Msg.Id))
}

func (s *Server) GetTemplate(ctx context.Context, r *connect.Request[messages.GetTemplateRequest]) (*connect.Response[messages.Template], error) {
	return respond(s.e.Template(ctx, r.Msg.Id)) // offers are public to every holder of a token
}

func (s *Server) GetCard(ctx context.Context, r *connect.Request[messages.GetCardRequest]) (*connect.Response[messages.Card], error) {
	c, err := s.e.Card(ctx, r.Msg.Id)
	if err != nil {
		if needAdmin(ctx) != nil {
			return nil, denied("card")
		}
		return nil, engineError(err)
	}
	if needUser(ctx, c.OwnerId) != nil && needMerchant(ctx, c.MerchantId) != nil {
		return nil, denied("card")
	}
	return connect.NewResponse(c), nil
}

func (s *Server) ListContacts(ctx context.Context, r *connect.Request[messages.ListContactsRequest]) (*connect.Response[messages.ListContactsResponse], error) {
	if err := needUser(ctx, r.Msg.User); err != nil {
		return nil, err
	}
	ids, err := s.e.Contacts(ctx, r.Msg.User)
	return respond(&messages.ListContactsResponse{Contacts: ids}, err)
}

func (s *Server) VoidCard(ctx context.Context, r *connect.Request[messages.CardRequest]) (*connect.Response[messages.Card], error) {
	if err := needMerchant(ctx, r.Msg.Merchant); err != nil {
		return nil, err
	}
	return respond(s.e.VoidCard(ctx, kaquan.VoidCard{Merchant: r.Msg.Merchant, Card: r.Msg.Card}))
}

func (s *Server) ExpireCard(ctx context.Context, r *connect.Request[messages.CardRequest]) (*connect.Response[messages.Card], error) {
	if err := needMerchant(ctx, r.Msg.Merchant); err != nil {
		return nil, err
	}
	c, err := s.e.Card(ctx, r.Msg.Card)
	if err == nil && c.MerchantId != r.Msg.Merchant {
		return nil, denied("another merchant's card")
	}
	if err != nil {
		return nil, engineError(err)
	}
	return respond(s.e.ExpireCard(ctx, kaquan.ExpireCard{Card: r.Msg.Card}))
}
