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

// transferSum is what a payment's ledger entries add up to, by kind.
type transferSum struct {
	pay, rev, ref          int64
	payEntries, refEntries int
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
	p, err := paymentOf(s, key)
	switch {
	case err != nil:
		return err
	case p == nil:
		if !a.missing[key] {
			a.missing[key] = true
			a.r.problem("ledger entries for payment %s, which does not exist", key)
		}
	case en.AccountId != p.PayerAccount && en.AccountId != p.MerchantAccount:
		a.r.problem("entry %d of account %d for payment %s, whose accounts are %d and %d", en.Seq, en.AccountId, key, p.PayerAccount, p.MerchantAccount)
	}
	return nil
}

// payments checks every payment against its ledger entries, found through the transfer indexes of
// its payer's and merchant's accounts, and sums the money in flight.
func (a *auditor) payments(s *persistence.Snapshot) error {
	return a.scan(s, []byte{persistence.PrefixPayment}, func(k, v []byte) (bool, error) {
		p := &messages.Payment{}
		if err := proto.Unmarshal(v, p); err != nil {
			return false, fmt.Errorf("payment %q: %w", k[1:], err)
		}
		a.r.Payments[shortState(p.State.String())]++
		t, err := a.transfers(s, p)
		if err != nil {
			return false, err
		}
		a.settle(p, t)
		return true, nil
	})
}

// transfers sums payment p's ledger entries.
func (a *auditor) transfers(s *persistence.Snapshot, p *messages.Payment) (*transferSum, error) {
	t := &transferSum{}
	accounts := []uint64{p.PayerAccount, p.MerchantAccount}
	if p.MerchantAccount == p.PayerAccount {
		accounts = accounts[:1]
	}
	for _, acc := range accounts {
		if acc == 0 {
			continue
		}
		for _, kind := range transferKinds {
			transfer := kind + ":" + p.Key
			v, err := s.Get(persistence.TransferKey(acc, transfer))
			if errors.Is(err, persistence.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("transfer %q of account %d: %w", transfer, acc, err)
			}
			if _, refused := persistence.ParseRefusal(v); refused {
				continue // refused or fenced here: no entry
			}
			seq, _ := persistence.ParseUint64(v)
			en := &messages.LedgerEntry{}
			err = s.GetProto(persistence.LedgerKey(acc, seq), en)
			if errors.Is(err, persistence.ErrNotFound) || (err == nil && en.Transfer != transfer) {
				a.r.problem("account %d: transfer %q indexes entry %d, which is not its entry", acc, transfer, seq)
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("entry %d of account %d: %w", seq, acc, err)
			}
			t.add(kind, en.Amount)
		}
	}
	return t, nil
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
