package storage

import (
	"context"
	"fmt"
	"slices"

	"github.com/klauspost/reedsolomon"

	"github.com/coop-network/coop/proofs"
	"github.com/coop-network/coop/storage/blockstore"
	"github.com/coop-network/coop/storage/manifest"
)

// SegmentLayout is everything needed to rebuild pieces of one segment, and
// none of it secret: a repairer needs no file key, because Reed–Solomon works
// on the ciphertext, byte position by byte position — so not even the stripe
// unit matters. The ledger (or the manifest, for the owner) supplies it.
type SegmentLayout struct {
	K, M   int
	Pieces []PieceRef // the K+M pieces, by index, with ids and sizes
}

// rebuildChunk is how many bytes of each piece Rebuild processes at a time.
const rebuildChunk = 256 << 10

// Layout returns segment si's layout from a manifest.
func Layout(fileID blockstore.ID, m *manifest.Manifest, si int) SegmentLayout {
	l := SegmentLayout{K: int(m.K), M: int(m.M)}
	for i, p := range m.Segments[si].Pieces {
		l.Pieces = append(l.Pieces, PieceRef{FileID: fileID, Segment: si, Index: i, ID: p.ID, Size: int64(p.Size)})
	}
	return l
}

func (l SegmentLayout) validate(want []int) error {
	if err := l.check(); err != nil {
		return err
	}
	if len(want) == 0 || len(want) > l.M+l.K-1 {
		return fmt.Errorf("storage: rebuild: %d pieces asked for, between 1 and %d possible", len(want), l.K+l.M-1)
	}
	s := slices.Clone(want)
	slices.Sort(s)
	for i, w := range s {
		if w < 0 || w >= len(l.Pieces) || (i > 0 && s[i-1] == w) {
			return fmt.Errorf("storage: rebuild: bad piece indices %v", want)
		}
	}
	return nil
}

// check validates the layout itself.
func (l SegmentLayout) check() error {
	if l.K < 1 || l.M < 0 || l.K+l.M > manifest.MaxShards || len(l.Pieces) != l.K+l.M {
		return fmt.Errorf("storage: rebuild: bad layout: k=%d m=%d with %d pieces", l.K, l.M, len(l.Pieces))
	}
	for _, p := range l.Pieces {
		if p.Size != l.Pieces[0].Size || p.Size <= 0 {
			return fmt.Errorf("storage: rebuild: pieces of one segment must share one positive size")
		}
	}
	return nil
}

// Rebuild regenerates the pieces at indices want of one segment from any K
// of the others (fetched and checked like Get's), writing them into sink.
// Each rebuilt piece must hash to the id the layout lists, or nothing is
// committed for it and the error wraps ErrPieceMismatch. It returns the
// rebuilt pieces with their commitments, for the new holders and the ledger.
func Rebuild(ctx context.Context, l SegmentLayout, src PieceSource, sink BlockSink, want []int, opts ...Option) ([]PieceInfo, error) {
	if err := l.validate(want); err != nil {
		return nil, err
	}
	o := collect(opts)
	skip := make(map[int]bool, len(want))
	for _, w := range want {
		skip[w] = true
	}
	good, errs := gather(ctx, src, l.Pieces, skip, l.K, o.tempDir)
	defer closeAll(good)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(good) < l.K {
		return nil, &SegmentError{Index: l.Pieces[0].Segment, Have: len(good), Need: l.K, Errs: errs}
	}
	outs, err := regenerate(ctx, l.K, l.M, l.Pieces[0].Size, good, want, sink)
	if err != nil {
		return nil, err
	}
	abort := func() {
		for _, o := range outs {
			o.w.Abort()
		}
	}
	for _, o := range outs {
		if id, want := o.w.Sum(), l.Pieces[o.idx].ID; id != want {
			abort()
			return nil, fmt.Errorf("storage: rebuild: piece %d: %w: rebuilt bytes hash to %s, want %s (wrong layout?)", o.idx, ErrPieceMismatch, id, want)
		}
	}
	var res []PieceInfo
	for i, o := range outs {
		id, err := o.w.Commit()
		if err != nil {
			for _, rest := range outs[i+1:] {
				rest.w.Abort()
			}
			return res, fmt.Errorf("storage: rebuild: committing piece %d: %w", o.idx, err)
		}
		ref := l.Pieces[o.idx]
		ref.ID = id
		res = append(res, PieceInfo{PieceRef: ref, Root: o.w.Root(), Leaves: proofs.LeafCount(ref.Size)})
	}
	return res, nil
}

// regenerated is one piece regenerate wrote: its block (not committed),
// whose writer computed its commitment and id on the way.
type regenerated struct {
	idx int
	w   BlockWriter
}

// regenerate computes the pieces at indices want of a segment coded with k
// data and m parity pieces of size bytes each, from the good pieces (at
// least k), writing each into a new block of sink that it leaves
// uncommitted. On error nothing is left open.
func regenerate(ctx context.Context, k, m int, size int64, good []goodPiece, want []int, sink BlockSink) ([]*regenerated, error) {
	var rs reedsolomon.Encoder
	if k > 1 {
		var err error
		if rs, err = reedsolomon.New(k, m); err != nil {
			return nil, fmt.Errorf("storage: reed-solomon: %w", err)
		}
	}
	outs := make([]*regenerated, 0, len(want))
	abort := func() {
		for _, o := range outs {
			o.w.Abort()
		}
	}
	for _, idx := range want {
		w, err := sink.CreateBlock(ctx)
		if err != nil {
			abort()
			return nil, fmt.Errorf("storage: rebuild: creating piece %d: %w", idx, err)
		}
		outs = append(outs, &regenerated{idx: idx, w: w})
	}

	n := k + m
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = make([]byte, rebuildChunk)
	}
	shards := make([][]byte, n)
	required := make([]bool, n)
	for _, idx := range want {
		required[idx] = true
	}
	for off := int64(0); off < size; off += int64(rebuildChunk) {
		if err := ctx.Err(); err != nil {
			abort()
			return nil, err
		}
		c := int(min(int64(rebuildChunk), size-off))
		for i := range shards {
			shards[i] = bufs[i][:0]
		}
		for _, p := range good {
			b := bufs[p.idx][:c]
			if _, err := p.r.ReadAt(b, off); err != nil {
				abort()
				return nil, fmt.Errorf("storage: rebuild: reading piece %d: %w", p.idx, err)
			}
			shards[p.idx] = b
		}
		if rs == nil { // K = 1: every piece is a copy
			for _, o := range outs {
				shards[o.idx] = append(shards[o.idx][:0], shards[good[0].idx]...)
			}
		} else if err := rs.ReconstructSome(shards, required); err != nil {
			abort()
			return nil, fmt.Errorf("storage: rebuild: reed-solomon: %w", err)
		}
		for _, o := range outs {
			b := shards[o.idx][:c]
			if _, err := o.w.Write(b); err != nil {
				abort()
				return nil, fmt.Errorf("storage: rebuild: writing piece %d: %w", o.idx, err)
			}
		}
	}
	return outs, nil
}
