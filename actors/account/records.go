package account

// Record layout: what a change writes, and how Load reads the account back.

import (
	"errors"
	"fmt"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
	"google.golang.org/protobuf/proto"
)

// Load activates account id from the store: the account record, and the newest ledger entry for
// the balance.
func Load(id actors.ID, h *actors.Host) (actors.Behavior, error) {
	b := &behavior{s: State{ID: id.Num, CodeTTL: h.Settings.PaymentCodeTTL}}
	acc := &messages.Account{}
	err := h.Store.GetProto(persistence.AccountKey(id.Num), acc)
	if errors.Is(err, persistence.ErrNotFound) {
		return b, nil
	}
	if err != nil {
		return nil, err
	}
	b.s.Account = acc
	err = h.Store.Scan(persistence.LedgerPrefix(id.Num), true, func(_, v []byte) (bool, error) {
		e := &messages.LedgerEntry{}
		if err := proto.Unmarshal(v, e); err != nil {
			return false, err
		}
		b.s.Seq, b.s.Balance = e.Seq, e.BalanceAfter
		return false, nil
	})
	return b, err
}

// entries are the records change ch writes, once applied to s: a code's index record and the
// account (its codes and status live in it), or a ledger entry and its transfer index.
func entries(s *State, ch Change) []persistence.Entry {
	var es []persistence.Entry
	if ch.Code != nil {
		es = append(es, codeRecord(ch.Code), codeExpiryRecord(ch.Code))
	}
	if ch.Account != nil || ch.Code != nil || ch.Status != messages.AccountStatus_ACCOUNT_STATUS_UNSPECIFIED {
		v, err := proto.Marshal(s.Account)
		actors.Invariant(err == nil, "account marshals")
		es = append(es, persistence.Entry{Key: persistence.AccountKey(s.Account.Id), Value: v})
	}
	if e := ch.Entry; e != nil {
		v, err := proto.Marshal(e)
		actors.Invariant(err == nil, "ledger entry marshals")
		es = append(es,
			persistence.Entry{Key: persistence.LedgerKey(e.AccountId, e.Seq), Value: v},
			persistence.Entry{Key: persistence.TransferKey(e.AccountId, e.Transfer), Value: persistence.Uint64(e.Seq)})
	}
	return es
}

// codeRecord is the code index entry: it routes a payment to the payer's account and, once the
// code is used, remembers by which payment.
func codeRecord(pc *messages.PaymentCode) persistence.Entry {
	v, err := proto.Marshal(pc)
	actors.Invariant(err == nil, "payment code marshals")
	return persistence.Entry{Key: persistence.PaymentCodeKey(pc.Code), Value: v}
}

// codeExpiryRecord is the code's expiry index entry, written with every write of its code record so
// that no code record is ever left without one: the engine's sweep removes both once the code has
// expired and its grace period has passed (kaquan.Options.PaymentCodeGrace). Removing them does not
// weaken single use, which rests on the account record: a used or expired code is not among the
// account's codes, and such a code is accepted again only for the payment its record names as
// having used it; without the record it is refused.
func codeExpiryRecord(pc *messages.PaymentCode) persistence.Entry {
	return persistence.Entry{Key: persistence.CodeExpiryKey(pc.ExpiresAt, pc.Code)}
}

// readCodeRecord reads the index entry of a payment code (nil if none).
func readCodeRecord(store *persistence.Store, code string) (*messages.PaymentCode, error) {
	pc := &messages.PaymentCode{}
	err := store.GetProto(persistence.PaymentCodeKey(code), pc)
	if errors.Is(err, persistence.ErrNotFound) {
		return nil, nil
	}
	return pc, err
}

// readEntry reads the durable entry of transfer on account id, or nil (none, or a refusal).
func readEntry(store *persistence.Store, id uint64, transfer string) (*messages.LedgerEntry, error) {
	p, err := readPrior(store, id, transfer)
	return p.Entry, err
}

// readPrior reads what account id durably answered transfer: its transfer index holds the seq of
// the entry posted (8 bytes), or the refusal recorded (1 byte, a PaymentResult).
func readPrior(store *persistence.Store, id uint64, transfer string) (Prior, error) {
	v, err := store.Get(persistence.TransferKey(id, transfer))
	if errors.Is(err, persistence.ErrNotFound) {
		return Prior{}, nil
	}
	if err != nil {
		return Prior{}, err
	}
	if r, ok := persistence.ParseRefusal(v); ok {
		return Prior{Refused: messages.PaymentResult(r)}, nil
	}
	seq, ok := persistence.ParseUint64(v)
	if !ok {
		return Prior{}, fmt.Errorf("transfer %q of account %d: index value of %d bytes", transfer, id, len(v))
	}
	e := &messages.LedgerEntry{}
	if err := store.GetProto(persistence.LedgerKey(id, seq), e); err != nil {
		return Prior{}, fmt.Errorf("ledger entry %d of transfer %q: %w", seq, transfer, err)
	}
	return Prior{Entry: e}, nil
}

// refusalRecord records that account id refused transfer with r, so that a repeat of it is
// refused the same way.
func refusalRecord(id uint64, transfer string, r messages.PaymentResult) persistence.Entry {
	return persistence.Entry{Key: persistence.TransferKey(id, transfer), Value: persistence.Refusal(byte(r))}
}
