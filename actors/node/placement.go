package node

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/eventstream"
	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/actors/slot"
)

// GatewayName is the process id under which every node's Gateway is registered: a peer's
// gateway is actor.NewPID(its address, GatewayName).
const GatewayName = "kaquan"

// Placement is where each node of a layout is reachable, as the latest *cluster.ClusterTopology
// event on an actor system's event stream says; and, as a cluster.IdentityLookup, where an
// identity lives: on its slot's owner, or nowhere. It never reads the MemberList (its Members and
// Length are read without its lock: design notes 1.7 item 4).
type Placement struct {
	layout slot.Layout
	logger *slog.Logger
	self   string // this node's member id (its actor system's ID); "" when not known

	view atomic.Pointer[view]
	mu   sync.Mutex // orders topology events, and guards sub and the conflicts last logged
	es   *eventstream.EventStream
	sub  *eventstream.Subscription
	last string // the conflicts last logged, so that a conflict is logged once, not every event
}

// view is one topology, read.
type view struct {
	placed  slot.Placement
	members int       // members in the topology, placed or not
	self    bool      // this node's member is in it
	at      time.Time // when it was read
}

// NewPlacement makes the placement of layout l, for the node whose member id is self (its actor
// system's ID; "" if it has none). Until Subscribe and a first topology, no ordinal is reachable.
func NewPlacement(l slot.Layout, self string, logger *slog.Logger) *Placement {
	p := &Placement{layout: l, self: self, logger: logger}
	p.view.Store(&view{placed: slot.Place(l, nil), at: time.Now()})
	return p
}

// Subscribe reads every later *cluster.ClusterTopology published on es. Call it before the
// cluster starts: a topology is published only when it changes.
func (p *Placement) Subscribe(es *eventstream.EventStream) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sub != nil {
		return
	}
	p.sub = es.Subscribe(func(ev any) {
		if t, ok := ev.(*cluster.ClusterTopology); ok {
			p.Observe(t)
		}
	})
	p.es = es
}

// Observe reads topology t (what the subscription does with each event; tests call it directly).
func (p *Placement) Observe(t *cluster.ClusterTopology) {
	members := make([]slot.Member, 0, len(t.GetMembers()))
	self := false
	for _, m := range t.GetMembers() {
		if m == nil {
			continue
		}
		members = append(members, slot.Member{ID: m.Id, Host: m.Host, Port: m.Port, Kinds: slices.Clone(m.Kinds)})
		self = self || (p.self != "" && m.Id == p.self)
	}
	placed := slot.Place(p.layout, members)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.view.Store(&view{placed: placed, members: len(members), self: self, at: time.Now()})
	p.logConflicts(placed.Conflicts)
}

// logConflicts logs the conflicts of a topology once, when they differ from the last logged.
func (p *Placement) logConflicts(cs []slot.Conflict) {
	key := fmt.Sprint(cs)
	if key == p.last {
		return
	}
	p.last = key
	for _, c := range cs {
		p.logger.Error("cluster topology: node refused (fail closed)", "ordinal", c.Ordinal, "members", c.Members, "why", c.Why)
	}
}

// Owner is where node ordinal is reachable; false when no member holds it (alone), which the
// caller treats as unavailable, never as absent data.
func (p *Placement) Owner(ordinal uint32) (address string, ok bool) {
	return p.view.Load().placed.Address(ordinal)
}

// Reachable lists the ordinals the latest topology places, in order.
func (p *Placement) Reachable() []uint32 {
	v := p.view.Load()
	var ords []uint32
	for o := uint32(0); o < p.layout.Nodes; o++ {
		if _, ok := v.placed.Address(o); ok {
			ords = append(ords, o)
		}
	}
	return ords
}

// Conflicts are what the latest topology's placement refused.
func (p *Placement) Conflicts() []slot.Conflict { return slices.Clone(p.view.Load().placed.Conflicts) }

// selfSince reports whether this node's member is in the latest topology, and since when that
// topology stands.
func (p *Placement) selfSince() (bool, time.Time) {
	v := p.view.Load()
	return v.self, v.at
}

// IdentityOf is the cluster identity of entity id (kind GatewayName): its kind's name, a slash,
// then its number or key.
func IdentityOf(id actors.ID) *cluster.ClusterIdentity {
	return cluster.NewClusterIdentity(id.String(), GatewayName)
}

// idOf reads an identity made by IdentityOf back into an entity id.
func idOf(identity string) (actors.ID, bool) {
	kind, rest, ok := strings.Cut(identity, "/")
	if !ok {
		return actors.ID{}, false
	}
	for k := actors.KindAccount; k <= actors.KindPool; k++ {
		if k.String() != kind {
			continue
		}
		if k == actors.KindPayment {
			return actors.ID{Kind: k, Str: rest}, true
		}
		var n uint64
		for _, c := range []byte(rest) {
			if c < '0' || c > '9' || n > (1<<64-1-uint64(c-'0'))/10 {
				return actors.ID{}, false
			}
			n = n*10 + uint64(c-'0')
		}
		return actors.ID{Kind: k, Num: n}, rest != "" && (rest == "0" || rest[0] != '0')
	}
	return actors.ID{}, false
}

// Get implements cluster.IdentityLookup: the gateway of the node that owns the identity's slot,
// or nil (unknown kind or identity, owner absent). It never places an identity elsewhere.
func (p *Placement) Get(ci *cluster.ClusterIdentity) *actor.PID {
	if ci.GetKind() != GatewayName {
		return nil
	}
	id, ok := idOf(ci.GetIdentity())
	if !ok {
		return nil
	}
	s, ok := p.layout.Of(id)
	if !ok {
		return nil
	}
	addr, ok := p.Owner(p.layout.NodeOf(s))
	if !ok {
		return nil
	}
	return actor.NewPID(addr, GatewayName)
}

// RemovePid implements cluster.IdentityLookup: nothing is cached.
func (p *Placement) RemovePid(*cluster.ClusterIdentity, *actor.PID) {}

// Setup implements cluster.IdentityLookup: it subscribes to c's topology events (Subscribe).
func (p *Placement) Setup(c *cluster.Cluster, _ []string, _ bool) {
	p.Subscribe(c.ActorSystem.EventStream)
}

// Shutdown implements cluster.IdentityLookup: it stops reading topology events.
func (p *Placement) Shutdown() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sub != nil {
		p.es.Unsubscribe(p.sub)
		p.sub = nil
	}
}
