package kaquan

import (
	"errors"
	"fmt"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
	"google.golang.org/protobuf/proto"
)

// acceptances checks every acceptance record: its key names it, it joins two distinct merchants,
// its state is GRANTED or REVOKED with the time of each, and no merchant has more than
// actors.AcceptancesPerMerchantMax.
func (a *auditor) acceptances(s *persistence.Snapshot) error {
	perAcceptor, last := 0, uint64(0)
	return a.scan(s, []byte{persistence.PrefixAcceptance}, func(k, v []byte) (bool, error) {
		rec := &messages.Acceptance{}
		if err := proto.Unmarshal(v, rec); err != nil {
			return false, fmt.Errorf("acceptance %x: %w", k, err)
		}
		a.r.Acceptances++
		acceptor, issuer, ok := persistence.AcceptanceOfKey(k)
		a.placed("acceptance by merchant", acceptor, a.slots().OfParty(acceptor))
		switch {
		case !ok || acceptor != rec.Acceptor || issuer != rec.Issuer:
			a.r.problem("acceptance key %x holds the acceptance of %d by %d", k, rec.Issuer, rec.Acceptor)
		case acceptor == issuer:
			a.r.problem("acceptance of merchant %d by itself", acceptor)
		case rec.GrantedAt == 0,
			rec.State == messages.AcceptanceState_ACCEPTANCE_STATE_REVOKED && rec.RevokedAt == 0,
			rec.State != messages.AcceptanceState_ACCEPTANCE_STATE_GRANTED && rec.State != messages.AcceptanceState_ACCEPTANCE_STATE_REVOKED:
			a.r.problem("acceptance of %d by %d: %s, granted at %d, revoked at %d", issuer, acceptor, rec.State, rec.GrantedAt, rec.RevokedAt)
		}
		if acceptor != last {
			perAcceptor, last = 0, acceptor
		}
		if perAcceptor++; perAcceptor == actors.AcceptancesPerMerchantMax+1 {
			a.r.problem("merchant %d has more than %d acceptances", acceptor, actors.AcceptancesPerMerchantMax)
		}
		for _, m := range []uint64{acceptor, issuer} {
			if err := a.isMerchant(s, m, "acceptance"); err != nil {
				return false, err
			}
		}
		return true, nil
	})
}

// consent checks that card c, used or held by payment p (nil: none), was taken by p's merchant
// with the merchant's acceptance of c's issuer on record, when that merchant is not the issuer.
func (a *auditor) consent(s *persistence.Snapshot, c *messages.Card, p *messages.Payment) error {
	if p == nil || p.CardId != c.Id || p.MerchantId == c.MerchantId {
		return nil
	}
	err := a.ofParty(s, p.MerchantId).GetProto(persistence.AcceptanceKey(p.MerchantId, c.MerchantId), &messages.Acceptance{})
	if errors.Is(err, persistence.ErrNotFound) {
		a.r.problem("card %d of merchant %d taken by payment %q at merchant %d, which never accepted its cards", c.Id, c.MerchantId, p.Key, p.MerchantId)
		return nil
	}
	return err
}

// isMerchant reports a problem when party id is not a stored merchant.
func (a *auditor) isMerchant(s *persistence.Snapshot, id uint64, what string) error {
	party := &messages.Party{}
	err := a.ofParty(s, id).GetProto(persistence.PartyKey(id), party)
	if errors.Is(err, persistence.ErrNotFound) {
		a.r.problem("%s names party %d, which does not exist", what, id)
		return nil
	}
	if err == nil && party.Kind != messages.PartyKind_PARTY_KIND_MERCHANT {
		a.r.problem("%s names party %d, a %s", what, id, party.Kind)
	}
	return err
}
