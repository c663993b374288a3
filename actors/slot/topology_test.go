package slot

import (
	"reflect"
	"testing"
)

func TestOrdinalOf(t *testing.T) {
	for _, tc := range []struct {
		kind string
		want uint32
		ok   bool
	}{
		{"node-0", 0, true},
		{"node-3", 3, true},
		{"node-255", 255, true},
		{"node-256", 0, false}, // NodesMax
		{"node-03", 0, false},
		{"node-", 0, false},
		{"node-+3", 0, false},
		{"node--3", 0, false},
		{"node-3x", 0, false},
		{"Node-3", 0, false},
		{"kaquan", 0, false},
		{"node-99999999999", 0, false},
	} {
		got, ok := OrdinalOf(tc.kind)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%q: got %d %v, want %d %v", tc.kind, got, ok, tc.want, tc.ok)
		}
	}
	if NodeKind(3) != "node-3" {
		t.Errorf("NodeKind(3) = %q", NodeKind(3))
	}
}

func member(id, host string, port int32, kinds ...string) Member {
	return Member{ID: id, Host: host, Port: port, Kinds: append([]string{"kaquan"}, kinds...)}
}

func TestPlace(t *testing.T) {
	l := Layout{Slots: 64, Nodes: 3}
	a := member("a", "10.0.0.1", 7000, "node-0")
	b := member("b", "10.0.0.2", 7000, "node-1")
	c := member("c", "10.0.0.3", 7000, "node-2")
	for _, tc := range []struct {
		name      string
		members   []Member
		want      map[uint32]string
		conflicts []Conflict
	}{
		{"all three", []Member{a, b, c}, map[uint32]string{0: "10.0.0.1:7000", 1: "10.0.0.2:7000", 2: "10.0.0.3:7000"}, nil},
		{"empty topology", nil, map[uint32]string{}, nil},
		{"owner missing", []Member{a, c}, map[uint32]string{0: "10.0.0.1:7000", 2: "10.0.0.3:7000"}, nil},
		{"ipv6 host", []Member{member("v6", "::1", 7001, "node-0")}, map[uint32]string{0: "[::1]:7001"}, nil},
		{"two claim one ordinal", []Member{a, b, member("b2", "10.0.0.9", 7000, "node-1"), c},
			map[uint32]string{0: "10.0.0.1:7000", 2: "10.0.0.3:7000"},
			[]Conflict{{Ordinal: 1, Members: []string{"b", "b2"}, Why: "claimed by two or more members"}}},
		{"three claim one ordinal", []Member{member("z", "h", 1, "node-0"), member("y", "h", 2, "node-0"), member("x", "h", 3, "node-0")},
			map[uint32]string{},
			[]Conflict{{Ordinal: 0, Members: []string{"x", "y", "z"}, Why: "claimed by two or more members"}}},
		{"one member claims two ordinals", []Member{a, member("bc", "10.0.0.5", 7000, "node-1", "node-2")},
			map[uint32]string{0: "10.0.0.1:7000"},
			[]Conflict{{Ordinal: 1, Members: []string{"bc"}, Why: "one member claims several ordinals"}}},
		{"a member claiming two ordinals still contests each", []Member{a, b, member("bc", "10.0.0.5", 7000, "node-1", "node-2")},
			map[uint32]string{0: "10.0.0.1:7000"},
			[]Conflict{{Ordinal: 1, Members: []string{"b", "bc"}, Why: "claimed by two or more members"},
				{Ordinal: 1, Members: []string{"bc"}, Why: "one member claims several ordinals"}}},
		{"one ordinal repeated by one member", []Member{member("a", "10.0.0.1", 7000, "node-0", "node-0")},
			map[uint32]string{0: "10.0.0.1:7000"}, nil},
		{"ordinal outside the layout", []Member{a, member("d", "10.0.0.4", 7000, "node-3")},
			map[uint32]string{0: "10.0.0.1:7000"},
			[]Conflict{{Ordinal: 3, Members: []string{"d"}, Why: "ordinal outside the layout"}}},
		{"member without a node kind", []Member{a, member("client", "10.0.0.8", 7000)},
			map[uint32]string{0: "10.0.0.1:7000"}, nil},
		{"malformed kind", []Member{member("m", "10.0.0.1", 7000, "node-01")}, map[uint32]string{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Place(l, tc.members)
			got := map[uint32]string{}
			for o := uint32(0); o < NodesMax; o++ {
				if addr, ok := p.Address(o); ok {
					got[o] = addr
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("addresses: got %v, want %v", got, tc.want)
			}
			if !reflect.DeepEqual(p.Conflicts, tc.conflicts) {
				t.Errorf("conflicts: got %+v, want %+v", p.Conflicts, tc.conflicts)
			}
		})
	}
}

func TestPlacement_Owner(t *testing.T) {
	l := Layout{Slots: 64, Nodes: 3}
	p := Place(l, []Member{member("a", "h0", 1, "node-0"), member("c", "h2", 3, "node-2")})
	for _, tc := range []struct {
		slot    uint32
		ordinal uint32
		addr    string
		ok      bool
	}{
		{0, 0, "h0:1", true},
		{2, 2, "h2:3", true},
		{1, 1, "", false}, // node 1 down: unavailable, never node 0 or 2
		{4, 1, "", false},
		{63, 0, "h0:1", true},
	} {
		o, addr, ok := p.Owner(l, tc.slot)
		if o != tc.ordinal || addr != tc.addr || ok != tc.ok {
			t.Errorf("slot %d: got %d %q %v, want %d %q %v", tc.slot, o, addr, ok, tc.ordinal, tc.addr, tc.ok)
		}
	}
}
