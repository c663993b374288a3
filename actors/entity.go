package actors

import (
	"fmt"
	"strconv"

	"github.com/asynkron/protoactor-go/actor"
)

// Kind is an entity kind: each kind is one actor type with its own state machine.
type Kind uint8

// Entity kinds.
const (
	KindAccount Kind = iota + 1
	KindTemplate
	KindCard
	KindPayment
	KindPool
)

func (k Kind) String() string {
	switch k {
	case KindAccount:
		return "account"
	case KindTemplate:
		return "template"
	case KindCard:
		return "card"
	case KindPayment:
		return "payment"
	case KindPool:
		return "pool"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// ID names one entity: numeric ids for accounts, templates and cards, string keys for payments.
type ID struct {
	Kind Kind
	Num  uint64
	Str  string
}

func (id ID) String() string {
	if id.Str != "" {
		return fmt.Sprintf("%s/%s", id.Kind, id.Str)
	}
	return fmt.Sprintf("%s/%d", id.Kind, id.Num)
}

// AccountID, TemplateID, CardID and PaymentID build entity ids.
func AccountID(n uint64) ID  { return ID{Kind: KindAccount, Num: n} }
func TemplateID(n uint64) ID { return ID{Kind: KindTemplate, Num: n} }
func CardID(n uint64) ID     { return ID{Kind: KindCard, Num: n} }
func PaymentID(k string) ID  { return ID{Kind: KindPayment, Str: k} }
func PoolID(user uint64) ID  { return ID{Kind: KindPool, Num: user} }

// Sender delivers a message to an entity, activating it if needed. It is the one seam the cluster
// work replaces to place entities on other nodes; actors never hold another entity's PID.
type Sender interface {
	// Send delivers msg to entity id; replies (if any) go to replyTo, which may be nil.
	Send(id ID, msg any, replyTo *actor.PID)
}

// Call is a request from outside the actor system. Exactly one Result is sent on Reply, once every
// write the answer depends on is durable.
type Call struct {
	Msg   any
	Reply chan Result // capacity 1
}

// Result answers a Call.
type Result struct {
	Msg any
	Err error
}

// NewCall wraps msg in a Call with a reply channel.
func NewCall(msg any) *Call { return &Call{Msg: msg, Reply: make(chan Result, 1)} }

// Respond answers the call; it never blocks.
func (c *Call) Respond(msg any, err error) { c.Reply <- Result{Msg: msg, Err: err} }
