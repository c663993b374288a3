package kaquan

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/actors/account"
	"github.com/kaquan/kaquan/actors/card"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
)

// HoldWriter parks the engine's writer (inside a barrier's completion) until release is called:
// writes submitted meanwhile are not durable, so tests can see what answers wait for them.
func HoldWriter(e *Engine) (release func(), err error) {
	entered, gate := make(chan struct{}), make(chan struct{})
	if err := e.writer.Submit(&persistence.Write{Done: func(error) { close(entered); <-gate }}); err != nil {
		return nil, err
	}
	<-entered
	return func() { close(gate) }, nil
}

// RememberedKind reports the party kind the engine holds in memory for id, if any.
func RememberedKind(e *Engine, id uint64) (messages.PartyKind, bool) {
	return e.kinds.get(id)
}

// SoldOutRemembered reports whether the engine remembers template as sold out.
func SoldOutRemembered(e *Engine, template uint64) bool {
	_, ok := e.soldOut.get(template)
	return ok
}

// SlowImageChecks makes each of e's gift image checks take d longer and returns how many were
// under way at once at the most.
func SlowImageChecks(e *Engine, d time.Duration) (most func() int32) {
	var now, peak atomic.Int32
	check := e.checkImage
	e.checkImage = func(data []byte) (card.Image, error) {
		n := now.Add(1)
		defer now.Add(-1)
		for m := peak.Load(); n > m && !peak.CompareAndSwap(m, n); m = peak.Load() {
		}
		time.Sleep(d)
		return check(data)
	}
	return peak.Load
}

// Put writes entries through e's writer and waits until they are durable.
func Put(e *Engine, entries ...persistence.Entry) error { return e.put(entries...) }

// Fail stops e as a failed write does.
func Fail(e *Engine, cause error) { e.stop(cause) }

// SweepPaymentCodes runs e's payment code sweep once, at e's clock.
func SweepPaymentCodes(e *Engine) error { return e.sweepPaymentCodes(context.Background()) }

// IssueCodeAs issues payment code code on account for user, as IssuePaymentCode does with a code
// it drew (tests choose the code to stage a code issued again).
func IssueCodeAs(e *Engine, user, acct uint64, code string) (*messages.PaymentCode, error) {
	return ask[*messages.PaymentCode](context.Background(), e, actors.AccountID(acct), account.IssueCode{Owner: user, Code: code, Now: e.now()})
}

// WithChaos makes the engine's payments run over a ChaosSender (duplicated, dropped, delayed
// messages between a payment and its participants), resending every resendAfter.
func WithChaos(c actors.Chaos, resendAfter time.Duration) func(*Options) {
	return func(o *Options) { o.chaos, o.resendAfter = &c, resendAfter }
}

// Get reads key from e's store.
func Get(e *Engine, key []byte) ([]byte, error) { return e.store.Get(key) }

// Connect links the engines of one cluster in this process, as the cluster transport does across
// processes: node calls go through their wire format to the owner's serveNodeCall, and messages
// between entities to the owner's Router, with steps that may repeat (AtLeastOnce). Call it
// before any call to them.
func Connect(es ...*Engine) { ConnectWithChaos(actors.Chaos{}, es...) }

// ConnectWithChaos is Connect over a network that mistreats payments' steps as c says.
func ConnectWithChaos(c actors.Chaos, es ...*Engine) {
	for _, e := range es {
		e.link = inprocLink{es}
		e.host.Sender = actors.NewChaosSender(inprocSender{es: es, self: e}, c)
		e.host.Settings.AtLeastOnce = true
		e.host.Settings.ResendAfter, e.host.Settings.ResendMax = 50*time.Millisecond, 400*time.Millisecond
	}
}

type inprocLink struct{ es []*Engine }

func (l inprocLink) Call(ctx context.Context, node uint32, nc *messages.NodeCall) (*messages.NodeReply, error) {
	b, err := proto.Marshal(nc)
	if err != nil {
		return nil, err
	}
	in := &messages.NodeCall{}
	if err := proto.Unmarshal(b, in); err != nil {
		return nil, err
	}
	for _, e := range l.es {
		if e.cluster.Ordinal == node {
			b, err := proto.Marshal(e.serveNodeCall(ctx, in))
			if err != nil {
				return nil, err
			}
			out := &messages.NodeReply{}
			return out, proto.Unmarshal(b, out)
		}
	}
	return nil, fmt.Errorf("%w: node %d", ErrUnavailable, node)
}

type inprocSender struct {
	es   []*Engine
	self *Engine
}

func (s inprocSender) Send(id actors.ID, msg any, replyTo *actor.PID) {
	sl, _ := s.self.cluster.Of(id)
	for _, e := range s.es {
		if e.cluster.Owns(sl) {
			if e != s.self {
				replyTo = nil // answers go by identity
			}
			e.host.Router.Send(id, msg, replyTo)
			return
		}
	}
}

// ServeNodeCall answers nc as e does for another node.
func ServeNodeCall(e *Engine, nc *messages.NodeCall) *messages.NodeReply {
	return e.serveNodeCall(context.Background(), nc)
}
