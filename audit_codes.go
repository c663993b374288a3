package kaquan

import (
	"errors"
	"fmt"

	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
	"google.golang.org/protobuf/proto"
)

// paymentCodes checks the payment code records against their expiry index, one to one, so that
// every record is removed in its time (a record without its entry would stay forever), and every
// used code against the payment that used it, if that payment was recorded (a crash can cut in
// between the code's use and the payment's first record). A payment's code record is not required
// to exist: it is removed once its grace period has passed, and the same code may have been issued
// again since.
func (a *auditor) paymentCodes(s *persistence.Snapshot) error {
	err := a.scan(s, []byte{persistence.PrefixPaymentCode}, func(k, v []byte) (bool, error) {
		pc := &messages.PaymentCode{}
		if err := proto.Unmarshal(v, pc); err != nil {
			return false, fmt.Errorf("payment code %q: %w", k[1:], err)
		}
		a.r.PaymentCodes++
		if sl, ok := a.slots().SlotOfPaymentCode(pc.Code); ok {
			a.placed("payment code of account", pc.AccountId, sl)
		}
		indexed, err := s.Has(persistence.CodeExpiryKey(pc.ExpiresAt, pc.Code))
		if err != nil {
			return false, err
		}
		if !indexed {
			a.r.problem("payment code %s has no expiry index entry: it would never be removed", pc.Code)
		}
		if pc.UsedBy == "" {
			return true, nil
		}
		// The payment may hold another code: a crash after this code's use and before the payment's
		// first record leaves the key free (nothing moved), and a retry with a new code takes it.
		// A payment that holds this code must hold its account too.
		p, err := paymentOf(a.ofPayment(s, pc.UsedBy), pc.UsedBy)
		if err == nil && p != nil && p.Code == pc.Code && p.PayerAccount != pc.AccountId {
			a.r.problem("payment code %s of account %d was used by payment %s, which names account %d", pc.Code, pc.AccountId, p.Key, p.PayerAccount)
		}
		return err == nil, err
	})
	if err != nil {
		return err
	}
	return a.scan(s, []byte{persistence.PrefixCodeExpiry}, func(k, _ []byte) (bool, error) {
		expiresAt, code := persistence.CodeExpiryOf(k)
		pc := &messages.PaymentCode{}
		err := s.GetProto(persistence.PaymentCodeKey(code), pc)
		switch {
		case errors.Is(err, persistence.ErrNotFound):
			a.r.problem("expiry index entry of payment code %s, which has no record", code)
		case err != nil:
			return false, fmt.Errorf("payment code %q: %w", code, err)
		case pc.ExpiresAt != expiresAt:
			a.r.problem("expiry index entry of payment code %s at %d, its record expires at %d", code, expiresAt, pc.ExpiresAt)
		}
		return true, nil
	})
}
