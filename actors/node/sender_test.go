package node

import (
	"errors"
	"testing"
	"time"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/actors/slot"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
)

// The Sender of a node that never joined: nothing is placed, so whatever leaves is dropped.
func TestSender_Outbox(t *testing.T) {
	got := make(chan received, 16)
	n := newTestNode(t, slot.Layout{Slots: 4, Nodes: 2}, 0, []string{"127.0.0.1:1", "127.0.0.1:3"}, nil, got)
	s := n.node.Sender
	s.Send(actors.AccountID(1), &messages.Post{Transfer: "t"}, nil)
	waitFor(t, 5*time.Second, "the message dropped", func() bool { return s.Stats().UnknownOwner == 1 })
	if st := s.Stats(); st.Barriers != 1 || st.Sent != 0 {
		t.Errorf("stats %+v", st)
	}
	// A call never leaves its node: it is answered with an error at once.
	call := actors.NewCall(&messages.Post{})
	s.Send(actors.AccountID(1), call, nil)
	if r := <-call.Reply; !errors.Is(r.Err, actors.ErrInvalidArgument) {
		t.Errorf("call answered %v", r.Err)
	}
	// An id of no slot goes nowhere.
	s.Send(actors.PaymentID("no-merchant"), &messages.UseCard{}, nil)
	if st := s.Stats(); st.Unplaced != 2 {
		t.Errorf("unplaced: %+v", st)
	}
	// Local slots go to the Router, which delivers them here.
	s.Send(actors.AccountID(2), &messages.FindEntry{Transfer: "x"}, nil)
	if r := next(t, got, 5*time.Second); r.to != actors.AccountID(2) {
		t.Errorf("local: %+v", r)
	}
	s.Close()
	s.Send(actors.AccountID(1), &messages.Post{Transfer: "late"}, nil)
	if st := s.Stats(); st.Failed != 1 {
		t.Errorf("after Close: %+v", st)
	}
}

// failingWriter refuses every write, as a stopped writer does.
type failingWriter struct{}

func (failingWriter) Submit(*persistence.Write) error { return persistence.ErrWriterStopped }

func TestSender_WriterStopped(t *testing.T) {
	n := newTestNode(t, slot.Layout{Slots: 4, Nodes: 2}, 0, []string{"127.0.0.1:1", "127.0.0.1:3"}, nil, make(chan received, 1))
	s := NewSender(slot.Node{Layout: slot.Layout{Slots: 4, Nodes: 2}}, n.host.Router, failingWriter{}, n.node.Placement, n.host.System, nil)
	defer s.Close()
	for range 3 {
		s.Send(actors.AccountID(1), &messages.Post{Transfer: "t"}, nil)
	}
	waitFor(t, 5*time.Second, "every message dropped", func() bool { return s.Stats().Failed == 3 })
}
