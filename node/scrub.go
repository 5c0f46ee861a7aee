package node

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/node/scrub"
	"github.com/coop-network/coop/storage/blockstore"
)

// scrubStateFile is the file in the home directory keeping the last scrub
// report.
const scrubStateFile = "scrub.json"

// newScrubber makes the node's scrubber of its held pieces.
func (n *Node) newScrubber() *scrub.Scrubber {
	return scrub.New(n.addr, n.txLedger(), scrubStore{n.hold}, scrub.Config{
		Interval:  n.cfg.ScrubInterval,
		Rate:      n.cfg.ScrubRate,
		StateFile: filepath.Join(n.cfg.Home, scrubStateFile),
		Logger:    n.log,
	})
}

// scrubStore gives the scrubber the block store, and drops pieces through
// the holder, so their Merkle levels go with them.
type scrubStore struct{ h *holder }

func (s scrubStore) Open(ctx context.Context, id chain.Hash) (scrub.Piece, error) {
	r, err := s.h.store.Open(ctx, blockstore.ID(id))
	if errors.Is(err, blockstore.ErrNotFound) {
		return nil, fmt.Errorf("%w: %w", fs.ErrNotExist, err)
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (s scrubStore) Drop(ctx context.Context, id chain.Hash) error {
	err := s.h.deleteBlock(ctx, blockstore.ID(id))
	if errors.Is(err, blockstore.ErrNotFound) {
		return nil
	}
	return err
}

var _ api.Scrubber = (*Node)(nil)

// Scrub checks every piece the ledger credits this node with now (see
// node/scrub): corrupt and missing pieces are dropped and reported lost
// on the ledger. A background scrub in progress gives way to it.
func (n *Node) Scrub(ctx context.Context, opts api.ScrubOptions, progress func(api.ScrubProgress)) (*api.ScrubReport, error) {
	var p func(scrub.Progress)
	if progress != nil {
		p = func(sp scrub.Progress) { progress(api.ScrubProgress(sp)) }
	}
	rep, err := n.scrub.Run(ctx, scrub.Options{Rate: opts.Rate, Progress: p})
	if rep.Started.IsZero() {
		return nil, err
	}
	return scrubReport(rep), err
}

// LastScrub is the report of the node's last scrub, in the background or
// on demand (kept across restarts); ErrNotFound before any.
func (n *Node) LastScrub(ctx context.Context) (*api.ScrubReport, error) {
	rep, ok := n.scrub.Last()
	if !ok {
		return nil, fmt.Errorf("%w: this node has not scrubbed yet", api.ErrNotFound)
	}
	return scrubReport(rep), nil
}

// scrubReport is a scrub report as the API gives it.
func scrubReport(r scrub.Report) *api.ScrubReport {
	out := &api.ScrubReport{
		Started: r.Started, Seconds: r.Duration.Round(time.Millisecond).Seconds(), Background: r.Background,
		Pieces: r.Pieces, TotalPieces: r.TotalPieces, Bytes: r.Bytes, TotalBytes: r.TotalBytes,
		OK: r.OK, Corrupt: r.Corrupt, Missing: r.Missing, Unreadable: r.Unreadable,
		Reported: r.Reported, ReportTxs: r.ReportTxs, Error: r.Error, LostOmitted: r.FindingsOmitted,
	}
	if n := len(r.Findings); n > scrub.MaxKeptFindings {
		r.Findings, out.LostOmitted = r.Findings[:scrub.MaxKeptFindings], out.LostOmitted+n-scrub.MaxKeptFindings
	}
	for _, f := range r.Findings {
		sf := api.ScrubFinding{Piece: f.Piece.String(), Problem: f.Problem, Detail: f.Detail}
		for _, e := range f.Entries {
			sf.Files = append(sf.Files, fmt.Sprintf("%s/%d/%d", e.File, e.Segment, e.Index))
		}
		out.Lost = append(out.Lost, sf)
	}
	return out
}
