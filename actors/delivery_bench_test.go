package actors

import (
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// The delivery benchmark's messages: a call asks entity A to ping entity B, B answers A with a
// pong, and A then answers the call (three deliveries, like one step of a payment).
type (
	ping   struct{ peer ID }
	pinged struct{}
	pong   struct{}
	once   struct{} // answered, then the entity passivates: a payment coordinator's life
)

type echoBehavior struct{ waiting []*Call }

func (b *echoBehavior) Busy() bool { return false }

func (b *echoBehavior) Receive(c *Context, msg any) {
	switch m := msg.(type) {
	case *Call:
		if p, ok := m.Msg.(ping); ok {
			b.waiting = append(b.waiting, m)
			c.Tell(p.peer, pinged{})
			return
		}
		m.Respond(nil, nil) // a plain call: one delivery
		if _, ok := m.Msg.(once); ok {
			c.Passivate()
		}
	case pinged:
		c.Respond(pong{})
	case pong:
		call := b.waiting[0]
		b.waiting = b.waiting[1:]
		call.Respond(nil, nil)
	}
}

// benchHost is a host whose entities are all echoes, on the engine's dispatcher settings.
func benchHost(b *testing.B) *Host {
	workers := NewWorkers(128, 300)
	b.Cleanup(workers.Stop)
	h := &Host{
		System:     actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) })),
		Dispatcher: workers,
		Settings:   Settings{IdleTimeout: time.Minute},
		Logger:     slog.New(slog.DiscardHandler),
		Fatal:      func(err error) { panic(fmt.Sprint("fatal: ", err)) },
		Producers: map[Kind]Producer{
			KindAccount: func(ID, *Host) (Behavior, error) { return &echoBehavior{}, nil },
		},
	}
	h.Router = NewRouter(h)
	h.Sender = h.Router
	return h
}

// BenchmarkDelivery measures the actor layer alone (no store, no writer): a call answered by one
// entity, and a call whose entity asks another before answering, over 1,000 live entities; and a
// call to a new entity that passivates once it has answered (activation and passivation included).
func BenchmarkDelivery(b *testing.B) {
	for _, bc := range []struct {
		name string
		id   func(i uint64) ID
		msg  func(i uint64) any
	}{
		{"call", func(i uint64) ID { return AccountID(1000 + i%1000) }, func(uint64) any { return struct{}{} }},
		{"call+ask", func(i uint64) ID { return AccountID(1000 + i%1000) }, func(i uint64) any { return ping{peer: AccountID(1000 + (i+1)%1000)} }},
		{"call-new-entity", func(i uint64) ID { return AccountID(1<<40 + i) }, func(uint64) any { return once{} }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h := benchHost(b)
			var next atomic.Uint64
			b.SetParallelism(32) // 64 clients on 2 cores, as in the payments bench
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := next.Add(1)
					call := NewCall(bc.msg(i))
					h.Router.Send(bc.id(i), call, nil)
					if r := <-call.Reply; r.Err != nil {
						b.Fatal(r.Err)
					}
				}
			})
		})
	}
}
