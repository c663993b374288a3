package kaquan

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
	"google.golang.org/protobuf/proto"
)

// The kinds of a payment's transfers: its payment, the reversal of a debit, its refund.
var transferKinds = []string{"pay", "rev", "ref"}

// leg is one account's entry of a transfer, as its transfer index names it.
type leg struct {
	account uint64
	amount  int64
	posted  bool // false: no entry (none indexed, or a refusal)
}

// transferSum is what a payment's ledger entries add up to, by kind, and each transfer's legs:
// the payer's and the merchant's.
type transferSum struct {
	pay, rev, ref          int64
	payEntries, refEntries int
	payer, merchant        map[string]leg // by kind
}

func (t *transferSum) add(kind string, amount int64) {
	switch kind {
	case "pay":
		t.pay += amount
		t.payEntries++
	case "rev":
		t.rev += amount
	case "ref":
		t.ref += amount
		t.refEntries++
	}
}

// paymentOf reads payment key from s, or nil if there is none.
func paymentOf(s *persistence.Snapshot, key string) (*messages.Payment, error) {
	p := &messages.Payment{}
	err := s.GetProto(persistence.PaymentKey(key), p)
	if errors.Is(err, persistence.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("payment %q: %w", key, err)
	}
	return p, nil
}

// entry counts a ledger entry: a deposit or withdrawal into the totals; a payment's entry is
// checked to belong to a payment that exists, in its payer's or merchant's account (the payment
// scan sums those accounts' entries, so an entry anywhere else would go uncounted).
func (a *auditor) entry(s *persistence.Snapshot, en *messages.LedgerEntry) error {
	switch en.Kind {
	case messages.EntryKind_ENTRY_KIND_DEPOSIT:
		a.r.Deposits += en.Amount
		return nil
	case messages.EntryKind_ENTRY_KIND_WITHDRAWAL:
		a.r.Withdrawals -= en.Amount
		return nil
	}
	kind, key, ok := strings.Cut(en.Transfer, ":")
	if !ok {
		a.r.problem("entry of account %d: transfer %q names no payment", en.AccountId, en.Transfer)
		return nil
	}
	if !slices.Contains(transferKinds, kind) {
		a.r.problem("entry of account %d: transfer kind %q", en.AccountId, kind)
		return nil
	}
	p, err := paymentOf(a.ofPayment(s, key), key)
	switch {
	case err != nil:
		return err
	case p == nil:
		if !a.missing[key] {
			a.missing[key] = true
			a.r.problem("ledger entries for payment %s, which does not exist%s", key, a.onNode(a.slotOfPayment(key)))
		}
	case en.AccountId != p.PayerAccount && en.AccountId != p.MerchantAccount:
		a.r.problem("entry %d of account %d for payment %s, whose accounts are %d and %d", en.Seq, en.AccountId, key, p.PayerAccount, p.MerchantAccount)
	}
	return nil
}

// payments checks every payment against its ledger entries, found through the transfer indexes of
// its payer's and merchant's accounts (on their nodes), and against its card; and sums the money
// in flight.
func (a *auditor) payments(s *persistence.Snapshot) error {
	return a.scan(s, []byte{persistence.PrefixPayment}, func(k, v []byte) (bool, error) {
		p := &messages.Payment{}
		if err := proto.Unmarshal(v, p); err != nil {
			return false, fmt.Errorf("payment %q: %w", k[1:], err)
		}
		a.r.Payments[shortState(p.State.String())]++
		if sl, ok := a.slotOfPayment(p.Key); ok {
			a.placed("payment", p.Key, sl)
		} else if a.cluster != nil {
			a.r.problem("payment %q names no merchant: it has no slot", p.Key)
		}
		t, err := a.transfers(s, p)
		if err != nil {
			return false, err
		}
		a.settle(p, t)
		return true, a.usedCard(s, p)
	})
}

// usedCard checks that the card of a COMPLETED payment is USED by it (the card's own check is
// the converse: a card USED by a payment that is not COMPLETED).
func (a *auditor) usedCard(s *persistence.Snapshot, p *messages.Payment) error {
	if p.CardId == 0 || p.State != messages.PaymentState_PAYMENT_STATE_COMPLETED {
		return nil
	}
	c := &messages.Card{}
	err := a.ofCard(s, p.CardId).GetProto(persistence.CardKey(p.CardId), c)
	switch {
	case errors.Is(err, persistence.ErrNotFound):
		a.r.problem("payment %s COMPLETED with card %d, which does not exist%s", p.Key, p.CardId, a.onNode(a.slots().OfCard(p.CardId), true))
	case err != nil:
		return fmt.Errorf("card %d: %w", p.CardId, err)
	case c.State != messages.CardState_CARD_STATE_USED || c.Payment != p.Key:
		a.r.problem("payment %s COMPLETED with card %d, which is %s by %q", p.Key, p.CardId, c.State, c.Payment)
	}
	return nil
}

// transfers sums payment p's ledger entries, each read on its account's node.
func (a *auditor) transfers(s *persistence.Snapshot, p *messages.Payment) (*transferSum, error) {
	t := &transferSum{payer: map[string]leg{}, merchant: map[string]leg{}}
	accounts := []uint64{p.PayerAccount, p.MerchantAccount}
	if p.MerchantAccount == p.PayerAccount {
		accounts = accounts[:1]
	}
	for i, acc := range accounts {
		if acc == 0 {
			continue
		}
		legs := t.payer
		if i == 1 {
			legs = t.merchant
		}
		for _, kind := range transferKinds {
			l, err := a.leg(a.ofAccount(s, acc), acc, kind+":"+p.Key)
			if err != nil {
				return nil, err
			}
			legs[kind] = l
			if l.posted {
				t.add(kind, l.amount)
			}
		}
	}
	return t, nil
}

// leg reads account acc's entry of transfer from s, the snapshot of the account's node.
func (a *auditor) leg(s *persistence.Snapshot, acc uint64, transfer string) (leg, error) {
	l := leg{account: acc}
	v, err := s.Get(persistence.TransferKey(acc, transfer))
	if errors.Is(err, persistence.ErrNotFound) {
		return l, nil
	}
	if err != nil {
		return l, fmt.Errorf("transfer %q of account %d: %w", transfer, acc, err)
	}
	seq, ok := persistence.ParseUint64(v)
	if !ok {
		return l, nil // a refusal (transferIndexes counts it): the account holds no entry of it
	}
	en := &messages.LedgerEntry{}
	err = s.GetProto(persistence.LedgerKey(acc, seq), en)
	if errors.Is(err, persistence.ErrNotFound) || (err == nil && en.Transfer != transfer) {
		a.r.problem("account %d: transfer %q indexes entry %d, which is not its entry", acc, transfer, seq)
		return l, nil
	}
	if err != nil {
		return l, fmt.Errorf("entry %d of account %d: %w", seq, acc, err)
	}
	l.amount, l.posted = en.Amount, true
	return l, nil
}

// settle checks payment p against the sum of its entries and adds what it holds to the money in flight.
func (a *auditor) settle(p *messages.Payment, t *transferSum) {
	key := p.Key
	held := -(t.pay + t.rev + t.ref)
	switch p.State {
	case messages.PaymentState_PAYMENT_STATE_STARTED, messages.PaymentState_PAYMENT_STATE_REFUNDING:
		a.r.InFlightCount++
		a.r.InFlight += held
		if held < 0 {
			a.r.problem("payment %s in flight created %d", key, -held)
		}
		return
	}
	if !a.paired(p, t) {
		return // reported: a leg missing or unequal says more than the sums would
	}
	switch p.State {
	case messages.PaymentState_PAYMENT_STATE_COMPLETED:
		if t.pay != 0 || t.rev != 0 || t.ref != 0 || (p.Charged > 0) != (t.payEntries == 2) {
			a.r.problem("payment %s COMPLETED with entries pay %d rev %d ref %d (%d pay entries)", key, t.pay, t.rev, t.ref, t.payEntries)
		}
	case messages.PaymentState_PAYMENT_STATE_REFUNDED:
		if t.pay != 0 || t.rev != 0 || t.ref != 0 || (p.Charged > 0) != (t.refEntries == 2) {
			a.r.problem("payment %s REFUNDED with entries pay %d rev %d ref %d (%d refund entries)", key, t.pay, t.rev, t.ref, t.refEntries)
		}
	case messages.PaymentState_PAYMENT_STATE_FAILED:
		if held != 0 || t.payEntries > 1 || t.ref != 0 {
			a.r.problem("payment %s FAILED but holds %d (%d pay entries)", key, held, t.payEntries)
		}
	default:
		a.r.problem("payment %s in state %s", key, p.State)
	}
}

// paired checks the legs of finished payment p's transfers, wherever they are: each transfer has
// both legs with opposite amounts, or none; but for a payment debit reversed, whose payer leg the
// reversal cancels (its credit never came). A payment between two legs of one account is not
// checked here (its one index cannot tell them apart).
func (a *auditor) paired(p *messages.Payment, t *transferSum) bool {
	if p.PayerAccount == p.MerchantAccount {
		return true
	}
	debit, credit, reversal := t.payer["pay"], t.merchant["pay"], t.payer["rev"]
	payOK := a.pair(p, "pay", debit, credit, reversal.posted)
	ok := a.pair(p, "ref", t.merchant["ref"], t.payer["ref"], false) && payOK
	switch {
	case t.merchant["rev"].posted:
		a.r.problem("payment %s: reversal rev:%s has a leg on the merchant's %s", p.Key, p.Key, a.where(p.MerchantAccount))
	case reversal.posted && (!debit.posted || credit.posted):
		a.r.problem("payment %s: reversal rev:%s of %d on %s, but no debit left alone to reverse (debit posted %v, credit posted %v)",
			p.Key, p.Key, reversal.amount, a.where(p.PayerAccount), debit.posted, credit.posted)
	case reversal.posted && reversal.amount != -debit.amount:
		a.r.problem("payment %s: reversal rev:%s of %d for a debit of %d on %s", p.Key, p.Key, reversal.amount, debit.amount, a.where(p.PayerAccount))
	default:
		return ok
	}
	return false
}

// pair checks the two legs of transfer kind:p.Key, from and to (reversed: from's leg alone is
// undone by a reversal, which paired checks).
func (a *auditor) pair(p *messages.Payment, kind string, from, to leg, reversed bool) bool {
	transfer := kind + ":" + p.Key
	switch {
	case from.posted && to.posted && from.amount != -to.amount:
		a.r.problem("payment %s: transfer %s has unequal legs: %d on %s, %d on %s", p.Key, transfer, from.amount, a.where(from.account), to.amount, a.where(to.account))
	case from.posted == to.posted, from.posted && reversed:
		return true
	case from.posted:
		a.r.problem("payment %s (%s): transfer %s misses a leg: %d on %s, none on %s", p.Key, shortState(p.State.String()), transfer, from.amount, a.where(from.account), a.where(to.account))
	default:
		a.r.problem("payment %s (%s): transfer %s misses a leg: %d on %s, none on %s", p.Key, shortState(p.State.String()), transfer, to.amount, a.where(to.account), a.where(from.account))
	}
	return false
}
