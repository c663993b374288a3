package server

import (
	"context"

	"connectrpc.com/connect"
	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/messages"
)

// Acceptances: a merchant's consent to accept another merchant's cards is the accepting
// merchant's to give, revoke and list (or the admin's); a pair may also be read by its issuer.

func (s *Server) GrantAcceptance(ctx context.Context, r *connect.Request[messages.AcceptanceRequest]) (*connect.Response[messages.Acceptance], error) {
	if err := needMerchant(ctx, r.Msg.Acceptor); err != nil {
		return nil, err
	}
	return respond(s.e.GrantAcceptance(ctx, kaquan.GrantAcceptance{Acceptor: r.Msg.Acceptor, Issuer: r.Msg.Issuer}))
}

func (s *Server) RevokeAcceptance(ctx context.Context, r *connect.Request[messages.AcceptanceRequest]) (*connect.Response[messages.Acceptance], error) {
	if err := needMerchant(ctx, r.Msg.Acceptor); err != nil {
		return nil, err
	}
	return respond(s.e.RevokeAcceptance(ctx, kaquan.RevokeAcceptance{Acceptor: r.Msg.Acceptor, Issuer: r.Msg.Issuer}))
}

func (s *Server) GetAcceptance(ctx context.Context, r *connect.Request[messages.AcceptanceRequest]) (*connect.Response[messages.Acceptance], error) {
	if needMerchant(ctx, r.Msg.Acceptor) != nil {
		if err := needMerchant(ctx, r.Msg.Issuer); err != nil {
			return nil, err
		}
	}
	return respond(s.e.Acceptance(ctx, r.Msg.Acceptor, r.Msg.Issuer))
}

func (s *Server) ListAcceptances(ctx context.Context, r *connect.Request[messages.ListAcceptancesRequest]) (*connect.Response[messages.ListAcceptancesResponse], error) {
	if err := needMerchant(ctx, r.Msg.Acceptor); err != nil {
		return nil, err
	}
	list, err := s.e.Acceptances(ctx, r.Msg.Acceptor)
	return respond(&messages.ListAcceptancesResponse{Acceptances: list}, err)
}
