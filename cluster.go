package kaquan

import (
	"errors"
	"fmt"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/actors/node"
	"github.com/kaquan/kaquan/actors/slot"
	"github.com/kaquan/kaquan/persistence"
)

// layoutMarker names the engine marker in which a cluster node's folder records its layout.
const layoutMarker = "cluster-layout"

// checkLayout compares the folder's recorded cluster layout with the options, and records it at
// a cluster node's first Open. Single-node folders have none, and a single-node Open refuses a
// folder that has one; a cluster Open refuses a folder with another layout, or with single-node
// data (its entities were never placed by slot).
func (e *Engine) checkLayout() error {
	v, err := e.store.Get(persistence.MarkerKey(layoutMarker))
	recorded := err == nil
	if err != nil && !errors.Is(err, persistence.ErrNotFound) {
		return fmt.Errorf("cluster layout: %w", err)
	}
	var was slot.Node
	if recorded {
		if was, err = slot.ParseRecord(v); err != nil {
			return fmt.Errorf("%w: %w", ErrClusterLayout, err)
		}
	}
	switch {
	case e.cluster == nil && !recorded:
		return nil
	case e.cluster == nil:
		return fmt.Errorf("%w: the folder is %s; open it with Options.Cluster", ErrClusterLayout, was)
	case recorded && was != *e.cluster:
		return fmt.Errorf("%w: the folder is %s, the options say %s", ErrClusterLayout, was, e.cluster)
	case recorded:
		return nil
	}
	data, err := e.holdsData()
	if err != nil {
		return fmt.Errorf("cluster layout: %w", err)
	}
	if data {
		return fmt.Errorf("%w: the folder holds single-node data; a cluster node starts from an empty folder", ErrClusterLayout)
	}
	return e.put(persistence.Entry{Key: persistence.MarkerKey(layoutMarker), Value: e.cluster.Record()})
}

// holdsData reports whether the store holds any record besides engine markers.
func (e *Engine) holdsData() (bool, error) {
	data := false
	err := e.store.Scan(nil, false, func(k, _ []byte) (bool, error) {
		data = k[0] != persistence.PrefixEngineMarker
		return !data, nil
	})
	return data, err
}

// owns refuses, in cluster mode, an entity of a slot this node does not own: before anything is
// sent or written. A single node owns everything.
func (e *Engine) owns(id actors.ID) error {
	if e.cluster == nil {
		return nil
	}
	s, ok := e.cluster.Of(id)
	if !ok {
		return fmt.Errorf("%w: %v has no slot", ErrInvalidArgument, id)
	}
	return e.ownsSlot(s, id.String())
}

// slotOfParty is party id's slot (0 on a single node, which owns everything).
func (e *Engine) slotOfParty(id uint64) uint32 {
	if e.cluster == nil {
		return 0
	}
	return e.cluster.OfParty(id)
}

// reach refuses, on a cluster node that reaches no other node, an entity of a slot it does not
// own; with a link to the others, every entity is reachable (calls are forwarded).
func (e *Engine) reach(id actors.ID) error {
	if e.link != nil {
		return nil
	}
	return e.owns(id)
}

// ownsParty is owns for a party (parties are not actors).
func (e *Engine) ownsParty(id uint64) error {
	if e.cluster == nil {
		return nil
	}
	return e.ownsSlot(e.cluster.OfParty(id), fmt.Sprintf("party/%d", id))
}

// reachParty is reach for a party.
func (e *Engine) reachParty(id uint64) error {
	if e.link != nil {
		return nil
	}
	return e.ownsParty(id)
}

// codeSlot is the slot code names (by parse: SlotOfPaymentCode or SlotOfCardCode): 0 on a single
// node; for a string that is not a code, a slot of this node, so that nothing is read elsewhere
// (its read finds nothing).
func (e *Engine) codeSlot(code string, parse func(slot.Layout, string) (uint32, bool)) uint32 {
	if e.cluster == nil {
		return 0
	}
	if s, ok := parse(e.cluster.Layout, code); ok {
		return s
	}
	return e.cluster.Ordinal
}

// ownsPaymentCode is owns for the account a payment code belongs to, by the slot in its digits.
// A string that is not a payment code passes: the caller refuses it as it does on one node.
func (e *Engine) ownsPaymentCode(code string) error {
	if e.cluster == nil || e.link != nil {
		return nil
	}
	if s, ok := e.cluster.SlotOfPaymentCode(code); ok {
		return e.ownsSlot(s, "payment code")
	}
	return nil
}

// ownsCardCode is owns for the card a card code names, by the slot in the code. A string that is
// not a card code passes: it names no card.
func (e *Engine) ownsCardCode(code string) error {
	if e.cluster == nil || e.link != nil {
		return nil
	}
	if s, ok := e.cluster.SlotOfCardCode(code); ok {
		return e.ownsSlot(s, "card code")
	}
	return nil
}

func (e *Engine) ownsSlot(s uint32, what string) error {
	if e.cluster.Owns(s) {
		return nil
	}
	return fmt.Errorf("%w: %s is in slot %d of node %d; this is node %d (the caller must route it there)",
		ErrWrongNode, what, s, e.cluster.NodeOf(s), e.cluster.Ordinal)
}

// singleNode refuses, in cluster mode, an operation that does not work across nodes yet.
func (e *Engine) singleNode(op string) error {
	if e.cluster == nil {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrNotInCluster, op)
}

// newPaymentCode draws a payment code for account: on one node as always; on a cluster node
// carrying the account's slot.
func (e *Engine) newPaymentCode(account uint64) string {
	if e.cluster == nil {
		return paymentCode()
	}
	return e.cluster.NewPaymentCode(e.cluster.OfAccount(account))
}

// newCardCode draws a code for card (or, at a claim, for a card of template: card 0 of it): on
// one node as always; on a cluster node carrying the card's slot.
func (e *Engine) newCardCode(card uint64) string {
	if e.cluster == nil {
		return cardCode()
	}
	return e.cluster.NewCardCode(e.cluster.OfCard(card))
}

// ownsPay is owns for every entity a payment touches that the request names: the merchant's
// payment, the payer's account (by its code) and the merchant's account. The card was checked
// when its code was issued. Until payments cross nodes, a payment whose participants are not all
// here is refused before it starts: a foreign account would read as absent, and a failure
// recorded for that would be a wrong answer once it is only elsewhere.
func (e *Engine) ownsPay(req Pay) error {
	if e.cluster == nil || e.link != nil {
		return nil
	}
	if err := e.owns(actors.PaymentID(PaymentKey(req.Merchant, req.Key))); err != nil {
		return err
	}
	if err := e.ownsPaymentCode(req.Code); err != nil {
		return err
	}
	return e.owns(actors.AccountID(req.MerchantAccount))
}

// clusterRefresh is how often a cluster node polls its peers' health ports (tests shorten it).
var clusterRefresh = node.RefreshDefault

// buildNode builds, for a cluster node with peers, its transport (placement, gateway and the
// cluster Sender) and makes that Sender the host's, before anything sends. Without peers, or on
// one node, nothing changes.
func (e *Engine) buildNode() error {
	c := e.opts.Cluster
	if c == nil || len(c.Peers) == 0 {
		return nil
	}
	name := c.Name
	if name == "" {
		name = ClusterNameDefault
	}
	n, err := node.New(e.host, node.Config{Node: *e.cluster, Peers: c.Peers, Name: name,
		HealthPortOffset: c.healthPortOffset(), Refresh: clusterRefresh, Fenced: e.stop, Logger: e.opts.Logger}, nil)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	e.node = n
	e.host.Sender = n.Sender
	e.link = n.Calls
	return nil
}

// startNode joins the cluster, once the folder's layout is checked.
func (e *Engine) startNode() error {
	if e.node == nil {
		return nil
	}
	e.node.Calls.Handle(e.serveNodeCall) // the host is complete: other nodes' calls may run
	if err := e.node.Start(); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	return nil
}

// stopSystem leaves the cluster, if this is a node of one, and shuts the actor system down
// (protoactor's cluster shutdown does that itself, and a second Shutdown would panic).
func (e *Engine) stopSystem() {
	if e.node == nil {
		e.system.Shutdown()
		return
	}
	e.node.Stop()
}
