package kaquan

import (
	"fmt"

	"github.com/kaquan/kaquan/messages"
)

// partyKindsMax bounds the party kinds the engine remembers. They are remembered when a party is
// created and on its first check, so a claim checking its user (every claim of a flash sale is a
// user's first) needs no store read.
const partyKindsMax = 1 << 20

// checkKind fails unless party id exists and is of kind.
func (e *Engine) checkKind(id uint64, kind messages.PartyKind) error {
	got, ok := e.kinds.get(id)
	if !ok {
		p, err := e.party(id)
		if err != nil {
			return err
		}
		got = p.Kind
		e.kinds.put(id, got)
	}
	return kindIs(id, got, kind)
}

// kindIs fails unless party id's kind got is want.
func kindIs(id uint64, got, want messages.PartyKind) error {
	if got != want {
		return fmt.Errorf("%w: party %d is a %s", ErrInvalidArgument, id, got)
	}
	return nil
}
