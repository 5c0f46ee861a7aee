package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/node/ledger"
	"github.com/coop-network/coop/storage"
	"github.com/coop-network/coop/storage/blockstore"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// Files lists the account's files from the ledger with their
// capabilities: from this node's keyring for files put here (which also
// has their names), else opened from the sealed key on the ledger with the
// account key, so any device of the account can read them. A sealed key
// that does not open leaves the capability empty and says why in KeyError.
func (n *Node) Files(ctx context.Context) ([]api.FileInfo, error) {
	files, err := n.lc.Files(ctx, n.account().Address)
	if err != nil {
		return nil, fmt.Errorf("listing files on the ledger: %w", err)
	}
	return fileInfos(files, n.account(), n.keys), nil
}

// FileLister reads an account's files from the ledger (*ledger.Client).
type FileLister interface {
	Files(ctx context.Context, owner chain.Address) ([]chain.File, error)
}

// ListFiles is Files for a node that is not running: the files of key's
// account as lc reads them (a home's ledger state, say), with the names
// and capabilities in home's record of its puts, the other capabilities
// opened from the sealed keys with key.
func ListFiles(ctx context.Context, home string, key ed25519.PrivateKey, lc FileLister) ([]api.FileInfo, error) {
	keys, err := openKeyring(home)
	if err != nil {
		return nil, err
	}
	ak, err := LoadAccountKeys(home, key)
	if err != nil {
		return nil, err
	}
	files, err := lc.Files(ctx, ak.Address)
	if err != nil {
		return nil, fmt.Errorf("listing files on the ledger: %w", err)
	}
	return fileInfos(files, ak, keys), nil
}

// fileInfos describes the account's files for the API.
func fileInfos(files []chain.File, ak AccountKeys, keys *keyring) []api.FileInfo {
	out := make([]api.FileInfo, 0, len(files))
	for i := range files {
		f := &files[i]
		fi := api.FileInfo{FileID: f.ID.String(), Size: int64(f.Size), K: int(f.K), M: int(f.M), Pieces: len(f.Pieces), Created: f.PlacedHeight}
		if e, ok := keys.get(fi.FileID); ok {
			fi.Name = e.Name
			if e.AskedK != fi.K || e.AskedM != fi.M { // else raised to what was asked
				fi.AskedK, fi.AskedM = e.AskedK, e.AskedM
			}
		}
		if f.Raising() {
			fi.RaiseTo = int(f.AskedM)
		}
		if c, err := ownCapability(f, ak, keys); err == nil {
			fi.Capability = c.String()
		} else {
			fi.KeyError = err.Error()
		}
		out = append(out, fi)
	}
	return out
}

// ownCapability is the capability of one of the account's files: from the
// keyring if it was put from this node, else from its sealed key.
func (n *Node) ownCapability(f *chain.File) (storage.Capability, error) {
	return ownCapability(f, n.account(), n.keys)
}

// ownCapability is the capability of one of ak's account's files: from
// keys if it was put from this home, else from its sealed key.
func ownCapability(f *chain.File, ak AccountKeys, keys *keyring) (storage.Capability, error) {
	if addr := ak.Address; f.Owner != addr {
		return storage.Capability{}, fmt.Errorf("%w: file %s belongs to account %s, not this node's %s: reading it needs its capability", ErrNotOwner, f.ID, f.Owner, addr)
	}
	if e, ok := keys.get(f.ID.String()); ok {
		if c, err := storage.ParseCapability(e.Capability); err == nil && c.FileID == blockstore.ID(f.ID) {
			return c, nil
		}
	}
	c, err := openFileKey(ak.SealKey, f.ID, f.SealedKey)
	if err != nil {
		return c, fmt.Errorf("file %s: %w", f.ID, err)
	}
	return c, nil
}

// Remove deletes one of the account's files from the ledger, then deletes
// its manifest and pieces from this node's store (pinned and cached; a
// block the ledger still credits to this node for another file stays).
// Holders delete their pieces when they next reconcile.
func (n *Node) Remove(ctx context.Context, fileID string) error {
	id, err := blockstore.ParseID(fileID)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.LedgerTimeout)
	defer cancel()
	f, err := n.lc.File(ctx, chain.Hash(id))
	switch {
	case errors.Is(err, chain.ErrNotFound):
		return fmt.Errorf("%w: file %s is not on the ledger", ErrNotFound, id)
	case err != nil:
		return fmt.Errorf("reading file %s from the ledger: %w", id, err)
	case f.Owner != n.account().Address:
		return fmt.Errorf("%w: file %s belongs to account %s", ErrNotOwner, id, f.Owner)
	}
	if _, err := n.broadcast(ctx, &chain.RemoveFile{FileID: chain.Hash(id)}); err != nil {
		switch {
		case errors.Is(err, chain.ErrNotFound):
			err = fmt.Errorf("%w: %w", ErrNotFound, err)
		case errors.Is(err, chain.ErrUnauthorized):
			err = fmt.Errorf("%w: %w", ErrNotOwner, err)
		case errors.Is(err, ledger.ErrStalled):
			err = fmt.Errorf("%w: %w; the removal may still commit if the ledger makes blocks again soon", ErrUnavailable, err)
		}
		return fmt.Errorf("removing file %s: %w", id, err)
	}
	if err := n.keys.set(fileID, nil); err != nil {
		n.log.Warn("forgetting the capability", "err", err)
	}
	n.deleteFileBlocks(ctx, &f)
	return nil
}

// deleteFileBlocks deletes a removed file's manifest and pieces from the
// store: cached copies always, pinned ones unless the ledger still credits
// them to this node (the same bytes in another file). If the credit list
// cannot be read, pinned blocks stay for reconcile to delete.
func (n *Node) deleteFileBlocks(ctx context.Context, f *chain.File) {
	ids := []blockstore.ID{blockstore.ID(f.ID)}
	for _, p := range f.Pieces {
		ids = append(ids, blockstore.ID(p.ID))
	}
	credited, err := n.hold.creditedNow(ctx)
	if err != nil {
		n.log.Warn("reading credits after a remove; reconcile deletes the pinned blocks", "err", err)
	}
	deleted := 0
	for _, id := range ids {
		area, ok := n.store.Has(id)
		if !ok || area == blockstore.Pinned && (credited == nil || credited[id] || n.hold.isPending(id)) {
			continue
		}
		if err := n.hold.deleteBlock(ctx, id); err != nil && !errors.Is(err, blockstore.ErrNotFound) {
			n.log.Warn("deleting a block of a removed file", "block", id, "err", err)
			continue
		}
		deleted++
	}
	n.log.Info("file removed", "file", f.ID, "blocks_deleted", deleted)
}

// Peers lists the nodes on the ledger and whether this node is connected.
func (n *Node) Peers(ctx context.Context) ([]api.PeerInfo, error) {
	nodes, err := n.lc.Nodes(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing nodes on the ledger: %w", err)
	}
	params, err := n.lc.Params(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the ledger's params: %w", err)
	}
	out := make([]api.PeerInfo, 0, len(nodes))
	lan := n.host.MDNSPeers()
	var ids []peer.ID // of out, pinged below
	for i := range nodes {
		rec := &nodes[i]
		if rec.Address == n.addr {
			continue
		}
		pi := api.PeerInfo{PeerID: rec.PeerID, Account: rec.Address.String(), Addrs: rec.Addrs, Pledged: rec.Pledge, Used: rec.Used, Status: rec.Status}
		pi.Reputation = float64(chain.AuditScore(rec)) / 1000
		pi.AuditScore, pi.Uptime, pi.MissedInRow = chain.AuditScore(rec), rec.Uptime, rec.MissedInRow
		pi.ProofsPassed, pi.ProofsFailed, pi.PiecesLost = rec.ProofsPassed, rec.ProofsFailed, rec.PiecesLost
		pi.QuotaEarned, pi.EarningUsable = chain.EarnedQuota(params, rec), chain.EarningUsable(params, rec)
		id, err := n.peerOf(rec)
		if err == nil {
			_, pi.MDNS = lan[id]
			pi.Connected = n.host.Libp2p().Network().Connectedness(id) == network.Connected
			for _, c := range n.host.Libp2p().Network().ConnsToPeer(id) {
				kind := "direct"
				if _, err := c.RemoteMultiaddr().ValueForProtocol(ma.P_CIRCUIT); err == nil {
					kind = "relayed"
				}
				pi.Conns = append(pi.Conns, kind+" "+c.RemoteMultiaddr().String())
			}
		}
		ids = append(ids, id) // "" for a bad peer id: not pinged
		out = append(out, pi)
	}
	n.livePeers(ctx, out, ids)
	return out, nil
}

// Status reports the node's ledger record, quota and store use.
func (n *Node) Status(ctx context.Context) (*api.Status, error) {
	st := &api.Status{Account: n.addr.String(), PeerID: n.host.ID().String(), Peers: len(n.host.Peers()),
		MDNS: n.host.MDNS(), MDNSPeers: len(n.host.MDNSPeers())}
	for _, a := range n.host.Addrs() {
		st.Addrs = append(st.Addrs, a.String())
	}
	acct, err := n.lc.Account(ctx, n.addr)
	if err != nil {
		return nil, fmt.Errorf("reading own account: %w", err)
	}
	st.QuotaEarned, st.QuotaUsed, st.QuotaLimit = acct.QuotaEarned, acct.QuotaUsed, acct.QuotaLimit
	if rec, err := n.lc.Node(ctx, n.addr); err == nil {
		st.PledgedBytes, st.CPUUnits, st.PledgeUsed = rec.Pledge, uint64(rec.CPU), rec.Used
		st.ProofsPassed, st.ProofsFailed, st.Uptime = rec.ProofsPassed, rec.ProofsFailed, rec.Uptime
		st.NodeStatus, st.AuditScore, st.PiecesLost = rec.Status, chain.AuditScore(&rec), rec.PiecesLost
	}
	n.ledgerTip(ctx, st)
	if e, err := n.lc.Epoch(ctx); err == nil {
		st.Epoch = e.Number
	}
	if held, err := n.lc.Pieces(ctx, n.addr); err == nil {
		st.PiecesHeld = len(held)
	}
	if n.fix != nil {
		st.PiecesRepaired = n.fix.Repaired()
	}
	s := n.store.Stats()
	st.BytesHeld = s.PinnedBytes
	st.CacheBytes, st.CacheCapacity = s.CacheBytes, s.CacheBudget
	if rep, ok := n.scrub.Last(); ok {
		st.LastScrub = scrubReport(rep)
	}
	return st, nil
}
