package slot

import (
	"net"
	"sort"
	"strconv"
	"strings"
)

// Member is what placement reads of one cluster member: the fields of protoactor-go's
// cluster.Member it needs. (The cluster package itself is not imported here: it would link gRPC
// and protoactor's remote into every build, single-node ones too; the membership slice converts.)
type Member struct {
	ID    string
	Host  string
	Port  int32
	Kinds []string
}

// nodeKindPrefix starts the kind a member advertises its ordinal by: "node-3".
const nodeKindPrefix = "node-"

// NodeKind is the kind node ordinal advertises.
func NodeKind(ordinal uint32) string { return nodeKindPrefix + strconv.FormatUint(uint64(ordinal), 10) }

// OrdinalOf reads the ordinal a kind advertises: "node-" and a decimal number in canonical form
// (no sign, no leading zero) below NodesMax. False for any other kind.
func OrdinalOf(kind string) (uint32, bool) {
	d, ok := strings.CutPrefix(kind, nodeKindPrefix)
	if !ok || d == "" || len(d) > 1 && d[0] == '0' {
		return 0, false
	}
	n, err := strconv.ParseUint(d, 10, 32)
	if err != nil || n >= NodesMax || strconv.FormatUint(n, 10) != d {
		return 0, false
	}
	return uint32(n), true
}

// Conflict is a misconfigured topology that placement refused, failing closed.
type Conflict struct {
	Ordinal uint32   // the ordinal claimed (for Ordinals, the first)
	Members []string // the ids of the members involved, sorted
	Why     string   // "claimed by two or more members", "one member claims several ordinals", "ordinal outside the layout"
}

// Placement is where each node ordinal is reachable, as one topology says.
type Placement struct {
	addresses map[uint32]string // ordinal -> "host:port"
	Conflicts []Conflict        // what was dropped, for the log
}

// Place reads a topology (the members of a *cluster.ClusterTopology event) into a Placement for
// layout l. It fails closed: two members claiming one ordinal are both dropped, a member
// claiming several ordinals is dropped, an ordinal outside the layout is ignored; each is reported
// in Conflicts. An ordinal no member holds is absent, and never served by another node.
func Place(l Layout, members []Member) Placement {
	claims := map[uint32][]Member{}
	several := map[string]bool{} // members claiming several ordinals: never served, still claimants
	var conflicts []Conflict
	for _, m := range members {
		ords := ordinalsOf(m)
		switch {
		case len(ords) == 0:
			continue // a member that hosts no node (a client, say)
		case len(ords) > 1:
			conflicts = append(conflicts, Conflict{Ordinal: ords[0], Members: []string{m.ID}, Why: "one member claims several ordinals"})
			several[m.ID] = true
			for _, o := range ords { // it still contests each of them: another claimant is not served alone
				if o < l.Nodes {
					claims[o] = append(claims[o], m)
				}
			}
		case ords[0] >= l.Nodes:
			conflicts = append(conflicts, Conflict{Ordinal: ords[0], Members: []string{m.ID}, Why: "ordinal outside the layout"})
		default:
			claims[ords[0]] = append(claims[ords[0]], m)
		}
	}
	p := Placement{addresses: map[uint32]string{}}
	for ord, ms := range claims {
		if len(ms) > 1 {
			ids := make([]string, len(ms))
			for i, m := range ms {
				ids[i] = m.ID
			}
			sort.Strings(ids)
			conflicts = append(conflicts, Conflict{Ordinal: ord, Members: ids, Why: "claimed by two or more members"})
			continue
		}
		if several[ms[0].ID] {
			continue // reported above
		}
		p.addresses[ord] = net.JoinHostPort(ms[0].Host, strconv.Itoa(int(ms[0].Port)))
	}
	sort.Slice(conflicts, func(i, j int) bool {
		a, b := conflicts[i], conflicts[j]
		if a.Ordinal != b.Ordinal {
			return a.Ordinal < b.Ordinal
		}
		return strings.Join(a.Members, ",") < strings.Join(b.Members, ",")
	})
	p.Conflicts = conflicts
	return p
}

// ordinalsOf is every distinct ordinal m advertises, in order of first mention.
func ordinalsOf(m Member) []uint32 {
	var ords []uint32
	for _, k := range m.Kinds {
		n, ok := OrdinalOf(k)
		if !ok {
			continue
		}
		dup := false
		for _, o := range ords {
			dup = dup || o == n
		}
		if !dup {
			ords = append(ords, n)
		}
	}
	return ords
}

// Address is where node ordinal is reachable; false when no member holds it (unavailable).
func (p Placement) Address(ordinal uint32) (string, bool) {
	a, ok := p.addresses[ordinal]
	return a, ok
}

// Owner is the node ordinal that owns slot s in layout l and where it is reachable; false
// when that node is not in the topology: the slot is unavailable, never served elsewhere.
func (p Placement) Owner(l Layout, s uint32) (ordinal uint32, address string, ok bool) {
	ordinal = l.NodeOf(s)
	address, ok = p.Address(ordinal)
	return ordinal, address, ok
}
