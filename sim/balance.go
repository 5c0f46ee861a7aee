package sim

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/placement"
	"github.com/coop-network/coop/storage"
)

// BalanceOptions configure the placement balance experiment (Balance).
type BalanceOptions struct {
	// Nodes is the network size.
	Nodes int
	// Seed fixes the pledges, the files and their uploaders.
	Seed uint64
	// Fills are the fractions of the total pledge stored (in pieces, parity
	// included) at which the fill of every node is recorded, increasing,
	// each in (0, 1).
	Fills []float64
	// Storage is the redundancy and layout of every put (zero:
	// DefaultStorage).
	Storage storage.Config
}

// NodeFill is one node's pledge and the bytes it holds at a snapshot.
type NodeFill struct {
	Pledge uint64 `json:"pledge"`
	Held   uint64 `json:"held"`
}

// Fill is Held ÷ Pledge.
func (n NodeFill) Fill() float64 { return float64(n.Held) / float64(n.Pledge) }

// FillSnapshot is the network when the stored pieces first reached a
// fraction Target of the total pledge.
type FillSnapshot struct {
	Target float64 `json:"target"`
	// Stored is the fraction actually reached (pieces ÷ total pledge).
	Stored float64 `json:"stored"`
	Files  int     `json:"files"`
	Pieces int     `json:"pieces"`
	// Fill is the distribution of the nodes' fill ratios (held ÷ pledge).
	Fill Dist `json:"fill"`
	// Small and Large are the mean fill of the nodes with the smallest
	// and the largest tenth of the pledges.
	Small float64 `json:"small_mean"`
	Large float64 `json:"large_mean"`
	// Nodes is every node's pledge and holding, in node order.
	Nodes []NodeFill `json:"-"`
}

// BalanceResult is the outcome of Balance.
type BalanceResult struct {
	Nodes     int            `json:"nodes"`
	Seed      uint64         `json:"seed"`
	K         int            `json:"k"`
	M         int            `json:"m"`
	Pledged   uint64         `json:"pledged"`
	Snapshots []FillSnapshot `json:"snapshots"`
	// FirstFailure is the stored fraction at which the first put found
	// too few holders with room (0: none failed before the last Fill).
	FirstFailure float64 `json:"first_failure"`
}

// simNode is a node of the simulated ledger.
type simNode struct {
	rec    chain.Node
	online bool
}

// Balance places files one after another on a network of o.Nodes nodes
// with varied pledges (NewPledge), each put by a random node with the real
// selection rule of package node/placement, exactly as a put chooses
// holders (placement.New from the node's ledger record, then
// placement.Place over the planned pieces of the file, placement.Plan),
// and charges the chosen holders on the simulated ledger. It records every
// node's fill at each of o.Fills.
//
// Simulated: the ledger (a node's record is its pledge and the bytes
// credited to it; every node is active, answers, and has a perfect audit
// score), quota (every uploader has enough), and the bytes (no file is
// encoded or pushed: only piece sizes matter to placement).
func Balance(o BalanceOptions) (*BalanceResult, error) {
	if o.Nodes < 2 {
		return nil, fmt.Errorf("sim: %d nodes, need at least 2", o.Nodes)
	}
	if o.Storage.K == 0 {
		o.Storage = DefaultStorage()
	}
	for i, f := range o.Fills {
		if f <= 0 || f >= 1 || (i > 0 && f <= o.Fills[i-1]) {
			return nil, fmt.Errorf("sim: fills %v: want increasing fractions in (0, 1)", o.Fills)
		}
	}
	rng := newRand(o.Seed, streamBalance)
	nodes := make([]*simNode, o.Nodes)
	res := &BalanceResult{Nodes: o.Nodes, Seed: o.Seed, K: o.Storage.K, M: o.Storage.M}
	for i := range nodes {
		p := NewPledge(rng)
		nodes[i] = &simNode{online: true, rec: chain.Node{Address: newAddress(o.Seed, i), Pledge: p, Status: chain.NodeActive}}
		res.Pledged += p
	}
	var stored uint64
	pieces := 0
	for file := 0; len(res.Snapshots) < len(o.Fills); file++ {
		size := NewFileSize(rng)
		uploader := rng.IntN(len(nodes))
		planned := placement.Plan(size, o.Storage)
		holders, err := placeFile(nodes, uploader, newFileID(o.Seed, file), planned, o.Storage.K+o.Storage.M)
		if errors.Is(err, placement.ErrNoHolders) {
			if res.FirstFailure == 0 {
				res.FirstFailure = float64(stored) / float64(res.Pledged)
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		for i, h := range holders {
			h.rec.Used += uint64(planned[i].Size)
			stored += uint64(planned[i].Size)
		}
		pieces += len(planned)
		for len(res.Snapshots) < len(o.Fills) && float64(stored) >= o.Fills[len(res.Snapshots)]*float64(res.Pledged) {
			res.Snapshots = append(res.Snapshots, snapshot(nodes, o.Fills[len(res.Snapshots)], float64(stored)/float64(res.Pledged), file+1, pieces))
		}
	}
	return res, nil
}

// candidate is a placement candidate backed by a simulated node.
type candidate struct {
	placement.Candidate
	n *simNode
}

// placeFile chooses the holders of planned (width pieces a segment) as a
// put by node uploader does: candidates are the online active nodes with
// free pledge (placement.New), placed with placement.Place.
func placeFile(nodes []*simNode, uploader int, id chain.Hash, planned []storage.PieceInfo, width int) ([]*simNode, error) {
	cands := make([]*candidate, 0, len(nodes))
	for i, n := range nodes {
		if !n.online || n.rec.Status != chain.NodeActive || n.rec.Free() == 0 {
			continue
		}
		cands = append(cands, &candidate{Candidate: placement.New(&n.rec, i == uploader, [32]byte(id)), n: n})
	}
	picks, err := placement.Place(cands, planned, width)
	if err != nil {
		return nil, err
	}
	out := make([]*simNode, len(picks))
	for i, c := range picks {
		out[i] = c.n
	}
	return out, nil
}

func snapshot(nodes []*simNode, target, stored float64, files, pieces int) FillSnapshot {
	s := FillSnapshot{Target: target, Stored: stored, Files: files, Pieces: pieces, Nodes: make([]NodeFill, len(nodes))}
	fills := make([]float64, len(nodes))
	for i, n := range nodes {
		s.Nodes[i] = NodeFill{Pledge: n.rec.Pledge, Held: n.rec.Used}
		fills[i] = s.Nodes[i].Fill()
	}
	s.Fill = Summarize(fills)
	s.Small, s.Large = tenthMeans(s.Nodes)
	return s
}

// tenthMeans is the mean fill of the nodes with the smallest tenth of the
// pledges and of those with the largest tenth.
func tenthMeans(ns []NodeFill) (small, large float64) {
	idx := make([]int, len(ns))
	for i := range idx {
		idx[i] = i
	}
	sortByPledge(idx, ns)
	tenth := max(1, len(ns)/10)
	for _, i := range idx[:tenth] {
		small += ns[i].Fill()
	}
	for _, i := range idx[len(idx)-tenth:] {
		large += ns[i].Fill()
	}
	return small / float64(tenth), large / float64(tenth)
}

func sortByPledge(idx []int, ns []NodeFill) {
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(ns[a].Pledge, ns[b].Pledge) })
}

// Streams of the placement and churn experiments, apart from the lookup
// experiment's.
const (
	streamBalance uint64 = 1<<62 + iota
	streamChurn
)
