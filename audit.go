package kaquan

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
	"google.golang.org/protobuf/proto"
)

// auditProblemsMax bounds the problems an audit lists (it still counts them all).
const auditProblemsMax = 100

// AuditReport is what an audit found in one consistent snapshot of the store.
type AuditReport struct {
	Accounts      int            `json:"accounts"`
	LedgerEntries int            `json:"ledger_entries"`
	Templates     int            `json:"templates"`
	Cards         map[string]int `json:"cards"`    // by state
	Payments      map[string]int `json:"payments"` // by state
	Deposits      int64          `json:"deposits"`
	Withdrawals   int64          `json:"withdrawals"`
	Balances      int64          `json:"balances"`
	InFlight      int64          `json:"in_flight"`       // money held by payments under way
	InFlightCount int            `json:"in_flight_count"` // payments under way
	ProblemCount  int            `json:"problem_count"`
	Problems      []string       `json:"problems"`
}

// OK reports whether every invariant held.
func (r *AuditReport) OK() bool { return r.ProblemCount == 0 }

func (r *AuditReport) problem(f string, a ...any) {
	r.ProblemCount++
	if len(r.Problems) < auditProblemsMax {
		r.Problems = append(r.Problems, fmt.Sprintf(f, a...))
	}
}

func (r *AuditReport) String() string {
	verdict := "OK"
	if !r.OK() {
		verdict = fmt.Sprintf("FAILED (%d problems)", r.ProblemCount)
	}
	return fmt.Sprintf("audit %s: %d accounts, %d ledger entries, %d templates, cards %v, payments %v; "+
		"deposits %d - withdrawals %d = balances %d + in flight %d",
		verdict, r.Accounts, r.LedgerEntries, r.Templates, r.Cards, r.Payments, r.Deposits, r.Withdrawals, r.Balances, r.InFlight)
}

// Audit checks, on one consistent snapshot: conservation (deposits - withdrawals = balances + money
// held by payments under way), every balance against its ledger, every transfer's entries against
// its payment, stock never oversold, and every card against the payment that used or holds it.
func (e *Engine) Audit(ctx context.Context) (*AuditReport, error) {
	if err := e.usable(ctx); err != nil {
		return nil, err
	}
	r := &AuditReport{Cards: map[string]int{}, Payments: map[string]int{}}
	a := &auditor{r: r, transfers: map[string]*transferSum{}, payments: map[string]*messages.Payment{}}
	err := e.store.View(func(s *persistence.Snapshot) error {
		for _, step := range []func(*persistence.Snapshot) error{a.accounts, a.scanPayments, a.templates, a.cards} {
			if err := step(s); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	a.settle()
	return r, nil
}

type transferSum struct {
	pay, rev, ref          int64
	payEntries, refEntries int
}

type auditor struct {
	r         *AuditReport
	transfers map[string]*transferSum // by payment key
	payments  map[string]*messages.Payment
}

// accounts walks every account's ledger.
func (a *auditor) accounts(s *persistence.Snapshot) error {
	return s.Scan([]byte{persistence.PrefixAccount}, func(k, v []byte) (bool, error) {
		acc := &messages.Account{}
		if err := proto.Unmarshal(v, acc); err != nil {
			return false, fmt.Errorf("account %x: %w", k, err)
		}
		a.r.Accounts++
		return true, a.ledger(s, acc.Id)
	})
}

func (a *auditor) ledger(s *persistence.Snapshot, account uint64) error {
	var seq uint64
	var balance int64
	err := s.Scan(persistence.LedgerPrefix(account), func(k, v []byte) (bool, error) {
		en := &messages.LedgerEntry{}
		if err := proto.Unmarshal(v, en); err != nil {
			return false, fmt.Errorf("ledger %x: %w", k, err)
		}
		a.r.LedgerEntries++
		seq++
		balance += en.Amount
		if en.Seq != seq || en.BalanceAfter != balance || balance < 0 {
			a.r.problem("account %d entry %d: seq/balance %d/%d, ledger says %d/%d", account, en.Seq, en.Seq, en.BalanceAfter, seq, balance)
			seq, balance = en.Seq, en.BalanceAfter
		}
		ok, err := s.Has(persistence.TransferKey(account, en.Transfer))
		if err != nil {
			return false, err
		}
		if !ok {
			a.r.problem("account %d entry %d: transfer %q not indexed", account, en.Seq, en.Transfer)
		}
		a.entry(en)
		return true, nil
	})
	a.r.Balances += balance
	return err
}

func (a *auditor) entry(en *messages.LedgerEntry) {
	switch en.Kind {
	case messages.EntryKind_ENTRY_KIND_DEPOSIT:
		a.r.Deposits += en.Amount
		return
	case messages.EntryKind_ENTRY_KIND_WITHDRAWAL:
		a.r.Withdrawals -= en.Amount
		return
	}
	kind, key, ok := strings.Cut(en.Transfer, ":")
	if !ok {
		a.r.problem("entry of account %d: transfer %q names no payment", en.AccountId, en.Transfer)
		return
	}
	t := a.transfers[key]
	if t == nil {
		t = &transferSum{}
		a.transfers[key] = t
	}
	switch kind {
	case "pay":
		t.pay += en.Amount
		t.payEntries++
	case "rev":
		t.rev += en.Amount
	case "ref":
		t.ref += en.Amount
		t.refEntries++
	default:
		a.r.problem("entry of account %d: transfer kind %q", en.AccountId, kind)
	}
}

func (a *auditor) scanPayments(s *persistence.Snapshot) error {
	return s.Scan([]byte{persistence.PrefixPayment}, func(k, v []byte) (bool, error) {
		p := &messages.Payment{}
		if err := proto.Unmarshal(v, p); err != nil {
			return false, fmt.Errorf("payment %q: %w", k[1:], err)
		}
		a.r.Payments[shortState(p.State.String())]++
		a.payments[p.Key] = p
		return true, nil
	})
}

func (a *auditor) templates(s *persistence.Snapshot) error {
	return s.Scan([]byte{persistence.PrefixTemplate}, func(k, v []byte) (bool, error) {
		t := &messages.Template{}
		if err := proto.Unmarshal(v, t); err != nil {
			return false, fmt.Errorf("template %x: %w", k, err)
		}
		a.r.Templates++
		if t.Issued > t.StockTotal {
			a.r.problem("template %d: %d cards issued from a stock of %d", t.Id, t.Issued, t.StockTotal)
		}
		prefix := binary.BigEndian.AppendUint64([]byte{persistence.PrefixCard}, t.Id<<32)[:5]
		n := uint32(0)
		err := s.Scan(prefix, func(_, _ []byte) (bool, error) { n++; return true, nil })
		if n != t.Issued {
			a.r.problem("template %d: %d cards exist, %d issued", t.Id, n, t.Issued)
		}
		return true, err
	})
}

func (a *auditor) cards(s *persistence.Snapshot) error {
	return s.Scan([]byte{persistence.PrefixCard}, func(k, v []byte) (bool, error) {
		c := &messages.Card{}
		if err := proto.Unmarshal(v, c); err != nil {
			return false, fmt.Errorf("card %x: %w", k, err)
		}
		a.r.Cards[shortState(c.State.String())]++
		p := a.payments[c.Payment]
		switch c.State {
		case messages.CardState_CARD_STATE_USED:
			if p == nil || p.CardId != c.Id || p.State != messages.PaymentState_PAYMENT_STATE_COMPLETED {
				a.r.problem("card %d USED without its completed payment %q", c.Id, c.Payment)
			}
		case messages.CardState_CARD_STATE_RESERVED:
			if p != nil && p.State != messages.PaymentState_PAYMENT_STATE_STARTED {
				a.r.problem("card %d RESERVED by payment %q in state %s", c.Id, c.Payment, p.State)
			}
		}
		return true, nil
	})
}

// settle checks every payment against its ledger entries and sums the money in flight.
func (a *auditor) settle() {
	for key, p := range a.payments {
		t := a.transfers[key]
		if t == nil {
			t = &transferSum{}
		}
		delete(a.transfers, key)
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
	for key := range a.transfers {
		a.r.problem("ledger entries for payment %s, which does not exist", key)
	}
	if a.r.Deposits-a.r.Withdrawals != a.r.Balances+a.r.InFlight {
		a.r.problem("conservation: deposits %d - withdrawals %d != balances %d + in flight %d",
			a.r.Deposits, a.r.Withdrawals, a.r.Balances, a.r.InFlight)
	}
}

// CheckAcks adds a problem for every listed payment (merchant/key) that is not complete: each
// acknowledged payment must be COMPLETED (or REFUNDED, if refunded since).
func (e *Engine) CheckAcks(ctx context.Context, r *AuditReport, keys []string) error {
	if err := e.usable(ctx); err != nil {
		return err
	}
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return err
		}
		p := &messages.Payment{}
		err := e.store.GetProto(persistence.PaymentKey(k), p)
		switch {
		case err == persistence.ErrNotFound:
			r.problem("acknowledged payment %s does not exist", k)
		case err != nil:
			return err
		case p.State != messages.PaymentState_PAYMENT_STATE_COMPLETED && p.State != messages.PaymentState_PAYMENT_STATE_REFUNDED:
			r.problem("acknowledged payment %s is %s", k, p.State)
		}
	}
	return nil
}

func shortState(s string) string {
	if i := strings.LastIndexByte(s, '_'); i >= 0 {
		return s[i+1:]
	}
	return s
}
