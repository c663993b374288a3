package node

import (
	"fmt"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/messages"
)

// Wrap puts msg, a message between entities for entity to, into an envelope. False for a message
// no envelope carries: it has no business leaving the node.
func Wrap(to actors.ID, msg any) (*messages.EntityEnvelope, bool) {
	env := &messages.EntityEnvelope{To: &messages.EntityRef{Kind: uint32(to.Kind), Num: to.Num, Str: to.Str}}
	switch m := msg.(type) {
	case *messages.ConsumeCode:
		env.Body = &messages.EntityEnvelope_ConsumeCode{ConsumeCode: m}
	case *messages.CodeConsumed:
		env.Body = &messages.EntityEnvelope_CodeConsumed{CodeConsumed: m}
	case *messages.ReserveCard:
		env.Body = &messages.EntityEnvelope_ReserveCard{ReserveCard: m}
	case *messages.CardReserved:
		env.Body = &messages.EntityEnvelope_CardReserved{CardReserved: m}
	case *messages.UseCard:
		env.Body = &messages.EntityEnvelope_UseCard{UseCard: m}
	case *messages.ReleaseCard:
		env.Body = &messages.EntityEnvelope_ReleaseCard{ReleaseCard: m}
	case *messages.CardDone:
		env.Body = &messages.EntityEnvelope_CardDone{CardDone: m}
	case *messages.Post:
		env.Body = &messages.EntityEnvelope_Post{Post: m}
	case *messages.Posted:
		env.Body = &messages.EntityEnvelope_Posted{Posted: m}
	case *messages.FindEntry:
		env.Body = &messages.EntityEnvelope_FindEntry{FindEntry: m}
	case *messages.EntryFound:
		env.Body = &messages.EntityEnvelope_EntryFound{EntryFound: m}
	default:
		return nil, false
	}
	if isNilBody(env) {
		return nil, false
	}
	return env, true
}

// isNilBody reports a typed nil message (a (*messages.Post)(nil), say): nothing to carry.
func isNilBody(env *messages.EntityEnvelope) bool {
	_, err := Unwrap(env)
	return err != nil
}

// Refusals of an envelope (Unwrap's errors).
var (
	errNoTarget    = fmt.Errorf("envelope names no entity")
	errUnknownBody = fmt.Errorf("envelope body unknown or empty")
)

// Unwrap reads the target and the message back out of an envelope. An envelope without a target,
// or whose body is empty (a body this build does not know arrives empty), is refused.
func Unwrap(env *messages.EntityEnvelope) (Delivery, error) {
	to := env.GetTo()
	if to == nil {
		return Delivery{}, errNoTarget
	}
	if to.Kind == 0 || to.Kind > 0xff {
		return Delivery{}, fmt.Errorf("%w: kind %d", errNoTarget, to.Kind)
	}
	var msg any
	ok := false
	switch b := env.GetBody().(type) {
	case *messages.EntityEnvelope_ConsumeCode:
		msg, ok = b.ConsumeCode, b.ConsumeCode != nil
	case *messages.EntityEnvelope_CodeConsumed:
		msg, ok = b.CodeConsumed, b.CodeConsumed != nil
	case *messages.EntityEnvelope_ReserveCard:
		msg, ok = b.ReserveCard, b.ReserveCard != nil
	case *messages.EntityEnvelope_CardReserved:
		msg, ok = b.CardReserved, b.CardReserved != nil
	case *messages.EntityEnvelope_UseCard:
		msg, ok = b.UseCard, b.UseCard != nil
	case *messages.EntityEnvelope_ReleaseCard:
		msg, ok = b.ReleaseCard, b.ReleaseCard != nil
	case *messages.EntityEnvelope_CardDone:
		msg, ok = b.CardDone, b.CardDone != nil
	case *messages.EntityEnvelope_Post:
		msg, ok = b.Post, b.Post != nil
	case *messages.EntityEnvelope_Posted:
		msg, ok = b.Posted, b.Posted != nil
	case *messages.EntityEnvelope_FindEntry:
		msg, ok = b.FindEntry, b.FindEntry != nil
	case *messages.EntityEnvelope_EntryFound:
		msg, ok = b.EntryFound, b.EntryFound != nil
	}
	if !ok {
		return Delivery{}, errUnknownBody
	}
	return Delivery{To: actors.ID{Kind: actors.Kind(to.Kind), Num: to.Num, Str: to.Str}, Msg: msg}, nil
}

// Delivery is an envelope's content: the message and the entity it is for.
type Delivery struct {
	To  actors.ID
	Msg any
}
