package kaquan

import (
	"context"
	"errors"
	"fmt"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/actors/template"
	"github.com/kaquan/kaquan/messages"
	"google.golang.org/protobuf/proto"
)

// TemplateKind is how a template's cards discount: a fixed amount off from a least cost (cash), or
// a percentage off, optionally capped (discount).
type TemplateKind = messages.TemplateKind

// The template kinds.
const (
	TemplateCash     = messages.TemplateKind_TEMPLATE_KIND_CASH
	TemplateDiscount = messages.TemplateKind_TEMPLATE_KIND_DISCOUNT
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
	if err := e.checkKind(ctx, t.MerchantId, PartyMerchant); err != nil {
		return nil, err
	}
	if r := t.RewardTemplate; r != 0 && r != t.Id {
		if err := e.checkRewardTemplate(ctx, r, t.MerchantId); err != nil {
			return nil, err
		}
	}
	return ask[*messages.Template](ctx, e, actors.TemplateID(t.Id), template.Create{Template: proto.Clone(t).(*messages.Template), Now: e.now()})
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
	return ask[*messages.Template](ctx, e, actors.TemplateID(id), template.Get{})
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
	if err := e.checkKind(ctx, req.User, PartyUser); err != nil {
		return nil, err
	}
	c, err := ask[*messages.Card](ctx, e, actors.TemplateID(req.Template), template.Claim{User: req.User, Code: e.newCardCode(req.Template << 32), Now: e.now()})
	if errors.Is(err, ErrStockExhausted) {
		e.soldOut.put(req.Template, struct{}{})
	}
	return c, err
}
