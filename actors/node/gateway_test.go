package node

import (
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/actors/slot"
	"github.com/kaquan/kaquan/messages"
)

func TestGateway_Refuses(t *testing.T) {
	l := slot.Layout{Slots: 4, Nodes: 2}
	got := make(chan received, 16)
	n := newTestNode(t, l, 0, []string{"127.0.0.1:1", "127.0.0.1:3"}, nil, got)
	t.Cleanup(n.node.Stop)
	g := n.node.Gateway
	mine := &messages.EntityRef{Kind: uint32(actors.KindAccount), Num: 2}                         // slot 2, node 0
	theirs := &messages.EntityRef{Kind: uint32(actors.KindAccount), Num: 3}                       // slot 3, node 1
	post := &messages.EntityEnvelope_Post{Post: &messages.Post{Transfer: "t", CounterAccount: 3}} // its answer goes to node 1, never started
	pid := actor.NewPID("nonhost", GatewayName)
	for _, tc := range []struct {
		name string
		msg  any
		want func(GatewayStats) int64
	}{
		{"misrouted", &messages.EntityEnvelope{To: theirs, Body: post}, func(s GatewayStats) int64 { return s.Misrouted }},
		{"empty body", &messages.EntityEnvelope{To: mine}, func(s GatewayStats) int64 { return s.UnknownBody }},
		{"unknown body", unknownBody(t, mine), func(s GatewayStats) int64 { return s.UnknownBody }},
		{"no target", &messages.EntityEnvelope{Body: post}, func(s GatewayStats) int64 { return s.UnknownBody }},
		{"unknown kind", &messages.EntityEnvelope{To: &messages.EntityRef{Kind: 77, Num: 2}, Body: post}, func(s GatewayStats) int64 { return s.NoSlot }},
		{"payment key without a merchant", &messages.EntityEnvelope{To: &messages.EntityRef{Kind: uint32(actors.KindPayment), Str: "x"}, Body: post}, func(s GatewayStats) int64 { return s.NoSlot }},
		{"not an envelope", &messages.Post{Transfer: "t"}, func(s GatewayStats) int64 { return s.NotEnvelope }},
		{"a string", "hello", func(s GatewayStats) int64 { return s.NotEnvelope }},
		{"nil", nil, func(s GatewayStats) int64 { return s.NotEnvelope }},
		{"typed nil envelope", (*messages.EntityEnvelope)(nil), func(s GatewayStats) int64 { return s.NotEnvelope }},
		{"wrapped in a message envelope", &actor.MessageEnvelope{Message: "x"}, func(s GatewayStats) int64 { return s.NotEnvelope }},
	} {
		before := tc.want(g.Stats())
		g.SendUserMessage(pid, tc.msg)
		if after := tc.want(g.Stats()); after != before+1 {
			t.Errorf("%s: counted %d, want %d", tc.name, after, before+1)
		}
	}
	g.SendSystemMessage(pid, &actor.Stop{})
	g.Stop(pid)
	if s := g.Stats(); s.Delivered != 0 || s.Refused() != 11 || s.System != 1 {
		t.Errorf("stats %+v", s)
	}
	if a := n.host.Router.Active(); a != 0 {
		t.Fatalf("refusals created %d entities", a)
	}
	// One that is this node's is delivered.
	g.SendUserMessage(pid, &actor.MessageEnvelope{Message: &messages.EntityEnvelope{To: mine, Body: post}})
	r := next(t, got, 5*time.Second)
	if r.to != actors.AccountID(2) || r.msg.(*messages.Post).Transfer != "t" {
		t.Errorf("delivered %+v", r)
	}
	if s := g.Stats(); s.Delivered != 1 || n.host.Router.Active() != 1 {
		t.Errorf("stats %+v, active %d", s, n.host.Router.Active())
	}
	g.Close()
	g.SendUserMessage(pid, &messages.EntityEnvelope{To: mine, Body: post})
	if s := g.Stats(); s.Closed != 1 || s.Delivered != 1 {
		t.Errorf("after Close: %+v", s)
	}
}

func TestGateway_RegisterOnce(t *testing.T) {
	system := quietSystem()
	g := NewGateway(slot.Node{Layout: slot.Layout{Slots: 1, Nodes: 1}}, nil, discard())
	if err := g.Register(system); err != nil {
		t.Fatal(err)
	}
	if err := g.Register(system); err == nil {
		t.Error("registered twice")
	}
}
