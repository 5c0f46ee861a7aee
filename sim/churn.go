package sim

import (
	"bytes"
	"fmt"
	"math"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/placement"
	"github.com/coop-network/coop/node/repair"
	"github.com/coop-network/coop/storage"
)

// ChurnOptions configure the churn experiment (Churn).
type ChurnOptions struct {
	// Nodes is the network size at the start (it stays about the same:
	// as many join as leave).
	Nodes int
	// Seed fixes the pledges, the files, who leaves and who joins.
	Seed uint64
	// Epochs is the length of the run in ledger epochs.
	Epochs int
	// Rate is the fraction of the online nodes that leave for good in
	// each epoch; as many new nodes join.
	Rate float64
	// Fill is the fraction of the total pledge stored (pieces, parity
	// included) before the churn starts.
	Fill float64
	// Storage is the redundancy and layout of every put (zero:
	// DefaultStorage).
	Storage storage.Config
	// Params are the ledger parameters (zero: chain.DefaultParams); the
	// churn depends on RepairAfterMissed.
	Params chain.Params
	// EqualPledge, if not 0, is every node's pledge instead of NewPledge's
	// spread (a what-if: placement then has no large nodes to prefer).
	EqualPledge uint64
	// Repair is the repairers' configuration (zero Margin and OthersWait:
	// repair.DefaultConfig's).
	Repair repair.Config
}

// EpochStats is one epoch of a churn run.
type EpochStats struct {
	Epoch  int `json:"epoch"`
	Online int `json:"online"`
	Left   int `json:"left"`
	Joined int `json:"joined"`
	// Segments is the number of segments repaired, Pieces the pieces
	// moved to new holders.
	Segments int `json:"segments"`
	Pieces   int `json:"pieces"`
	// Fetched is the bytes of pieces the repairers fetched to rebuild
	// (K per segment), Pushed the bytes of rebuilt pieces sent to new
	// holders (those a repairer keeps itself are not sent).
	Fetched uint64 `json:"fetched"`
	Pushed  uint64 `json:"pushed"`
	// Stored is the bytes of pieces of the files not lost, at the start
	// of the epoch.
	Stored uint64 `json:"stored"`
	// Waiting is the number of segments with a piece on a node that is
	// gone but not yet repairable, after the repairs.
	Waiting int `json:"waiting"`
	// Failed counts file repairs that found no holder with room.
	Failed int `json:"failed"`
	// LostFiles and LostBytes are cumulative: files with a segment of
	// fewer than K pieces on nodes still online (the others are gone for
	// good), and their plaintext bytes.
	LostFiles int    `json:"lost_files"`
	LostBytes uint64 `json:"lost_bytes"`
}

// Traffic is the repair traffic (fetched and pushed) relative to Stored.
func (e EpochStats) Traffic() float64 {
	if e.Stored == 0 {
		return 0
	}
	return float64(e.Fetched+e.Pushed) / float64(e.Stored)
}

// ChurnResult is the outcome of Churn.
type ChurnResult struct {
	Nodes             int          `json:"nodes"`
	Seed              uint64       `json:"seed"`
	Rate              float64      `json:"rate"`
	K                 int          `json:"k"`
	M                 int          `json:"m"`
	RepairAfterMissed uint64       `json:"repair_after_missed"`
	Uniform           bool         `json:"equal_pledges"`
	Files             int          `json:"files"`
	Bytes             uint64       `json:"bytes"`
	Pieces            int          `json:"pieces"`
	Epochs            []EpochStats `json:"epochs"`
}

// Lost is the files lost by the end of the run.
func (r *ChurnResult) Lost() int {
	if len(r.Epochs) == 0 {
		return 0
	}
	return r.Epochs[len(r.Epochs)-1].LostFiles
}

// simFile is a file on the simulated ledger.
type simFile struct {
	idx    int // in churnNet.files
	f      chain.File
	owner  *simNode
	online []int          // per segment: pieces on online nodes
	seen   map[uint32]int // segment → epoch others first saw it due
	lost   bool
}

// ref is one piece held by a node: file index and piece slot.
type ref struct{ file, slot int }

// churnNet is the simulated network and ledger of a churn run.
type churnNet struct {
	o      ChurnOptions
	nodes  []*simNode
	byAddr map[chain.Address]*chain.Node
	held   map[*simNode][]ref
	files  []*simFile
}

// Churn stores files at the default redundancy on a network of o.Nodes
// nodes (as Balance does: real placement rule, varied pledges) and then,
// for o.Epochs epochs, lets a fraction o.Rate of the online nodes leave
// for good and as many new nodes join, and repairs as coop's repairers do.
//
// Real: the placement rule (package node/placement: placement.Place for
// the puts; placement.Next with placement.RepairOrder for each rebuilt
// piece, as the node's repair does) and the repair decision of package
// node/repair: which segments are due (repair.Need with the ledger's
// chain.Repairable rule: a holder's pieces become repairable once it
// missed Params.RepairAfterMissed epochs in a row, and the default margin
// repairs any loss), who repairs (the owner while online; otherwise other
// nodes in turns, OthersWait epochs after the loss was first seen, in the
// order of repair.RankKey among the repair.Ranked nodes, as
// repair.Ahead counts).
//
// Simulated: the ledger (epoch settlement is reduced to a node that is
// gone missing each epoch, one online proving each epoch), the network (a
// node is online or gone; nothing is slow, refused or corrupted), and the
// bytes: no piece is encoded, fetched or pushed; traffic is counted from
// piece sizes (K pieces fetched per repaired segment, one push per rebuilt
// piece not kept by its repairer; manifests are not counted). Every epoch
// the repair round runs once, after the epoch is settled, and every
// repair commits (no lost races, no receipt failures).
func Churn(o ChurnOptions) (*ChurnResult, error) {
	res, _, err := runChurn(o)
	return res, err
}

// runChurn is Churn, also returning the final network.
func runChurn(o ChurnOptions) (*ChurnResult, *churnNet, error) {
	if o.Nodes < 2 || o.Epochs < 1 || o.Rate < 0 || o.Rate >= 1 || o.Fill <= 0 || o.Fill >= 1 {
		return nil, nil, fmt.Errorf("sim: churn options %d nodes, %d epochs, rate %.2f, fill %.2f: want ≥ 2 nodes, ≥ 1 epoch, rate in [0, 1), fill in (0, 1)", o.Nodes, o.Epochs, o.Rate, o.Fill)
	}
	if o.Storage.K == 0 {
		o.Storage = DefaultStorage()
	}
	if o.Params.EpochLength == 0 {
		o.Params = chain.DefaultParams()
	}
	if o.Repair.Margin == 0 && o.Repair.OthersWait == 0 {
		d := repair.DefaultConfig()
		o.Repair.Margin, o.Repair.OthersWait = d.Margin, d.OthersWait
	}
	rng := newRand(o.Seed, streamChurn)
	n := &churnNet{o: o, byAddr: map[chain.Address]*chain.Node{}, held: map[*simNode][]ref{}}
	pledge := func() uint64 {
		if o.EqualPledge != 0 {
			return o.EqualPledge
		}
		return NewPledge(rng)
	}
	var pledged uint64
	for range o.Nodes {
		pledged += n.join(pledge()).rec.Pledge
	}
	width := o.Storage.K + o.Storage.M
	res := &ChurnResult{Nodes: o.Nodes, Seed: o.Seed, Rate: o.Rate, K: o.Storage.K, M: o.Storage.M, RepairAfterMissed: o.Params.RepairAfterMissed, Uniform: o.EqualPledge != 0}
	var stored uint64
	for float64(stored) < o.Fill*float64(pledged) {
		size := NewFileSize(rng)
		uploader := rng.IntN(len(n.nodes))
		id := newFileID(o.Seed, len(n.files))
		planned := placement.Plan(size, o.Storage)
		holders, err := placeFile(n.nodes, uploader, id, planned, width)
		if err != nil {
			return nil, nil, fmt.Errorf("sim: storing file %d at %.2f of the pledge: %w", len(n.files), float64(stored)/float64(pledged), err)
		}
		sf := &simFile{idx: len(n.files), owner: n.nodes[uploader], seen: map[uint32]int{}, online: make([]int, len(planned)/width),
			f: chain.File{ID: id, Owner: n.nodes[uploader].rec.Address, Size: uint64(size), K: uint32(o.Storage.K), M: uint32(o.Storage.M)}}
		for i, p := range planned {
			h := holders[i]
			h.rec.Used += uint64(p.Size)
			stored += uint64(p.Size)
			sf.f.Pieces = append(sf.f.Pieces, chain.Piece{Segment: uint32(p.Segment), Index: uint32(p.Index), Holder: h.rec.Address, Size: uint64(p.Size)})
			sf.online[p.Segment]++
			n.held[h] = append(n.held[h], ref{len(n.files), i})
		}
		n.files = append(n.files, sf)
		res.Bytes += uint64(size)
		res.Pieces += len(planned)
	}
	res.Files = len(n.files)
	var lostFiles int
	var lostBytes uint64
	for e := 1; e <= o.Epochs; e++ {
		st := EpochStats{Epoch: e}
		for _, f := range n.files {
			if !f.lost {
				for _, p := range f.f.Pieces {
					st.Stored += p.Size
				}
			}
		}
		online := n.online()
		leave := int(math.Round(o.Rate * float64(len(online))))
		for i := range leave { // a partial Fisher–Yates shuffle picks who leaves
			j := i + rng.IntN(len(online)-i)
			online[i], online[j] = online[j], online[i]
			for _, f := range n.leave(online[i]) {
				lostFiles++
				lostBytes += f.f.Size
			}
		}
		for range leave {
			n.join(pledge())
		}
		st.Left, st.Joined = leave, leave
		n.settle()
		n.repairRound(e, &st)
		st.Online = len(n.online())
		st.LostFiles, st.LostBytes = lostFiles, lostBytes
		res.Epochs = append(res.Epochs, st)
	}
	return res, n, nil
}

func (n *churnNet) join(pledge uint64) *simNode {
	sn := &simNode{online: true, rec: chain.Node{Address: newAddress(n.o.Seed, len(n.nodes)), Pledge: pledge, Status: chain.NodeActive}}
	n.nodes = append(n.nodes, sn)
	n.byAddr[sn.rec.Address] = &sn.rec
	return sn
}

func (n *churnNet) online() []*simNode {
	var out []*simNode
	for _, sn := range n.nodes {
		if sn.online {
			out = append(out, sn)
		}
	}
	return out
}

// leave takes sn offline for good and returns the files that lost their
// last K pieces on online nodes because of it.
func (n *churnNet) leave(sn *simNode) []*simFile {
	sn.online = false
	var lost []*simFile
	for _, r := range n.held[sn] {
		f := n.files[r.file]
		p := f.f.Pieces[r.slot]
		if f.lost || p.Holder != sn.rec.Address {
			continue
		}
		f.online[p.Segment]--
		if f.online[p.Segment] < int(f.f.K) {
			f.lost = true
			lost = append(lost, f)
		}
	}
	return lost
}

// settle ends an epoch on the ledger as far as repair is concerned: a
// node that holds pieces and is gone missed it; one online proved.
func (n *churnNet) settle() {
	for _, sn := range n.nodes {
		switch {
		case sn.online:
			sn.rec.MissedInRow = 0
		case sn.rec.Used > 0:
			sn.rec.MissedInRow++
		}
	}
}

// repairRound is every node's repair round in epoch e: each file's due
// segments (repair.Need), repaired by the owner if online, else by the
// first online node whose turn it is.
func (n *churnNet) repairRound(e int, st *EpochStats) {
	p := n.o.Params
	for _, f := range n.files {
		if f.lost {
			continue
		}
		need := repair.Need(&f.f, p, n.byAddr, nil, n.o.Repair.Margin)
		due := map[*simNode][]repair.SegmentNeed{}
		var repairers []*simNode
		for _, sn := range need {
			r := f.owner
			if !r.online {
				if r = n.othersTurn(f, sn.Segment, e); r == nil {
					continue
				}
			}
			if due[r] == nil {
				repairers = append(repairers, r)
			}
			due[r] = append(due[r], sn)
		}
		for _, r := range repairers {
			if !n.repairFile(f, r, due[r], st) {
				st.Failed++
			}
		}
		width := int(f.f.K + f.f.M)
		for _, on := range f.online {
			if on < width && !f.lost {
				st.Waiting++
			}
		}
	}
}

// othersTurn is the node that repairs segment s of f, whose owner is gone,
// in epoch e: the online node with the fewest ranked nodes ahead of it
// (repair.Ahead), once OthersWait epochs passed since the segment was
// first seen due and that many turns have come; nil if none yet.
func (n *churnNet) othersTurn(f *simFile, s uint32, e int) *simNode {
	first, ok := f.seen[s]
	if !ok {
		first = e
		f.seen[s] = e
	}
	wait := int(n.o.Repair.OthersWait)
	if e < first+wait {
		return nil
	}
	turns := e - first - wait + 1
	var best *simNode
	var bestKey [32]byte
	var keys [][32]byte
	for _, sn := range n.nodes {
		if !repair.Ranked(n.o.Params, &sn.rec) {
			continue
		}
		k := repair.RankKey(f.f.ID, s, sn.rec.Address)
		keys = append(keys, k)
		if sn.online && (best == nil || bytes.Compare(k[:], bestKey[:]) < 0) {
			best, bestKey = sn, k
		}
	}
	if best == nil {
		return nil
	}
	ahead := 0
	for _, k := range keys {
		if bytes.Compare(k[:], bestKey[:]) < 0 {
			ahead++
		}
	}
	if ahead >= turns {
		return nil
	}
	return best
}

// repairFile is repairer r's repair of segments segs of f: rebuild each
// from K online pieces, give each repairable piece a new holder as the
// node's repair does (placement.Next in placement.RepairOrder over the
// online active nodes with room, not in the segment), and record it. It
// reports false, changing nothing, when a piece finds no holder.
func (n *churnNet) repairFile(f *simFile, r *simNode, segs []repair.SegmentNeed, st *EpochStats) bool {
	p := n.o.Params
	var cands []*candidate
	for _, sn := range n.nodes {
		if !sn.online || sn.rec.Status != chain.NodeActive || sn.rec.Free() == 0 {
			continue
		}
		if sn.rec.MissedInRow >= p.RepairAfterMissed && sn.rec.Used > 0 {
			continue
		}
		cands = append(cands, &candidate{Candidate: placement.New(&sn.rec, sn == r, [32]byte(f.f.ID)), n: sn})
	}
	repairOrder := placement.RepairOrder(r == f.owner)
	order := func(a, b *candidate) int { return repairOrder(&a.Candidate, &b.Candidate) }
	width := int(f.f.K + f.f.M)
	type move struct {
		slot int
		to   *candidate
	}
	var moves []move
	var fetched, pushed uint64
	for _, sg := range segs {
		seg := f.f.Pieces[int(sg.Segment)*width : (int(sg.Segment)+1)*width]
		avoid := map[chain.Address]bool{}
		for _, pc := range seg {
			avoid[pc.Holder] = true
		}
		fetched += uint64(f.f.K) * seg[0].Size
		for _, idx := range sg.Lost {
			size := seg[idx].Size
			pick, ok := placement.Next(cands, order, func(c *candidate) bool { return avoid[c.Address] }, size)
			if !ok {
				return false
			}
			pick.Take(size)
			avoid[pick.Address] = true
			if pick.n != r {
				pushed += size
			}
			moves = append(moves, move{int(sg.Segment)*width + int(idx), pick})
		}
	}
	for _, m := range moves {
		pc := &f.f.Pieces[m.slot]
		old := n.byAddr[pc.Holder]
		old.Used -= min(old.Used, pc.Size)
		pc.Holder = m.to.Address
		m.to.n.rec.Used += pc.Size
		f.online[pc.Segment]++
		n.held[m.to.n] = append(n.held[m.to.n], ref{f.idx, m.slot})
	}
	for _, sg := range segs {
		delete(f.seen, sg.Segment)
	}
	st.Segments += len(segs)
	st.Pieces += len(moves)
	st.Fetched += fetched
	st.Pushed += pushed
	return true
}
