// Package slot places kaquan's entities in a cluster: S fixed slots, every entity in one slot by a
// pure function of its id, every slot owned by one node. Nothing here does I/O, reads a clock or
// holds state. What these functions answer is part of the data format: a slot recorded once (in a
// node's data folder, in a code's digits) must map the same way forever, which the golden tests
// pin down.
package slot

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"github.com/kaquan/kaquan/actors"
)

// Bounds of a layout.
const (
	SlotsDefault = 64   // S when the cluster is created without another choice
	SlotsMax     = 4096 // a payment code keeps about 48 random bits at this S (18 digits, 10^18/S codes a slot)
	NodesMax     = 256  // nodes of one cluster; never more than S, so every node owns a slot
)

// Layout is a cluster's shape: S slots over N nodes. Slot s is owned by node s mod N (the static
// map); moving a slot is an operator's action, never a consequence of membership.
type Layout struct {
	Slots uint32 // S, a power of two
	Nodes uint32 // N
}

// Validate checks every bound.
func (l Layout) Validate() error {
	switch {
	case l.Slots == 0 || l.Slots > SlotsMax || l.Slots&(l.Slots-1) != 0:
		return fmt.Errorf("slots %d: a power of two in 1..%d", l.Slots, SlotsMax)
	case l.Nodes == 0 || l.Nodes > NodesMax || l.Nodes > l.Slots:
		return fmt.Errorf("nodes %d: 1..%d and at most the slots (%d)", l.Nodes, NodesMax, l.Slots)
	}
	return nil
}

// mask is S-1: with S a power of two, n mod S is n & mask.
func (l Layout) mask() uint64 { return uint64(l.Slots - 1) }

// NodeOf is the ordinal of the node that owns slot s.
func (l Layout) NodeOf(s uint32) uint32 { return s % l.Nodes }

// OfAccount is the slot of an account: its id mod S.
func (l Layout) OfAccount(id uint64) uint32 { return uint32(id & l.mask()) }

// OfParty is the slot of a party (a user or a merchant): its id mod S.
func (l Layout) OfParty(id uint64) uint32 { return uint32(id & l.mask()) }

// OfTemplate is the slot of a template: its id mod S.
func (l Layout) OfTemplate(id uint64) uint32 { return uint32(id & l.mask()) }

// OfCard is the slot of a card: its template's, since the template writes the card when it is
// claimed (card id = template<<32 | serial).
func (l Layout) OfCard(id uint64) uint32 { return l.OfTemplate(id >> 32) }

// OfUser is the slot of what is kept per user: their pool and their contacts.
func (l Layout) OfUser(user uint64) uint32 { return uint32(user & l.mask()) }

// OfToken is the home slot of a bearer token's record, by the token's SHA-256: its first 8 bytes
// (big-endian) mod S. Every node reads the record there, so a token is valid on every node once
// created.
func (l Layout) OfToken(hash [32]byte) uint32 {
	return uint32(binary.BigEndian.Uint64(hash[:8]) & l.mask())
}

// OfMerchant is the slot of a merchant's payments: one coordinator per merchant key.
func (l Layout) OfMerchant(merchant uint64) uint32 { return uint32(merchant & l.mask()) }

// OfPayment is the slot of payment key "merchant/key": its merchant's. A key without a decimal
// merchant before the first slash has no slot.
func (l Layout) OfPayment(key string) (uint32, bool) {
	m, _, ok := strings.Cut(key, "/")
	if !ok {
		return 0, false
	}
	merchant, err := strconv.ParseUint(m, 10, 64)
	if err != nil {
		return 0, false
	}
	return l.OfMerchant(merchant), true
}

// Of is the slot of entity id, false for an id of no known kind.
func (l Layout) Of(id actors.ID) (uint32, bool) {
	switch id.Kind {
	case actors.KindAccount:
		return l.OfAccount(id.Num), true
	case actors.KindTemplate:
		return l.OfTemplate(id.Num), true
	case actors.KindCard:
		return l.OfCard(id.Num), true
	case actors.KindPayment:
		return l.OfPayment(id.Str)
	case actors.KindPool:
		return l.OfUser(id.Num), true
	}
	return 0, false
}

// Node is one node of a layout: what a cluster node's data folder records.
type Node struct {
	Layout
	Ordinal uint32 // this node's ordinal, 0..Nodes-1
}

// Validate checks the layout and the ordinal.
func (n Node) Validate() error {
	if err := n.Layout.Validate(); err != nil {
		return err
	}
	if n.Ordinal >= n.Nodes {
		return fmt.Errorf("node %d: 0..%d", n.Ordinal, n.Nodes-1)
	}
	return nil
}

// Owns reports whether slot s is this node's.
func (n Node) Owns(s uint32) bool { return n.NodeOf(s) == n.Ordinal }

func (n Node) String() string {
	return fmt.Sprintf("node %d of %d, %d slots", n.Ordinal, n.Nodes, n.Slots)
}

// nodeRecordVersion is the first byte of a recorded Node; another version is refused.
const (
	nodeRecordVersion = 1
	nodeRecordBytes   = 13
)

// Record is n as a node records it in its data folder: a version byte, then S, N and the
// ordinal as big-endian uint32s.
func (n Node) Record() []byte {
	b := make([]byte, 0, nodeRecordBytes)
	b = append(b, nodeRecordVersion)
	for _, v := range [...]uint32{n.Slots, n.Nodes, n.Ordinal} {
		b = append(b, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	}
	return b
}

// ParseRecord reads a Node back from Record's bytes.
func ParseRecord(b []byte) (Node, error) {
	if len(b) != nodeRecordBytes || b[0] != nodeRecordVersion {
		return Node{}, fmt.Errorf("cluster layout record: %d bytes, version %d", len(b), firstByte(b))
	}
	u := func(i int) uint32 {
		return uint32(b[i])<<24 | uint32(b[i+1])<<16 | uint32(b[i+2])<<8 | uint32(b[i+3])
	}
	n := Node{Layout: Layout{Slots: u(1), Nodes: u(5)}, Ordinal: u(9)}
	if err := n.Validate(); err != nil {
		return Node{}, fmt.Errorf("cluster layout record: %w", err)
	}
	return n, nil
}

func firstByte(b []byte) int {
	if len(b) == 0 {
		return -1
	}
	return int(b[0])
}
