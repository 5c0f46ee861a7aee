package chain

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/cosmos/iavl"
)

// Snapshot defaults (DefaultConfig).
const (
	// DefaultSnapshotInterval: a snapshot every 1,000 heights (≈ 7 min at
	// 0.4 s blocks).
	DefaultSnapshotInterval = 1000
	// DefaultSnapshotKeep: the two most recent snapshots are kept.
	DefaultSnapshotKeep = 2
)

// SnapshotInfo describes one snapshot the app took (Config.OnSnapshot).
type SnapshotInfo struct {
	Height int64
	Chunks int
	Bytes  int64
}

// maybeSnapshot starts a snapshot of version v in the background if v is
// on the interval and none is being taken (callers hold a.mu, after
// SaveVersion).
func (a *App) maybeSnapshot(v int64) {
	iv := a.cfg.SnapshotInterval
	if iv <= 0 || v%iv != 0 || a.snapshotting.Load() != 0 || a.snapCtx.Err() != nil {
		return
	}
	a.snapshotting.Store(v)
	hash := a.tree.Hash()
	a.snapWG.Add(1)
	go func() {
		defer a.snapWG.Done()
		defer a.snapshotting.Store(0)
		info, err := a.takeSnapshot(v, hash)
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				a.log.Warn("ledger snapshot failed", "height", v, "err", err)
			}
			return
		}
		a.log.Info("ledger snapshot", "height", v, "chunks", info.Chunks, "bytes", info.Bytes)
		if err := a.snaps.prune(max(a.cfg.SnapshotKeep, 1)); err != nil {
			a.log.Warn("pruning ledger snapshots", "err", err)
		}
		if f := a.cfg.OnSnapshot; f != nil {
			f(info)
		}
	}()
}

// takeSnapshot exports version v into the snapshot store. It reads the
// version through a nodeDB of its own, so it shares no tree nodes with the
// working tree that FinalizeBlock changes meanwhile; Commit does not prune
// v while it runs (a.snapshotting).
func (a *App) takeSnapshot(v int64, appHash []byte) (SnapshotInfo, error) {
	view := iavl.NewMutableTree(a.db, 10_000, true, iavl.NewNopLogger())
	imm, err := view.GetImmutable(v)
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("reading version %d: %w", v, err)
	}
	exp, err := imm.Export()
	if err != nil {
		return SnapshotInfo{}, err
	}
	defer exp.Close()
	w, err := a.snaps.create(v, appHash)
	if err != nil {
		return SnapshotInfo{}, err
	}
	if err := writeExport(w, cancelExporter{iavl.NewCompressExporter(exp), a.snapCtx}); err != nil {
		w.abort()
		return SnapshotInfo{}, err
	}
	size, err := w.commit()
	if err != nil {
		w.abort()
		return SnapshotInfo{}, err
	}
	return SnapshotInfo{Height: v, Chunks: len(w.sn.Metadata.ChunkHashes), Bytes: size}, nil
}

// cancelExporter stops an export when ctx ends (Close).
type cancelExporter struct {
	iavl.NodeExporter
	ctx context.Context
}

func (c cancelExporter) Next() (*iavl.ExportNode, error) {
	if err := c.ctx.Err(); err != nil {
		return nil, err
	}
	return c.NodeExporter.Next()
}

// ListSnapshots lists the snapshots this node keeps, for peers that state
// sync.
func (a *App) ListSnapshots(context.Context, *abci.ListSnapshotsRequest) (*abci.ListSnapshotsResponse, error) {
	all, err := a.snaps.list()
	if err != nil {
		return nil, fmt.Errorf("listing ledger snapshots: %w", err)
	}
	res := &abci.ListSnapshotsResponse{}
	for _, sn := range all {
		res.Snapshots = append(res.Snapshots, sn.abci())
	}
	return res, nil
}

// LoadSnapshotChunk returns a chunk of a snapshot this node keeps (empty if
// it has no such chunk).
func (a *App) LoadSnapshotChunk(_ context.Context, req *abci.LoadSnapshotChunkRequest) (*abci.LoadSnapshotChunkResponse, error) {
	c, err := a.snaps.chunk(int64(req.Height), req.Format, req.Chunk)
	if err != nil {
		return nil, fmt.Errorf("loading snapshot %d chunk %d: %w", req.Height, req.Chunk, err)
	}
	return &abci.LoadSnapshotChunkResponse{Chunk: c}, nil
}

// restore is a state sync restore in progress.
type restore struct {
	height  int64
	appHash []byte
	meta    snapshotMetadata
	next    uint32
	pw      *io.PipeWriter
	done    chan error
	imp     *iavl.Importer
}

// OfferSnapshot accepts a snapshot to restore from if the app has no state
// yet and the snapshot is of this format and these rules; its chunks then
// come through ApplySnapshotChunk. appHash is the light-client-verified app
// hash of the snapshot's height, which the restored state must have.
func (a *App) OfferSnapshot(_ context.Context, req *abci.OfferSnapshotRequest) (*abci.OfferSnapshotResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.tree == nil {
		return nil, ErrClosed
	}
	reject := func(r abci.OfferSnapshotResult, why string, args ...any) (*abci.OfferSnapshotResponse, error) {
		a.log.Info("ledger snapshot refused", "why", fmt.Sprintf(why, args...))
		return &abci.OfferSnapshotResponse{Result: r}, nil
	}
	sn := req.Snapshot
	if sn == nil {
		return reject(abci.OFFER_SNAPSHOT_RESULT_REJECT, "no snapshot")
	}
	if a.restore != nil {
		a.abortRestore()
	}
	if a.version != 0 {
		return reject(abci.OFFER_SNAPSHOT_RESULT_ABORT, "the ledger already has state at height %d", a.version)
	}
	if sn.Format != SnapshotFormat {
		return reject(abci.OFFER_SNAPSHOT_RESULT_REJECT_FORMAT, "format %d, this node restores %d", sn.Format, SnapshotFormat)
	}
	var meta snapshotMetadata
	if err := Unmarshal(sn.Metadata, &meta); err != nil {
		return reject(abci.OFFER_SNAPSHOT_RESULT_REJECT, "metadata: %v", err)
	}
	switch {
	case sn.Height == 0 || sn.Height > 1<<62:
		return reject(abci.OFFER_SNAPSHOT_RESULT_REJECT, "height %d", sn.Height)
	case meta.AppVersion != AppVersion:
		return reject(abci.OFFER_SNAPSHOT_RESULT_REJECT, "state of rules v%d, this node speaks v%d", meta.AppVersion, AppVersion)
	case int(sn.Chunks) != len(meta.ChunkHashes) || sn.Chunks == 0:
		return reject(abci.OFFER_SNAPSHOT_RESULT_REJECT, "%d chunks, %d chunk hashes", sn.Chunks, len(meta.ChunkHashes))
	case !bytes.Equal(sn.Hash, snapshotHash(meta.ChunkHashes)):
		return reject(abci.OFFER_SNAPSHOT_RESULT_REJECT, "hash does not match its chunk hashes")
	case len(req.AppHash) == 0:
		return reject(abci.OFFER_SNAPSHOT_RESULT_REJECT, "no trusted app hash")
	}
	imp, err := a.tree.Import(int64(sn.Height))
	if err != nil {
		return nil, fmt.Errorf("starting ledger restore: %w", err)
	}
	pr, pw := io.Pipe()
	r := &restore{height: int64(sn.Height), appHash: bytes.Clone(req.AppHash), meta: meta, pw: pw, done: make(chan error, 1), imp: imp}
	go func() {
		err := readExport(pr, iavl.NewCompressImporter(imp))
		if err == nil {
			// Nothing may follow the end mark.
			if n, _ := io.Copy(io.Discard, pr); n > 0 {
				err = fmt.Errorf("snapshot stream: %d bytes after its end", n)
			}
		}
		pr.CloseWithError(err)
		r.done <- err
	}()
	a.restore = r
	a.log.Info("ledger restoring snapshot", "height", sn.Height, "chunks", sn.Chunks)
	return &abci.OfferSnapshotResponse{Result: abci.OFFER_SNAPSHOT_RESULT_ACCEPT}, nil
}

// ApplySnapshotChunk feeds the next chunk of the accepted snapshot to the
// restore after checking its hash (a wrong chunk is fetched again from
// another peer). After the last chunk the restored state must have the
// trusted app hash, else it is wiped and the snapshot rejected.
func (a *App) ApplySnapshotChunk(_ context.Context, req *abci.ApplySnapshotChunkRequest) (*abci.ApplySnapshotChunkResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.tree == nil {
		return nil, ErrClosed
	}
	r := a.restore
	res := func(x abci.ApplySnapshotChunkResult) (*abci.ApplySnapshotChunkResponse, error) {
		return &abci.ApplySnapshotChunkResponse{Result: x}, nil
	}
	if r == nil {
		return res(abci.APPLY_SNAPSHOT_CHUNK_RESULT_ABORT)
	}
	if req.Index != r.next {
		// CometBFT applies chunks in order; anything else is a bug there.
		a.log.Warn("ledger snapshot chunk out of order", "got", req.Index, "want", r.next)
		a.abortRestore()
		return res(abci.APPLY_SNAPSHOT_CHUNK_RESULT_RETRY_SNAPSHOT)
	}
	if sum := sha256.Sum256(req.Chunk); !bytes.Equal(sum[:], r.meta.ChunkHashes[req.Index]) {
		a.log.Info("ledger snapshot chunk does not match its hash", "index", req.Index, "sender", req.Sender)
		out := &abci.ApplySnapshotChunkResponse{Result: abci.APPLY_SNAPSHOT_CHUNK_RESULT_RETRY, RefetchChunks: []uint32{req.Index}}
		if req.Sender != "" {
			out.RejectSenders = []string{req.Sender}
		}
		return out, nil
	}
	if _, err := r.pw.Write(req.Chunk); err != nil {
		a.log.Info("ledger snapshot does not decode", "index", req.Index, "err", err)
		a.abortRestore()
		return res(abci.APPLY_SNAPSHOT_CHUNK_RESULT_REJECT_SNAPSHOT)
	}
	r.next++
	if int(r.next) < len(r.meta.ChunkHashes) {
		return res(abci.APPLY_SNAPSHOT_CHUNK_RESULT_ACCEPT)
	}
	r.pw.Close()
	err := <-r.done
	if err == nil {
		err = r.imp.Commit()
	}
	a.restore = nil
	if err == nil {
		if got := a.tree.Hash(); !bytes.Equal(got, r.appHash) {
			err = fmt.Errorf("restored state has app hash %X, the chain's is %X", got, r.appHash)
		}
	}
	if err == nil {
		err = a.loadCommitted(r.height)
	}
	if err == nil {
		err = a.saveFloor(r.height)
	}
	if err != nil {
		a.log.Warn("ledger snapshot restore failed", "height", r.height, "err", err)
		r.imp.Close()
		if werr := a.wipeState(); werr != nil {
			return nil, fmt.Errorf("wiping a failed restore: %w", werr)
		}
		return res(abci.APPLY_SNAPSHOT_CHUNK_RESULT_REJECT_SNAPSHOT)
	}
	a.log.Info("ledger restored from snapshot", "height", r.height)
	return res(abci.APPLY_SNAPSHOT_CHUNK_RESULT_ACCEPT)
}

// loadCommitted reads the chain info and params of the just restored
// version v and points the app at it (callers hold a.mu).
func (a *App) loadCommitted(v int64) error {
	var info chainInfo
	if _, err := getValue(a.tree, []byte(keyChainInfo), &info); err != nil {
		return err
	}
	if info.RulesVersion != AppVersion {
		return fmt.Errorf("%w: restored state of rules v%d, this coop speaks v%d", ErrIncompatibleState, info.RulesVersion, AppVersion)
	}
	var params Params
	if _, err := getValue(a.tree, []byte(keyParams), &params); err != nil {
		return err
	}
	a.version, a.info, a.params = v, info, params
	a.resetCheck(a.committed())
	return nil
}

// abortRestore stops a restore in progress and wipes what it wrote
// (callers hold a.mu).
func (a *App) abortRestore() {
	r := a.restore
	if r == nil {
		return
	}
	a.restore = nil
	r.pw.CloseWithError(errors.New("restore aborted"))
	<-r.done
	r.imp.Close()
	if err := a.wipeState(); err != nil {
		a.log.Warn("wiping an aborted ledger restore", "err", err)
	}
}

// wipeState deletes everything in the state database and starts an empty
// tree: after a failed restore (callers hold a.mu; the app has no
// committed state of its own, or it would not have restored).
func (a *App) wipeState() error {
	it, err := a.db.Iterator(nil, nil)
	if err != nil {
		return err
	}
	var keys [][]byte
	for ; it.Valid(); it.Next() {
		keys = append(keys, bytes.Clone(it.Key()))
	}
	it.Close()
	b := a.db.NewBatch()
	for i, k := range keys {
		if err := b.Delete(k); err != nil {
			b.Close()
			return err
		}
		if i%10_000 == 9_999 {
			if err := b.Write(); err != nil {
				b.Close()
				return err
			}
			b.Close()
			b = a.db.NewBatch()
		}
	}
	if err := b.WriteSync(); err != nil {
		b.Close()
		return err
	}
	b.Close()
	a.tree = iavl.NewMutableTree(a.db, a.cfg.CacheSize, false, iavl.NewNopLogger(), iavl.AsyncPruningOption(false))
	a.version, a.floor = 0, 0
	a.info, a.params = chainInfo{}, Params{}
	a.resetCheck(emptyState{})
	return nil
}
