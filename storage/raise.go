package storage

import (
	"context"
	"fmt"

	"github.com/coop-network/coop/proofs"
	"github.com/coop-network/coop/storage/manifest"
)

// Raising. Reed–Solomon as Put codes it (klauspost/reedsolomon's default
// matrix: a Vandermonde matrix made systematic) gives parity piece i of a
// segment the same bytes whatever the number of parity pieces, as long as
// it is more than i: row K+i of the coding matrix is the Vandermonde row
// K+i times the inverse of the top K rows, and neither depends on M. So a
// segment coded with K data and M parity pieces becomes one coded with M2 >
// M parity pieces by adding pieces M…M2−1, without touching the others;
// with K = 1 the added pieces are further copies. TestParityPrefix checks
// the property on the library Put uses.

// AddParity computes the parity pieces M…m2−1 of one segment (indices
// K+M…K+m2−1) from any K of its pieces (fetched and checked like Get's),
// writing them into sink. Like Rebuild it needs no file key. The new
// pieces' ids (their commitments bound to their size) are not checked against anything: the caller
// records them (chain.RaisePieces), and their holders' proofs vouch for
// them.
func AddParity(ctx context.Context, l SegmentLayout, src PieceSource, sink BlockSink, m2 int, opts ...Option) ([]PieceInfo, error) {
	if m2 <= l.M || l.K+m2 > manifest.MaxShards {
		return nil, fmt.Errorf("storage: add parity: from m=%d to m=%d with k=%d: want m < m2 and k+m2 ≤ %d", l.M, m2, l.K, manifest.MaxShards)
	}
	if err := l.check(); err != nil {
		return nil, err
	}
	o := collect(opts)
	good, errs := gather(ctx, src, l.Pieces, nil, l.K, o.tempDir)
	defer closeAll(good)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(good) < l.K {
		return nil, &SegmentError{Index: l.Pieces[0].Segment, Have: len(good), Need: l.K, Errs: errs}
	}
	want := make([]int, 0, m2-l.M)
	for i := l.K + l.M; i < l.K+m2; i++ {
		want = append(want, i)
	}
	outs, err := regenerate(ctx, l.K, m2, l.Pieces[0].Size, good, want, sink)
	if err != nil {
		return nil, err
	}
	res := make([]PieceInfo, 0, len(outs))
	for i, o := range outs {
		id, err := o.w.Commit()
		if err != nil {
			for _, rest := range outs[i+1:] {
				rest.w.Abort()
			}
			return res, fmt.Errorf("storage: add parity: committing piece %d: %w", o.idx, err)
		}
		ref := l.Pieces[0]
		ref.Index, ref.ID = o.idx, id
		res = append(res, PieceInfo{PieceRef: ref, Root: o.w.Root(), Leaves: proofs.LeafCount(ref.Size)})
	}
	return res, nil
}

// Widen returns a copy of manifest m that lists, for each segment, the
// added parity pieces extra[segment] after its own K+M (as AddParity made
// them and the ledger records them), with M = m2. Get then reads the file
// from any K of the K+m2 pieces of each segment. Every segment must gain
// m2−M pieces.
func Widen(m *manifest.Manifest, m2 int, extra [][]manifest.Piece) (*manifest.Manifest, error) {
	if m2 < int(m.M) || int(m.K)+m2 > manifest.MaxShards || len(extra) != len(m.Segments) {
		return nil, fmt.Errorf("storage: widen: k=%d m=%d to m=%d with %d of %d segments", m.K, m.M, m2, len(extra), len(m.Segments))
	}
	w := *m
	w.M = uint64(m2)
	w.Segments = make([]manifest.Segment, len(m.Segments))
	for i, seg := range m.Segments {
		if len(extra[i]) != m2-int(m.M) {
			return nil, fmt.Errorf("storage: widen: segment %d gains %d pieces, want %d", i, len(extra[i]), m2-int(m.M))
		}
		w.Segments[i].Pieces = append(append([]manifest.Piece(nil), seg.Pieces...), extra[i]...)
	}
	if err := w.Validate(); err != nil {
		return nil, fmt.Errorf("storage: widen: %w", err)
	}
	return &w, nil
}
