package bench

import (
	"context"

	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/messages"
)

// API is what the scenarios use: the embedded engine (Local) or a server over the network
// (Remote), so the same workload measures both.
type API interface {
	CreateParty(ctx context.Context, req kaquan.CreateParty) (*messages.Party, error)
	CreateAccount(ctx context.Context, req kaquan.CreateAccount) (*messages.Account, error)
	Deposit(ctx context.Context, req kaquan.Deposit) (*messages.LedgerEntry, error)
	CreateTemplate(ctx context.Context, t *messages.Template) (*messages.Template, error)
	Claim(ctx context.Context, req kaquan.Claim) (*messages.Card, error)
	IssuePaymentCode(ctx context.Context, req kaquan.IssuePaymentCode) (*messages.PaymentCode, error)
	Pay(ctx context.Context, req kaquan.Pay) (kaquan.PaymentOutcome, error)
	Gift(ctx context.Context, req kaquan.Gift) (*messages.Card, error)
	WalletCards(ctx context.Context, user uint64) ([]*messages.Card, error)
	SetNotifySecret(ctx context.Context, req kaquan.SetNotifySecret) error
	AddContact(ctx context.Context, req kaquan.ContactPair) error
	Share(ctx context.Context, req kaquan.Share) (*messages.Card, error)
	ContactPools(ctx context.Context, viewer uint64, cursor string, limit int) (*kaquan.PoolPage, error)
	ClaimShared(ctx context.Context, req kaquan.ClaimShared) (*messages.Card, error)
	ConfirmUse(ctx context.Context, n kaquan.UseNotification) (*messages.Reward, error)
	// AuditSummary runs the audit: whether it held, and its one-line summary.
	AuditSummary(ctx context.Context) (bool, string, error)
	// ImageStats measures the gift images stored (zero over the network).
	ImageStats(ctx context.Context) (kaquan.ImageStats, error)
}

// Local is the embedded engine as an API.
type Local struct{ *kaquan.Engine }

// AuditSummary runs the engine's audit.
func (l Local) AuditSummary(ctx context.Context) (bool, string, error) {
	r, err := l.Audit(ctx)
	if err != nil {
		return false, "", err
	}
	return r.OK(), r.String(), nil
}
