// Package placement chooses the holders of a file's pieces: the pure
// selection rule of a put and of a repair, with no network or ledger
// access. Package node lists the candidates (active ledger nodes with
// free pledge that answer now) and pushes the pieces; the simulation in
// package sim runs the same rule over a simulated network.
//
// The rule (Better): other nodes before the uploader (data should leave
// the machine), then the node given least of this file so far (spread),
// then higher reputation, then the larger share of its pledge free (nodes
// fill in proportion to their pledges), then more free bytes, then a
// per-file pseudo-random order. Place gives the K+M pieces of a segment to
// distinct nodes with room for them, one piece at a time, re-sorting the
// candidates before each.
package placement

import (
	"cmp"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/bits"
	"slices"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/exchange"
	"github.com/coop-network/coop/storage"
	"github.com/coop-network/coop/storage/manifest"
)

// MaxPiecesPerHolder bounds the pieces of one file a holder is given: its
// receipt must name them all in one exchange message.
const MaxPiecesPerHolder = exchange.MaxReceiptPieces

var (
	// ErrNoHolders: too few distinct candidates have room for a segment.
	ErrNoHolders = errors.New("too few nodes with room")
	// ErrTooManyPieces: the candidates with room already hold
	// MaxPiecesPerHolder pieces of the file each.
	ErrTooManyPieces = errors.New("too many pieces of the file per node")
)

// Candidate is a node that may hold pieces of one file, with that file's
// accounting so far.
type Candidate struct {
	// Address is the node's ledger address.
	Address chain.Address
	// Self marks the node that places the file (the uploader).
	Self bool
	// Free is the pledged capacity left, minus what this file was given.
	Free uint64
	// Capacity is the node's pledge (0: unknown, then Free alone ranks).
	Capacity uint64
	// Assigned is the bytes of this file given to the node.
	Assigned uint64
	// Pieces is the number of pieces of this file given to the node.
	Pieces int
	// Rep is the node's audit score in [0, 1].
	Rep float64
	// Tie is the per-file tie-break that spreads files over equal nodes.
	Tie [32]byte
}

// New returns the candidate for ledger node rec placing pieces of the file
// (or put) fileID; self marks the uploader's own node.
func New(rec *chain.Node, self bool, fileID [32]byte) Candidate {
	return Candidate{
		Address:  rec.Address,
		Self:     self,
		Free:     rec.Free(),
		Capacity: rec.Pledge,
		Rep:      float64(chain.AuditScore(rec)) / 1000,
		Tie:      sha256.Sum256(append(fileID[:], rec.Address[:]...)),
	}
}

// Slot is what the selection needs of a caller's candidate type: its
// placement accounting. *Candidate is a Slot, and so is any pointer to a
// struct that embeds Candidate.
type Slot interface {
	Slot() *Candidate
}

// Slot implements Slot.
func (c *Candidate) Slot() *Candidate { return c }

// Take charges c with one piece of size bytes.
func (c *Candidate) Take(size uint64) {
	c.Free -= size
	c.Assigned += size
	c.Pieces++
}

// Return undoes one Take of size bytes.
func (c *Candidate) Return(size uint64) {
	c.Free += size
	c.Assigned -= size
	c.Pieces--
}

// Better orders candidates for the next piece (the package's rule): it is
// negative when a should be chosen before b.
func Better(a, b *Candidate) int {
	if a.Self != b.Self {
		if b.Self {
			return -1
		}
		return 1
	}
	if c := cmp.Compare(a.Assigned, b.Assigned); c != 0 {
		return c
	}
	if c := cmp.Compare(b.Rep, a.Rep); c != 0 {
		return c
	}
	if c := freeShare(b, a); c != 0 {
		return c
	}
	if c := cmp.Compare(b.Free, a.Free); c != 0 {
		return c
	}
	return slices.Compare(a.Tie[:], b.Tie[:])
}

// freeShare compares the shares of their pledges a and b have free
// (a.Free ÷ a.Capacity against b's, exactly, in 128 bits), so nodes fill
// in proportion to what they pledged: a 1 TB node and a 100 GB node are
// both half full when the network is, instead of the large one taking
// every piece until its free bytes fall to the small one's. It is 0 when
// either capacity is unknown.
func freeShare(a, b *Candidate) int {
	if a.Capacity == 0 || b.Capacity == 0 {
		return 0
	}
	ah, al := bits.Mul64(a.Free, b.Capacity)
	bh, bl := bits.Mul64(b.Free, a.Capacity)
	if c := cmp.Compare(ah, bh); c != 0 {
		return c
	}
	return cmp.Compare(al, bl)
}

// Fits reports whether c can take one more piece of size bytes.
func (c *Candidate) Fits(size uint64) bool {
	return c.Free >= size && c.Pieces < MaxPiecesPerHolder
}

// Place assigns a holder to every piece: the width pieces of a segment
// (pieces lists them segment by segment) go to distinct candidates with
// room for them, each the best by Better at the time. It returns one
// candidate per piece; it reorders cands and charges each pick (Take).
// Errors wrap ErrNoHolders or ErrTooManyPieces.
func Place[C Slot](cands []C, pieces []storage.PieceInfo, width int) ([]C, error) {
	out := make([]C, len(pieces))
	order := func(a, b C) int { return Better(a.Slot(), b.Slot()) }
	for start := 0; start < len(pieces); start += width {
		seg := pieces[start:min(start+width, len(pieces))]
		used := make(map[*Candidate]bool, width)
		for i, p := range seg {
			slices.SortStableFunc(cands, order)
			var pick *Candidate
			var pickC C
			full := 0
			for _, cc := range cands {
				c := cc.Slot()
				if !used[c] && c.Free >= uint64(p.Size) {
					if c.Pieces >= MaxPiecesPerHolder {
						full++
						continue
					}
					pick, pickC = c, cc
					break
				}
			}
			if pick == nil && full > 0 {
				return nil, fmt.Errorf("%w: segment %d needs %d distinct nodes, and %d of those with room already hold %d pieces of the file, the most one receipt covers (use larger segments or more nodes)",
					ErrTooManyPieces, p.Segment, width, full, MaxPiecesPerHolder)
			}
			if pick == nil {
				return nil, fmt.Errorf("%w: segment %d needs %d distinct nodes with %d bytes free each; %d are usable", ErrNoHolders, p.Segment, width, p.Size, countFree(cands, uint64(p.Size)))
			}
			used[pick] = true
			pick.Take(uint64(p.Size))
			out[start+i] = pickC
		}
	}
	return out, nil
}

// Next sorts cands by order and returns the first that skip does not rule
// out and that Fits size bytes; ok is false if there is none. It charges
// nothing: the caller Takes the piece once the pick is final (a repair
// tries the next candidate when a push fails).
func Next[C Slot](cands []C, order func(a, b C) int, skip func(C) bool, size uint64) (pick C, ok bool) {
	slices.SortStableFunc(cands, order)
	for _, c := range cands {
		if skip(c) || !c.Slot().Fits(size) {
			continue
		}
		return c, true
	}
	return pick, false
}

func countFree[C Slot](cands []C, size uint64) int {
	k := 0
	for _, c := range cands {
		if c.Slot().Free >= size {
			k++
		}
	}
	return k
}

// RepairOrder orders candidates for the rebuilt pieces of a file placed by
// a repairing node (the Self candidate): for another owner's file (own
// false) the repairing node comes first (it has the bytes, and holding
// them earns it quota: the repairer's reward), then Better; for its own
// file Better alone (data should leave the machine).
func RepairOrder(own bool) func(a, b *Candidate) int {
	return func(a, b *Candidate) int {
		if !own && a.Self != b.Self {
			if a.Self {
				return -1
			}
			return 1
		}
		return Better(a, b)
	}
}

// Plan lists the pieces a file of size bytes will have under c, with their
// segments, indices and sizes (ids and roots are known only once it is
// encoded): what Place needs before the file is read.
func Plan(size int64, c storage.Config) []storage.PieceInfo {
	var out []storage.PieceInfo
	n := c.K + c.M
	for seg, left := 0, uint64(size); left > 0; seg++ {
		plain := min(left, uint64(c.SegmentSize))
		ps := int64(manifest.PieceSize(manifest.EncryptedSize(plain), uint64(c.K), uint64(c.StripeUnit)))
		for i := range n {
			out = append(out, storage.PieceInfo{PieceRef: storage.PieceRef{Segment: seg, Index: i, Size: ps}})
		}
		left -= plain
	}
	return out
}
