package actors

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/kaquan/kaquan/messages"
)

// Chaos is a test setting: how a ChaosSender mistreats the messages of payments' steps, as a
// network may (a cluster's, or a worse one). Only tests set it; a zero Chaos changes nothing.
type Chaos struct {
	Duplicate float64       // probability that a message is delivered twice
	Drop      float64       // probability that a message is lost (the coordinator resends)
	Delay     float64       // probability that a delivery is delayed, which reorders it
	DelayMax  time.Duration // the longest delay
	Seed      uint64
}

// ChaosSender is a Sender that duplicates, drops, delays and so reorders the messages between a
// payment and its participants (never Calls, and never other entities' messages, whose flows
// have no resends yet). It proves the payment steps idempotent and tolerant of stale answers.
type ChaosSender struct {
	next  Sender
	chaos Chaos
	mu    sync.Mutex
	rng   *rand.Rand
}

// NewChaosSender wraps next with chaos c.
func NewChaosSender(next Sender, c Chaos) *ChaosSender {
	return &ChaosSender{next: next, chaos: c, rng: rand.New(rand.NewPCG(c.Seed, c.Seed^0x9e3779b97f4a7c15))}
}

// Send implements Sender.
func (s *ChaosSender) Send(id ID, msg any, replyTo *actor.PID) {
	if !paymentStep(msg) {
		s.next.Send(id, msg, replyTo)
		return
	}
	s.mu.Lock()
	copies := 1
	if s.rng.Float64() < s.chaos.Drop {
		copies = 0
	} else if s.rng.Float64() < s.chaos.Duplicate {
		copies = 2
	}
	delays := make([]time.Duration, copies)
	for i := range delays {
		if s.chaos.DelayMax > 0 && s.rng.Float64() < s.chaos.Delay {
			delays[i] = time.Duration(s.rng.Int64N(int64(s.chaos.DelayMax)) + 1)
		}
	}
	s.mu.Unlock()
	for _, d := range delays {
		if d == 0 {
			s.next.Send(id, msg, replyTo)
			continue
		}
		time.AfterFunc(d, func() { s.next.Send(id, msg, replyTo) })
	}
}

func paymentStep(msg any) bool {
	switch msg.(type) {
	case *messages.ConsumeCode, *messages.CodeConsumed, *messages.ReserveCard, *messages.CardReserved,
		*messages.Post, *messages.Posted, *messages.UseCard, *messages.ReleaseCard, *messages.CardDone,
		*messages.FindEntry, *messages.EntryFound:
		return true
	}
	return false
}
