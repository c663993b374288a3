package kaquan

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/actors/card"
	"github.com/kaquan/kaquan/actors/slot"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
)

// CardState is where a card is in its life.
type CardState = messages.CardState

// The card states.
const (
	CardAvailable = messages.CardState_CARD_STATE_AVAILABLE
	CardReserved  = messages.CardState_CARD_STATE_RESERVED // held by a payment under way
	CardUsed      = messages.CardState_CARD_STATE_USED
	CardExpired   = messages.CardState_CARD_STATE_EXPIRED
	CardVoid      = messages.CardState_CARD_STATE_VOID
	CardGifting   = messages.CardState_CARD_STATE_GIFTING // offered, waiting for the receiver
	CardShared    = messages.CardState_CARD_STATE_SHARED  // in its owner's pool
)

// CardReason says why a card refused to be used (CardError.Reason).
type CardReason = messages.CardReason

// The reasons a card refuses.
const (
	CardReasonNotOwner            = messages.CardReason_CARD_REASON_NOT_OWNER
	CardReasonNotAvailable        = messages.CardReason_CARD_REASON_NOT_AVAILABLE
	CardReasonNotYetValid         = messages.CardReason_CARD_REASON_NOT_YET_VALID
	CardReasonExpired             = messages.CardReason_CARD_REASON_EXPIRED
	CardReasonMerchantNotAccepted = messages.CardReason_CARD_REASON_MERCHANT_NOT_ACCEPTED
	CardReasonBelowLeastCost      = messages.CardReason_CARD_REASON_BELOW_LEAST_COST
	CardReasonUnknownCard         = messages.CardReason_CARD_REASON_UNKNOWN_CARD
)

// Card reads a card.
func (e *Engine) Card(ctx context.Context, id uint64) (*messages.Card, error) {
	return ask[*messages.Card](ctx, e, actors.CardID(id), card.Get{})
}

// CardByCode reads the card a card code names. A gifted card's old code names nothing.
func (e *Engine) CardByCode(ctx context.Context, code string) (*messages.Card, error) {
	if err := e.ownsCardCode(code); err != nil {
		return nil, err
	}
	end, err := e.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	if code == "" || len(code) > actors.NameBytesMax {
		return nil, fmt.Errorf("%w: card code", ErrUnknownEntity)
	}
	s := e.codeSlot(code, slot.Layout.SlotOfCardCode)
	v, err := e.readRecord(ctx, s, persistence.CardCodeKey(code))
	if errors.Is(err, persistence.ErrNotFound) {
		return nil, fmt.Errorf("%w: card code", ErrUnknownEntity)
	}
	if err != nil {
		return nil, err
	}
	id, ok := persistence.ParseUint64(v)
	if !ok { // another node's answer, or a damaged record: a refusal, not a crash
		return nil, fmt.Errorf("%w: card code index value of %d bytes", ErrInvalidArgument, len(v))
	}
	return e.Card(ctx, id)
}

// VoidCard withdraws an unused card; only its issuing merchant may.
type VoidCard struct {
	Merchant uint64
	Card     uint64
}

// VoidCard withdraws an unused card.
func (e *Engine) VoidCard(ctx context.Context, req VoidCard) (*messages.Card, error) {
	return ask[*messages.Card](ctx, e, actors.CardID(req.Card), card.Void{Merchant: req.Merchant})
}

// ExpireCard asks an unused card past its validity to become EXPIRED.
type ExpireCard struct {
	Card uint64
}

// ExpireCard marks an unused card past its validity EXPIRED.
func (e *Engine) ExpireCard(ctx context.Context, req ExpireCard) (*messages.Card, error) {
	return ask[*messages.Card](ctx, e, actors.CardID(req.Card), card.Expire{Now: e.now()})
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
	if e.link != nil {
		return e.clusterWallet(ctx, user)
	}
	var ids []uint64
	err = e.store.Scan(persistence.WalletPrefix(user), false, func(k, _ []byte) (bool, error) {
		ids = append(ids, persistence.WalletCardOf(k))
		return len(ids) < WalletMax, nil
	})
	return ids, err
}

// clusterWallet lists a user's cards from every node (a card's wallet entry lives with the card,
// on its template's node), merged in id order: a node that is down fails the listing
// (ErrUnavailable) rather than leave its cards out.
func (e *Engine) clusterWallet(ctx context.Context, user uint64) ([]uint64, error) {
	prefix := persistence.WalletPrefix(user)
	var ids []uint64
	for n := range e.cluster.Nodes {
		var page *messages.RecordPage
		if n == e.cluster.Ordinal {
			p, err := e.serveScan(&messages.RecordScan{Slot: n, Prefix: prefix, Limit: WalletMax})
			if err != nil {
				return nil, err
			}
			page = p.(*messages.RecordPage)
		} else {
			p, err := forwarded[*messages.RecordPage](e.ask(ctx, n, &messages.NodeCall{Op: &messages.NodeCall_Scan{Scan: &messages.RecordScan{Slot: n, Prefix: prefix, Limit: WalletMax}}}))
			if err != nil {
				return nil, err
			}
			page = p
		}
		for _, k := range page.GetKeys() {
			if len(k) != len(prefix)+8 || !bytes.HasPrefix(k, prefix) { // another node's answer: checked, not trusted
				return nil, fmt.Errorf("%w: node %d listed a key outside the wallet", ErrUnavailable, n)
			}
			ids = append(ids, persistence.WalletCardOf(k))
		}
	}
	slices.Sort(ids)
	return ids[:min(len(ids), WalletMax)], nil
}

// cardCode draws an unguessable card code.
func cardCode() string { return actors.NewCardCode() }

// WalletCards lists the cards a user holds, with their state, in id order (at most WalletMax), from
// one consistent snapshot: a card being gifted appears in exactly one wallet.
func (e *Engine) WalletCards(ctx context.Context, user uint64) ([]*messages.Card, error) {
	end, err := e.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	if e.link != nil { // card by card, each on its node: no snapshot across nodes
		ids, err := e.clusterWallet(ctx, user)
		if err != nil {
			return nil, err
		}
		cards := make([]*messages.Card, 0, len(ids))
		for _, id := range ids {
			c, err := e.Card(ctx, id)
			if err != nil {
				return nil, err
			}
			cards = append(cards, c)
		}
		return cards, nil
	}
	var cards []*messages.Card
	err = e.store.View(func(snap *persistence.Snapshot) error {
		cards = cards[:0]
		return snap.Scan(persistence.WalletPrefix(user), func(k, _ []byte) (bool, error) {
			c := &messages.Card{}
			if err := snap.GetProto(persistence.CardKey(persistence.WalletCardOf(k)), c); err != nil {
				return false, fmt.Errorf("wallet card %x: %w", k, err)
			}
			cards = append(cards, c)
			return len(cards) < WalletMax, nil
		})
	})
	return cards, err
}
