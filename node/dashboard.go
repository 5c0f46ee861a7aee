package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/storage/blockstore"
)

var (
	_ api.FileHealther  = (*Node)(nil)
	_ api.AccountReader = (*Node)(nil)
)

// healthView is the ledger state a file's health is judged against: the
// params, the nodes, the lost pieces, and which holders this node can
// reach now.
type healthView struct {
	params    chain.Params
	nodes     map[chain.Address]*chain.Node
	lost      map[chain.PieceRef]bool
	reachable map[chain.Address]bool
}

// readHealthView reads the ledger state FileHealth needs.
func (n *Node) readHealthView(ctx context.Context) (*healthView, error) {
	v := &healthView{nodes: map[chain.Address]*chain.Node{}, lost: map[chain.PieceRef]bool{}, reachable: map[chain.Address]bool{n.addr: true}}
	var err error
	if v.params, err = n.lc.Params(ctx); err != nil {
		return nil, fmt.Errorf("reading the ledger's params: %w", err)
	}
	nodes, err := n.lc.Nodes(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing nodes on the ledger: %w", err)
	}
	for i := range nodes {
		rec := &nodes[i]
		v.nodes[rec.Address] = rec
		if id, err := n.peerOf(rec); err == nil && rec.Address != n.addr {
			v.reachable[rec.Address] = n.host.Libp2p().Network().Connectedness(id) == network.Connected
		}
	}
	lost, err := n.lc.Lost(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing lost pieces: %w", err)
	}
	for _, lp := range lost {
		v.lost[chain.PieceRef{File: lp.File, Segment: lp.Piece.Segment, Index: lp.Piece.Index}] = true
	}
	return v, nil
}

// fileHealth judges f's pieces segment by segment: live unless
// chain.Repairable gives a reason (lost, holder disqualified or offline),
// reachable if live and held by this node or a connected peer.
func (v *healthView) fileHealth(f *chain.File) api.FileHealth {
	h := api.FileHealth{FileID: f.ID.String(), K: int(f.K), M: int(f.M), Segments: []api.SegmentHealth{}}
	width := int(f.K + f.M)
	if width == 0 {
		return h
	}
	for start := 0; start < len(f.Pieces); start += width {
		seg := f.Pieces[start:min(start+width, len(f.Pieces))]
		sh := api.SegmentHealth{Segment: start / width, Pieces: len(seg)}
		for _, p := range seg {
			lost := v.lost[chain.PieceRef{File: f.ID, Segment: p.Segment, Index: p.Index}]
			if why := chain.Repairable(v.params, lost, v.nodes[p.Holder]); why != "" {
				sh.Down = append(sh.Down, api.PieceDown{Index: int(p.Index), Holder: p.Holder.String(), Why: why})
				continue
			}
			sh.Live++
			if v.reachable[p.Holder] {
				sh.Reachable++
			}
		}
		h.Segments = append(h.Segments, sh)
	}
	return h
}

// FileHealth implements api.FileHealther: any file on the ledger, by id.
func (n *Node) FileHealth(ctx context.Context, fileID string) (*api.FileHealth, error) {
	id, err := blockstore.ParseID(fileID)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	f, err := n.lc.File(ctx, chain.Hash(id))
	switch {
	case errors.Is(err, chain.ErrNotFound):
		return nil, fmt.Errorf("%w: file %s is not on the ledger", ErrNotFound, id)
	case err != nil:
		return nil, fmt.Errorf("reading file %s from the ledger: %w", id, err)
	}
	v, err := n.readHealthView(ctx)
	if err != nil {
		return nil, err
	}
	h := v.fileHealth(&f)
	return &h, nil
}

// FilesHealth implements api.FileHealther: the account's files.
func (n *Node) FilesHealth(ctx context.Context) ([]api.FileHealth, error) {
	files, err := n.lc.Files(ctx, n.addr)
	if err != nil {
		return nil, fmt.Errorf("listing files on the ledger: %w", err)
	}
	v, err := n.readHealthView(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]api.FileHealth, 0, len(files))
	for i := range files {
		out = append(out, v.fileHealth(&files[i]))
	}
	return out, nil
}

// AccountInfo implements api.AccountReader: the account's credits and its
// quota with what it comes from, as the ledger computes them (chain's
// QuotaLimit, EarnedQuota, EarningUsable).
func (n *Node) AccountInfo(ctx context.Context) (*api.AccountInfo, error) {
	acct, err := n.lc.Account(ctx, n.addr)
	if err != nil {
		return nil, fmt.Errorf("reading own account: %w", err)
	}
	params, err := n.lc.Params(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the ledger's params: %w", err)
	}
	var rec *chain.Node
	switch r, err := n.lc.Node(ctx, n.addr); {
	case err == nil:
		rec = &r
	case !errors.Is(err, chain.ErrNotFound):
		return nil, fmt.Errorf("reading own node record: %w", err)
	}
	return accountInfo(params, &acct, rec), nil
}

// accountInfo describes acct (and its node rec, nil if none) under params.
func accountInfo(params chain.Params, acct *chain.AccountView, rec *chain.Node) *api.AccountInfo {
	a := &api.AccountInfo{Address: acct.Address.String(), Credits: acct.Credits, CreditsEscrowed: acct.CreditsEscrowed,
		CreditsEarned: acct.CreditsEarned, CreditsSpent: acct.CreditsSpent}
	q := &a.Quota
	q.Used, q.Limit, q.Lent, q.Owed = acct.QuotaUsed, acct.QuotaLimit, acct.QuotaLent, acct.QuotaOwed
	q.Allowance, q.EarnPercent, q.UptimeMinPercent = params.Allowance, params.EarnPercent, params.UptimeMinPercent
	if rec == nil {
		return a
	}
	q.HasNode, q.NodeStatus = true, rec.Status
	q.Earned, q.EarningUsable = chain.EarnedQuota(params, rec), chain.EarningUsable(params, rec)
	q.Pledge, q.PledgeUsed = rec.Pledge, rec.Used
	q.HeldForOthers, q.ProvedForOthers = rec.HeldForOthers, rec.ProvedForOthers
	w := rec.Uptime
	if params.UptimeWindow > 0 && uint64(len(w)) > params.UptimeWindow {
		w = w[uint64(len(w))-params.UptimeWindow:]
	}
	q.UptimeEpochs = len(w)
	for _, ok := range w {
		if ok {
			q.UptimeProved++
		}
	}
	return a
}
