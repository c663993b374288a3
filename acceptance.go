package kaquan

import (
	"context"
	"errors"
	"fmt"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
	"google.golang.org/protobuf/proto"
)

// AcceptanceState is whether a merchant's acceptance of another merchant's cards stands.
type AcceptanceState = messages.AcceptanceState

// The acceptance states.
const (
	AcceptanceGranted = messages.AcceptanceState_ACCEPTANCE_STATE_GRANTED
	AcceptanceRevoked = messages.AcceptanceState_ACCEPTANCE_STATE_REVOKED
)

// GrantAcceptance is merchant Acceptor agreeing to accept, at its till, the cards merchant Issuer
// issues: a template of Issuer's that lists Acceptor pays there only once Acceptor granted this.
// A merchant accepts its own cards without one.
type GrantAcceptance struct {
	Acceptor uint64
	Issuer   uint64
}

// RevokeAcceptance withdraws Acceptor's acceptance of Issuer's cards.
type RevokeAcceptance struct {
	Acceptor uint64
	Issuer   uint64
}

// GrantAcceptance records the acceptor's consent to take the issuer's cards; granting again what
// stands returns it unchanged. From the moment it returns, the issuer's cards that list the
// acceptor pay there. At most actors.AcceptancesPerMerchantMax issuers per acceptor
// (ErrLimitReached).
func (e *Engine) GrantAcceptance(ctx context.Context, req GrantAcceptance) (*messages.Acceptance, error) {
	if err := e.ownsParty(req.Acceptor); err != nil {
		return e.forwardAcceptance(ctx, err, req.Acceptor, req.Issuer, AcceptanceGranted)
	}
	return e.changeAcceptance(ctx, req.Acceptor, req.Issuer, AcceptanceGranted)
}

// RevokeAcceptance revokes the acceptor's consent: once it returns, every card of the issuer that
// reserves itself at the acceptor is refused (CardError ACCEPTANCE_REVOKED). A payment whose card
// was reserved before completes: consent is checked when the card grants its discount, as an
// authorization is. Revoking what is revoked returns it unchanged; revoking what was never
// granted is ErrUnknownEntity.
func (e *Engine) RevokeAcceptance(ctx context.Context, req RevokeAcceptance) (*messages.Acceptance, error) {
	if err := e.ownsParty(req.Acceptor); err != nil {
		return e.forwardAcceptance(ctx, err, req.Acceptor, req.Issuer, AcceptanceRevoked)
	}
	return e.changeAcceptance(ctx, req.Acceptor, req.Issuer, AcceptanceRevoked)
}

// forwardAcceptance makes a grant or revocation of another node's acceptor on that node.
func (e *Engine) forwardAcceptance(ctx context.Context, notHere error, acceptor, issuer uint64, state AcceptanceState) (*messages.Acceptance, error) {
	return forwarded[*messages.Acceptance](e.toPartyNode(ctx, notHere, acceptor, &messages.NodeCall{
		Op: &messages.NodeCall_AcceptanceChange{AcceptanceChange: &messages.AcceptanceChangeCall{Acceptor: acceptor, Issuer: issuer, State: state}}}))
}

// copyAcceptances gives every other node the acceptor's record a, where cards read it. A grant or
// revocation returns only once every node has it, so a card anywhere decides on it; a node that
// is down fails the call (ErrUnavailable), and repeating it (which changes nothing here) copies
// again.
func (e *Engine) copyAcceptances(ctx context.Context, a *messages.Acceptance) error {
	if e.link == nil || a == nil {
		return nil
	}
	for n := range e.cluster.Nodes {
		if n == e.cluster.Ordinal {
			continue
		}
		if _, err := e.ask(ctx, n, &messages.NodeCall{Op: &messages.NodeCall_AcceptanceCopy{AcceptanceCopy: &messages.AcceptanceCopyCall{Record: a}}}); err != nil {
			return fmt.Errorf("acceptance copy to node %d: %w", n, err)
		}
	}
	return nil
}

// copyAcceptance keeps, on a node that is not the acceptor's, a copy of its acceptance record.
func (e *Engine) copyAcceptance(ctx context.Context, a *messages.Acceptance) error {
	switch {
	case e.cluster == nil:
		return fmt.Errorf("%w: not a cluster node", ErrInvalidArgument)
	case a == nil || a.Acceptor == 0 || a.Issuer == 0 || a.Acceptor == a.Issuer ||
		(a.State != AcceptanceGranted && a.State != AcceptanceRevoked):
		return fmt.Errorf("%w: acceptance record %v", ErrInvalidArgument, a)
	case e.cluster.Owns(e.cluster.OfParty(a.Acceptor)):
		return fmt.Errorf("%w: the acceptor's own node keeps the record", ErrInvalidArgument)
	}
	end, err := e.begin(ctx)
	if err != nil {
		return err
	}
	defer end()
	v, err := proto.Marshal(a)
	if err != nil {
		return err
	}
	if err := e.put(persistence.Entry{Key: persistence.AcceptanceKey(a.Acceptor, a.Issuer), Value: v}); err != nil {
		return err
	}
	e.host.Acceptances.Put(proto.Clone(a).(*messages.Acceptance))
	return nil
}

func (e *Engine) changeAcceptance(ctx context.Context, acceptor, issuer uint64, state AcceptanceState) (*messages.Acceptance, error) {
	if acceptor == issuer {
		return nil, fmt.Errorf("%w: merchant %d accepts its own cards without an acceptance", ErrInvalidArgument, acceptor)
	}
	end, err := e.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	for _, m := range []uint64{acceptor, issuer} {
		if err := e.checkKind(ctx, m, PartyMerchant); err != nil {
			return nil, err
		}
	}
	mu := e.partyLock(acceptor) // read-check-write of the acceptor's acceptances
	mu.Lock()
	defer mu.Unlock()
	old, err := e.acceptance(acceptor, issuer)
	if err != nil {
		return nil, err
	}
	next, err := e.decideAcceptance(old, acceptor, issuer, state)
	if err != nil {
		return old, err
	}
	if next == nil { // nothing changes here; a repeat copies it again (an earlier copy may have failed)
		return old, e.copyAcceptances(ctx, old)
	}
	v, err := proto.Marshal(next)
	if err != nil {
		return nil, err
	}
	if err := e.put(persistence.Entry{Key: persistence.AcceptanceKey(acceptor, issuer), Value: v}); err != nil {
		return nil, err
	}
	e.host.Acceptances.Put(next) // cards read it from now on
	out := proto.Clone(next).(*messages.Acceptance)
	return out, e.copyAcceptances(ctx, out)
}

// decideAcceptance is the acceptance after a grant or revocation of old (nil: none recorded), or
// nil when nothing changes.
func (e *Engine) decideAcceptance(old *messages.Acceptance, acceptor, issuer uint64, state AcceptanceState) (*messages.Acceptance, error) {
	switch {
	case old != nil && old.State == state:
		return nil, nil // granted or revoked already
	case old == nil && state == AcceptanceRevoked:
		return nil, fmt.Errorf("%w: merchant %d never accepted merchant %d's cards", ErrUnknownEntity, acceptor, issuer)
	case old == nil:
		n, err := e.countAcceptances(acceptor)
		if err != nil {
			return nil, err
		}
		if n >= actors.AcceptancesPerMerchantMax {
			return nil, fmt.Errorf("%w: merchant %d has %d acceptances, the most", ErrLimitReached, acceptor, n)
		}
		old = &messages.Acceptance{Acceptor: acceptor, Issuer: issuer}
	}
	next := proto.Clone(old).(*messages.Acceptance)
	next.State = state
	if state == AcceptanceGranted {
		next.GrantedAt = e.now()
	} else {
		next.RevokedAt = e.now()
	}
	return next, nil
}

func (e *Engine) countAcceptances(acceptor uint64) (int, error) {
	n := 0
	err := e.store.Scan(persistence.AcceptancePrefix(acceptor), false, func(_, _ []byte) (bool, error) { n++; return true, nil })
	return n, err
}

// acceptance reads acceptor's acceptance of issuer's cards from the store (nil: none recorded).
func (e *Engine) acceptance(acceptor, issuer uint64) (*messages.Acceptance, error) {
	a := &messages.Acceptance{}
	err := e.store.GetProto(persistence.AcceptanceKey(acceptor, issuer), a)
	if errors.Is(err, persistence.ErrNotFound) {
		return nil, nil
	}
	return a, err
}

// Acceptance reads acceptor's acceptance of issuer's cards, granted or revoked; ErrUnknownEntity
// when none was ever granted (and for a merchant and itself: it needs none).
func (e *Engine) Acceptance(ctx context.Context, acceptor, issuer uint64) (*messages.Acceptance, error) {
	if err := e.ownsParty(acceptor); err != nil {
		return nil, err
	}
	end, err := e.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	a, err := e.acceptance(acceptor, issuer)
	if err == nil && a == nil {
		err = fmt.Errorf("%w: no acceptance of merchant %d's cards by merchant %d", ErrUnknownEntity, issuer, acceptor)
	}
	if err != nil {
		return nil, err
	}
	return a, nil
}

// Acceptances lists the acceptances merchant acceptor recorded, granted and revoked, by issuer id
// (at most actors.AcceptancesPerMerchantMax).
func (e *Engine) Acceptances(ctx context.Context, acceptor uint64) ([]*messages.Acceptance, error) {
	if err := e.ownsParty(acceptor); err != nil {
		return nil, err
	}
	end, err := e.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	var list []*messages.Acceptance
	err = e.store.Scan(persistence.AcceptancePrefix(acceptor), false, func(k, v []byte) (bool, error) {
		a := &messages.Acceptance{}
		if err := proto.Unmarshal(v, a); err != nil {
			return false, fmt.Errorf("acceptance %x: %w", k, err)
		}
		list = append(list, a)
		return len(list) < actors.AcceptancesPerMerchantMax, nil
	})
	return list, err
}
