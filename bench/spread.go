package bench

import (
	"context"
	"sync/atomic"

	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/messages"
)

// Spread is the nodes of a cluster as one API: each call goes to the next node in turn, so the
// clients' calls are spread over every node (which forwards what it does not own). The audit is
// not run over the network: each node's own audit sees a payment's records on the other nodes as
// missing; run `kaquan audit --data D0 --data D1 ...` on the stopped nodes' folders instead.
type Spread struct {
	nodes []API
	next  atomic.Uint64
}

// NewSpread spreads calls over nodes.
func NewSpread(nodes ...API) *Spread { return &Spread{nodes: nodes} }

func (s *Spread) pick() API { return s.nodes[s.next.Add(1)%uint64(len(s.nodes))] }

func (s *Spread) CreateParty(ctx context.Context, q kaquan.CreateParty) (*messages.Party, error) {
	return s.pick().CreateParty(ctx, q)
}

func (s *Spread) CreateAccount(ctx context.Context, q kaquan.CreateAccount) (*messages.Account, error) {
	return s.pick().CreateAccount(ctx, q)
}

func (s *Spread) Deposit(ctx context.Context, q kaquan.Deposit) (*messages.LedgerEntry, error) {
	return s.pick().Deposit(ctx, q)
}

func (s *Spread) CreateTemplate(ctx context.Context, t *messages.Template) (*messages.Template, error) {
	return s.pick().CreateTemplate(ctx, t)
}

func (s *Spread) Claim(ctx context.Context, q kaquan.Claim) (*messages.Card, error) {
	return s.pick().Claim(ctx, q)
}

func (s *Spread) IssuePaymentCode(ctx context.Context, q kaquan.IssuePaymentCode) (*messages.PaymentCode, error) {
	return s.pick().IssuePaymentCode(ctx, q)
}

func (s *Spread) Pay(ctx context.Context, q kaquan.Pay) (kaquan.PaymentOutcome, error) {
	return s.pick().Pay(ctx, q)
}

func (s *Spread) Gift(ctx context.Context, q kaquan.Gift) (*messages.Card, error) {
	return s.pick().Gift(ctx, q)
}

func (s *Spread) WalletCards(ctx context.Context, user uint64) ([]*messages.Card, error) {
	return s.pick().WalletCards(ctx, user)
}

func (s *Spread) SetNotifySecret(ctx context.Context, q kaquan.SetNotifySecret) error {
	return s.pick().SetNotifySecret(ctx, q)
}

func (s *Spread) AddContact(ctx context.Context, q kaquan.ContactPair) error {
	return s.pick().AddContact(ctx, q)
}

func (s *Spread) Share(ctx context.Context, q kaquan.Share) (*messages.Card, error) {
	return s.pick().Share(ctx, q)
}

func (s *Spread) ContactPools(ctx context.Context, viewer uint64, cursor string, limit int) (*kaquan.PoolPage, error) {
	return s.pick().ContactPools(ctx, viewer, cursor, limit)
}

func (s *Spread) ClaimShared(ctx context.Context, q kaquan.ClaimShared) (*messages.Card, error) {
	return s.pick().ClaimShared(ctx, q)
}

func (s *Spread) ConfirmUse(ctx context.Context, n kaquan.UseNotification) (*messages.Reward, error) {
	return s.pick().ConfirmUse(ctx, n)
}

// AuditSummary reports that the audit of a cluster runs offline (see Spread).
func (s *Spread) AuditSummary(context.Context) (bool, string, error) {
	return true, "audit: not run over a cluster; stop the nodes and run kaquan audit --data D0 --data D1 ...", nil
}

func (s *Spread) ImageStats(context.Context) (kaquan.ImageStats, error) {
	return kaquan.ImageStats{}, nil
}
