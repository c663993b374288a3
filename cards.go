package kaquan

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/actors/account"
	"github.com/kaquan/kaquan/actors/card"
	"github.com/kaquan/kaquan/actors/template"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
	"google.golang.org/protobuf/proto"
)

// CreateTemplate creates a card template for an existing merchant (t.MerchantId). Ids are the
// caller's, 1..2^32-1. Creating the same template again returns it.
func (e *Engine) CreateTemplate(ctx context.Context, t *messages.Template) (*messages.Template, error) {
	if t == nil {
		return nil, fmt.Errorf("%w: no template", ErrInvalidArgument)
	}
	if t.Id == 0 || t.Id >= 1<<32 {
		return nil, fmt.Errorf("%w: template id %d outside 1..2^32-1", ErrInvalidArgument, t.Id)
	}
	end, err := e.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	if err := e.checkKind(t.MerchantId, messages.PartyKind_PARTY_KIND_MERCHANT); err != nil {
		return nil, err
	}
	if r := t.RewardTemplate; r != 0 && r != t.Id {
		if err := e.checkRewardTemplate(ctx, r, t.MerchantId); err != nil {
			return nil, err
		}
	}
	r, err := e.call(ctx, actors.TemplateID(t.Id), template.Create{Template: proto.Clone(t).(*messages.Template), Now: e.now()})
	if err != nil {
		return nil, err
	}
	return r.(*messages.Template), nil
}

// checkRewardTemplate checks that template id exists and is merchant's: a merchant rewards with
// its own stock only.
func (e *Engine) checkRewardTemplate(ctx context.Context, id, merchant uint64) error {
	t, err := e.Template(ctx, id)
	if err != nil {
		return fmt.Errorf("reward template: %w", err)
	}
	if t.MerchantId != merchant {
		return fmt.Errorf("%w: reward template %d is another merchant's", ErrPermissionDenied, id)
	}
	return nil
}

// Template reads a template.
func (e *Engine) Template(ctx context.Context, id uint64) (*messages.Template, error) {
	r, err := e.call(ctx, actors.TemplateID(id), template.Get{})
	if err != nil {
		return nil, err
	}
	return r.(*messages.Template), nil
}

// Claim asks for one card of a template for a user.
type Claim struct {
	Template uint64
	User     uint64
}

// Claim issues a card to a user, within the template's stock and the user's limit. A sold-out
// template answers ErrStockExhausted to every claim, whoever the user (also an unknown one).
func (e *Engine) Claim(ctx context.Context, req Claim) (*messages.Card, error) {
	if req.Template == 0 || req.Template >= 1<<32 {
		return nil, fmt.Errorf("%w: template id %d", ErrUnknownEntity, req.Template)
	}
	if req.User == 0 {
		return nil, fmt.Errorf("%w: party 0", ErrUnknownEntity)
	}
	end, err := e.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	// A sold-out template refuses every claim, before the user is looked up.
	if _, ok := e.soldOut.get(req.Template); ok {
		return nil, fmt.Errorf("template %d: %w", req.Template, ErrStockExhausted)
	}
	if err := e.checkKind(req.User, messages.PartyKind_PARTY_KIND_USER); err != nil {
		return nil, err
	}
	r, err := e.call(ctx, actors.TemplateID(req.Template), template.Claim{User: req.User, Code: cardCode(), Now: e.now()})
	if errors.Is(err, ErrStockExhausted) {
		e.soldOut.put(req.Template, struct{}{})
	}
	if err != nil {
		return nil, err
	}
	return r.(*messages.Card), nil
}

// Card reads a card.
func (e *Engine) Card(ctx context.Context, id uint64) (*messages.Card, error) {
	r, err := e.call(ctx, actors.CardID(id), card.Get{})
	if err != nil {
		return nil, err
	}
	return r.(*messages.Card), nil
}

// CardByCode reads the card a card code names. A gifted card's old code names nothing.
func (e *Engine) CardByCode(ctx context.Context, code string) (*messages.Card, error) {
	end, err := e.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	if code == "" || len(code) > actors.NameBytesMax {
		return nil, fmt.Errorf("%w: card code", ErrUnknownEntity)
	}
	v, err := e.store.Get(persistence.CardCodeKey(code))
	if errors.Is(err, persistence.ErrNotFound) {
		return nil, fmt.Errorf("%w: card code", ErrUnknownEntity)
	}
	if err != nil {
		return nil, err
	}
	id, ok := persistence.ParseUint64(v)
	actors.Invariant(ok, "card code index holds a card id")
	return e.Card(ctx, id)
}

// VoidCard withdraws an unused card; only its issuing merchant may.
func (e *Engine) VoidCard(ctx context.Context, merchant, id uint64) (*messages.Card, error) {
	r, err := e.call(ctx, actors.CardID(id), card.Void{Merchant: merchant})
	if err != nil {
		return nil, err
	}
	return r.(*messages.Card), nil
}

// ExpireCard marks an unused card past its validity EXPIRED.
func (e *Engine) ExpireCard(ctx context.Context, id uint64) (*messages.Card, error) {
	r, err := e.call(ctx, actors.CardID(id), card.Expire{Now: e.now()})
	if err != nil {
		return nil, err
	}
	return r.(*messages.Card), nil
}

// WalletMax bounds one wallet listing.
const WalletMax = 1000

// Wallet lists the ids of the cards a user received, in id order (at most WalletMax).
func (e *Engine) Wallet(ctx context.Context, user uint64) ([]uint64, error) {
	end, err := e.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	var ids []uint64
	err = e.store.Scan(persistence.WalletPrefix(user), false, func(k, _ []byte) (bool, error) {
		ids = append(ids, persistence.ParseID(k, 9))
		return len(ids) < WalletMax, nil
	})
	return ids, err
}

// IssuePaymentCode asks for a payment code on a user's account, optionally naming a card.
type IssuePaymentCode struct {
	User    uint64
	Account uint64
	Card    uint64 // 0: a plain payment
}

// IssuePaymentCode issues an 18-digit, single-use payment code valid for Options.PaymentCodeTTL.
// Only a user's account pays with a code (ErrPermissionDenied otherwise).
func (e *Engine) IssuePaymentCode(ctx context.Context, req IssuePaymentCode) (*messages.PaymentCode, error) {
	for range 3 { // a collision with a live code is astronomically rare; retry with a fresh code
		r, err := e.call(ctx, actors.AccountID(req.Account), account.IssueCode{Owner: req.User, Code: paymentCode(), Card: req.Card, Now: e.now()})
		if err == nil {
			return r.(*messages.PaymentCode), nil
		}
		if !isCollision(err) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("%w: payment code collisions", ErrOverloaded)
}

// PaymentCodeInfo reads a payment code's record: its account, card, expiry and use.
func (e *Engine) PaymentCodeInfo(ctx context.Context, code string) (*messages.PaymentCode, error) {
	end, err := e.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	pc := &messages.PaymentCode{}
	err = e.store.GetProto(persistence.PaymentCodeKey(code), pc)
	if errors.Is(err, persistence.ErrNotFound) {
		return nil, fmt.Errorf("%w: payment code", ErrCodeUnknown)
	}
	return pc, err
}

func isCollision(err error) bool { return err != nil && errorsIs(err, ErrExists) }

var codeSpace = new(big.Int).Exp(big.NewInt(10), big.NewInt(actors.PaymentCodeDigits), nil)

// paymentCode draws an 18-digit code uniformly from crypto/rand (about 60 bits).
func paymentCode() string {
	n, err := rand.Int(rand.Reader, codeSpace)
	if err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return fmt.Sprintf("%0*d", actors.PaymentCodeDigits, n)
}

// cardCode draws an unguessable card code.
func cardCode() string { return actors.NewCardCode() }
