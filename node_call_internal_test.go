package kaquan

import (
	"context"
	"errors"
	"testing"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/actors/account"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
)

// replyLink is a link whose every node answers reply: another node's answers are input, checked.
type replyLink struct{ reply *messages.NodeReply }

func (l replyLink) Call(context.Context, uint32, *messages.NodeCall) (*messages.NodeReply, error) {
	return l.reply, nil
}

// TestNodeCall_BadAnswersAreRefusals: an answer of the wrong type, or an outcome without its
// payment, from another node is ErrUnavailable, never a panic of this node.
func TestNodeCall_BadAnswersAreRefusals(t *testing.T) {
	opts := DefaultOptions()
	opts.Durability = persistence.DurabilityMemory
	opts.Cluster = &ClusterOptions{Node: 0, Nodes: 2, Slots: 2}
	e, err := Open(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	e.link = replyLink{&messages.NodeReply{Result: &messages.NodeReply_Card{Card: &messages.Card{Id: 1}}}}
	if _, err := ask[account.Snapshot](ctx, e, actors.AccountID(1), account.Get{}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("a card for an account: got %v, want ErrUnavailable", err)
	}
	if _, err := e.CreateParty(ctx, CreateParty{ID: 1, Kind: PartyUser, Name: "u"}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("a card for a party: got %v, want ErrUnavailable", err)
	}
	e.link = replyLink{&messages.NodeReply{Result: &messages.NodeReply_Outcome{Outcome: &messages.PaymentOutcome{}}}}
	if _, err := e.Payment(ctx, 1, "k"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("an outcome without its payment: got %v, want ErrUnavailable", err)
	}
	if err := e.Err(); err != nil {
		t.Errorf("the engine stopped: %v", err)
	}
}
