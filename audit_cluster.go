package kaquan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/kaquan/kaquan/actors/slot"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
	"google.golang.org/protobuf/proto"
)

// ClusterAuditReport is what an audit of every node of a cluster found: the embedded AuditReport
// holds the cluster's totals (each count summed over the nodes) and every problem (a node's
// prefixed with "node N: "), so it reads like one node's report; Cluster adds the layout, each
// node's own report and the problems of the cluster as a whole.
type ClusterAuditReport struct {
	AuditReport
	Cluster ClusterAudit `json:"cluster"`
}

// ClusterAudit is the cluster section of a ClusterAuditReport.
type ClusterAudit struct {
	Slots int         `json:"slots"`
	Nodes []NodeAudit `json:"nodes"` // by ordinal
	// Problems of the cluster as a whole, found on no one node: conservation over all nodes, and
	// the acknowledgements (CheckAcks' problems).
	ProblemCount int      `json:"problem_count"`
	Problems     []string `json:"problems"`
}

// NodeAudit is one node's report in a cluster audit: its records, checked against the records of
// the other nodes they name.
type NodeAudit struct {
	Node int    `json:"node"` // ordinal
	Data string `json:"data"` // folder
	*AuditReport
}

func (r *ClusterAuditReport) String() string {
	verdict := "OK"
	if !r.OK() {
		verdict = fmt.Sprintf("FAILED (%d problems)", r.ProblemCount)
	}
	return fmt.Sprintf("cluster audit %s: %d nodes, %d slots; %s", verdict, len(r.Cluster.Nodes), r.Cluster.Slots, r.counts())
}

// clusterProblem is a problem of the cluster as a whole.
func (r *ClusterAuditReport) clusterProblem(f string, a ...any) {
	r.Cluster.ProblemCount++
	if len(r.Cluster.Problems) < auditProblemsMax {
		r.Cluster.Problems = append(r.Cluster.Problems, fmt.Sprintf(f, a...))
	}
	r.problem(f, a...)
}

// AuditCluster audits the data folders of every node of one cluster, offline: each folder once
// and only (no two of one ordinal), all of one layout, as their nodes recorded it; a folder of
// another layout, of a single node, or a missing or repeated ordinal is refused with
// ErrClusterLayout before anything is checked. No engine is opened and nothing is changed (opening
// a store only replays its commit log into Badger): the folders' interrupted payments are not
// resumed (a node resumes them with its peers), they are counted in flight. A folder in use by a
// running node is refused (Badger's lock).
//
// Each node's records are checked as Audit checks one node's, reading what they name on the node
// that owns it: a payment's legs on its accounts' nodes, a card's payment on its merchant's node,
// and each entity is checked to be on the node that owns its slot. Over all nodes: conservation
// (deposits - withdrawals = balances + in flight; the legs of a transfer cancel across nodes),
// and with acks, every acknowledged payment complete on the node of its slot (as CheckAcks).
func AuditCluster(ctx context.Context, dirs []string, acks []string, logger *slog.Logger) (*ClusterAuditReport, error) {
	if len(dirs) == 0 || len(dirs) > slot.NodesMax {
		return nil, fmt.Errorf("%w: cluster audit of %d folders, want 1..%d", ErrInvalidArgument, len(dirs), slot.NodesMax)
	}
	seen := map[string]string{}
	for _, dir := range dirs {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return nil, fmt.Errorf("cluster audit: %w", err)
		}
		if _, err := os.Stat(dir); err != nil { // (opening a store would create it)
			return nil, fmt.Errorf("cluster audit: data folder: %w", err)
		}
		if first, ok := seen[abs]; ok {
			return nil, fmt.Errorf("%w: %s and %s are one folder", ErrClusterLayout, first, dir)
		}
		seen[abs] = dir
	}
	stores := make([]*persistence.Store, 0, len(dirs))
	defer func() {
		for _, s := range stores {
			if err := s.Close(); err != nil {
				logger.Warn("cluster audit: close", "err", err)
			}
		}
	}()
	for _, dir := range dirs {
		s, err := persistence.Open(dir, persistence.DurabilitySync, logger)
		if err != nil {
			return nil, fmt.Errorf("cluster audit: %w", err)
		}
		stores = append(stores, s)
	}
	layout, order, err := clusterFolders(dirs, stores)
	if err != nil {
		return nil, err
	}
	byOrdinal := make([]*persistence.Store, len(order))
	for o, i := range order {
		byOrdinal[o] = stores[i]
	}
	r := &ClusterAuditReport{AuditReport: *newAuditReport(), Cluster: ClusterAudit{Slots: int(layout.Slots)}}
	err = viewAll(byOrdinal, nil, func(snaps []*persistence.Snapshot) error {
		view := &clusterView{layout: layout, snaps: snaps}
		for i, s := range snaps {
			view.self = uint32(i)
			nr, err := auditSnapshot(ctx, s, view)
			if err != nil {
				return fmt.Errorf("node %d: %w", i, err)
			}
			r.addNode(NodeAudit{Node: i, Data: dirs[order[i]], AuditReport: nr})
		}
		r.conservationOverNodes()
		readers := make([]recordReader, len(snaps))
		for i, s := range snaps {
			readers[i] = s
		}
		return checkAcks(ctx, r.clusterProblem, acks, recordHomes{layout: layout, readers: readers})
	})
	if err != nil {
		return nil, fmt.Errorf("cluster audit: %w", err)
	}
	return r, nil
}

// clusterFolders reads each store's recorded layout and orders the stores by ordinal (order[o]
// is the index of node o's store): they must share one layout and hold each of its ordinals once.
func clusterFolders(dirs []string, stores []*persistence.Store) (slot.Layout, []int, error) {
	nodes := make([]slot.Node, len(stores))
	for i, s := range stores {
		v, err := s.Get(persistence.MarkerKey(layoutMarker))
		if errors.Is(err, persistence.ErrNotFound) {
			return slot.Layout{}, nil, fmt.Errorf("%w: %s records no cluster layout: it is a single node's folder", ErrClusterLayout, dirs[i])
		}
		if err != nil {
			return slot.Layout{}, nil, fmt.Errorf("cluster audit: %s: %w", dirs[i], err)
		}
		if nodes[i], err = slot.ParseRecord(v); err != nil {
			return slot.Layout{}, nil, fmt.Errorf("%w: %s: %w", ErrClusterLayout, dirs[i], err)
		}
	}
	layout := nodes[0].Layout
	order := make([]int, layout.Nodes)
	seen := make([]bool, layout.Nodes)
	for i, n := range nodes {
		switch {
		case n.Layout != layout:
			return slot.Layout{}, nil, fmt.Errorf("%w: %s is %s, %s is %s: not one cluster", ErrClusterLayout, dirs[0], nodes[0], dirs[i], n)
		case seen[n.Ordinal]:
			return slot.Layout{}, nil, fmt.Errorf("%w: %s and %s are both node %d", ErrClusterLayout, dirs[order[n.Ordinal]], dirs[i], n.Ordinal)
		}
		order[n.Ordinal], seen[n.Ordinal] = i, true
	}
	var missing []int
	for o, ok := range seen {
		if !ok {
			missing = append(missing, o)
		}
	}
	if len(missing) > 0 {
		return slot.Layout{}, nil, fmt.Errorf("%w: %d folders for a cluster of %d nodes, node %v missing: a cluster audit needs every node", ErrClusterLayout, len(stores), layout.Nodes, missing)
	}
	return layout, order, nil
}

// viewAll runs fn on one snapshot of each store at once (the stores are not written meanwhile:
// the audit opened them, so no node runs on them). Its depth is the stores', at most
// slot.NodesMax.
func viewAll(stores []*persistence.Store, snaps []*persistence.Snapshot, fn func([]*persistence.Snapshot) error) error {
	if len(snaps) == len(stores) {
		return fn(snaps)
	}
	return stores[len(snaps)].View(func(s *persistence.Snapshot) error {
		return viewAll(stores, append(snaps, s), fn)
	})
}

// addNode adds node n's report: its counts to the totals, its problems prefixed with the node.
func (r *ClusterAuditReport) addNode(n NodeAudit) {
	r.Cluster.Nodes = append(r.Cluster.Nodes, n)
	t, o := &r.AuditReport, n.AuditReport
	t.Accounts += o.Accounts
	t.LedgerEntries += o.LedgerEntries
	t.Templates += o.Templates
	t.Deposits += o.Deposits
	t.Withdrawals += o.Withdrawals
	t.Balances += o.Balances
	t.InFlight += o.InFlight
	t.InFlightCount += o.InFlightCount
	t.WalletEntries += o.WalletEntries
	t.Gifts += o.Gifts
	t.GiftOffers += o.GiftOffers
	t.PoolEntries += o.PoolEntries
	t.Acceptances += o.Acceptances
	t.PaymentCodes += o.PaymentCodes
	t.RefusedTransfers += o.RefusedTransfers
	for _, m := range [][2]map[string]int{{t.Cards, o.Cards}, {t.Payments, o.Payments}, {t.Rewards, o.Rewards}} {
		for k, v := range m[1] {
			m[0][k] += v
		}
	}
	for _, p := range o.Problems {
		t.problem("node %d: %s", n.Node, p)
	}
	t.ProblemCount += o.ProblemCount - len(o.Problems) // those beyond the node's list
}

// conservationOverNodes checks conservation over the cluster's totals, as a problem of the
// cluster: a transfer's legs on two nodes cancel only in the sum.
func (r *ClusterAuditReport) conservationOverNodes() {
	if r.Deposits-r.Withdrawals != r.Balances+r.InFlight {
		r.clusterProblem("conservation over %d nodes: deposits %d - withdrawals %d != balances %d + in flight %d",
			len(r.Cluster.Nodes), r.Deposits, r.Withdrawals, r.Balances, r.InFlight)
	}
}

// clusterView is the snapshots of every node of a cluster, by ordinal, as the auditor of node
// self reads them.
type clusterView struct {
	layout slot.Layout
	snaps  []*persistence.Snapshot
	self   uint32
}

// slots is the cluster's layout (the zero layout on a single node: placed ignores it there).
func (a *auditor) slots() slot.Layout {
	if a.cluster == nil {
		return slot.Layout{}
	}
	return a.cluster.layout
}

// at is the snapshot of the node that owns slot sl; s on a single node.
func (a *auditor) at(s *persistence.Snapshot, sl uint32) *persistence.Snapshot {
	if a.cluster == nil {
		return s
	}
	return a.cluster.snaps[a.cluster.layout.NodeOf(sl)]
}

func (a *auditor) ofAccount(s *persistence.Snapshot, id uint64) *persistence.Snapshot {
	return a.at(s, a.slots().OfAccount(id))
}

func (a *auditor) ofParty(s *persistence.Snapshot, id uint64) *persistence.Snapshot {
	return a.at(s, a.slots().OfParty(id))
}

func (a *auditor) ofCard(s *persistence.Snapshot, id uint64) *persistence.Snapshot {
	return a.at(s, a.slots().OfCard(id))
}

// ofPayment is the snapshot of payment key's node; s for a key that names no merchant (the
// payment scan reports such a key).
func (a *auditor) ofPayment(s *persistence.Snapshot, key string) *persistence.Snapshot {
	sl, ok := a.slotOfPayment(key)
	if !ok {
		return s
	}
	return a.at(s, sl)
}

func (a *auditor) slotOfPayment(key string) (uint32, bool) {
	if a.cluster == nil {
		return 0, false
	}
	return a.cluster.layout.OfPayment(key)
}

// placed reports an entity of slot sl stored on a node that does not own the slot.
func (a *auditor) placed(what string, id any, sl uint32) {
	if c := a.cluster; c != nil && c.layout.NodeOf(sl) != c.self {
		a.r.problem("%s %v is in slot %d, owned by node %d, but stored on node %d", what, id, sl, c.layout.NodeOf(sl), c.self)
	}
}

// onNode names, in a cluster, the node of slot sl (" on node 2"); nothing on a single node.
func (a *auditor) onNode(sl uint32, ok bool) string {
	if a.cluster == nil || !ok {
		return ""
	}
	return fmt.Sprintf(" on node %d", a.cluster.layout.NodeOf(sl))
}

// where names account acc, and in a cluster its node.
func (a *auditor) where(acc uint64) string {
	return fmt.Sprintf("account %d%s", acc, a.onNode(a.slots().OfAccount(acc), true))
}

// paymentState describes, for a card's problem, the payment it names: absent or in what state
// (and in a cluster, where).
func (a *auditor) paymentState(p *messages.Payment, key string, card uint64) string {
	where := a.onNode(a.slotOfPayment(key))
	switch {
	case p == nil && where == "":
		return ""
	case p == nil:
		return ": none" + where
	case p.CardId != card:
		return fmt.Sprintf(": it is %s%s, with card %d", shortState(p.State.String()), where, p.CardId)
	}
	return fmt.Sprintf(": it is %s%s", shortState(p.State.String()), where)
}

// parties checks, on a cluster node, that every party stored is of a slot the node owns.
func (a *auditor) parties(s *persistence.Snapshot) error {
	return a.scan(s, []byte{persistence.PrefixParty}, func(k, v []byte) (bool, error) {
		p := &messages.Party{}
		if err := proto.Unmarshal(v, p); err != nil {
			return false, fmt.Errorf("party %x: %w", k, err)
		}
		a.placed("party", p.Id, a.slots().OfParty(p.Id))
		return true, nil
	})
}
