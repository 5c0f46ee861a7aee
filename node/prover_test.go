package node

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/ledger"
	"github.com/coop-network/coop/node/prover"
	"github.com/coop-network/coop/proofs"
	"github.com/coop-network/coop/storage/blockstore"
)

// recordingLedger is a Ledger that keeps the bodies it broadcasts.
type recordingLedger struct {
	*memClient
	sent []chain.Body
}

func (r *recordingLedger) BroadcastCommit(ctx context.Context, body chain.Body) (ledger.Result, error) {
	r.sent = append(r.sent, body)
	return r.memClient.BroadcastCommit(ctx, body)
}

// TestHolderKeepsLevelsAndProverAnswers: the holder writes the Levels of
// each received piece beside it (checking against the commitment), the
// prover answers the real /challenges of the in-memory ledger with proofs
// that verify against the recorded roots, and removing the file deletes
// the Levels with the piece.
func TestHolderKeepsLevelsAndProverAnswers(t *testing.T) {
	e, ls := newHolderEnvWithLevels(t)
	ctx := context.Background()
	put, file := randomID(), randomID()
	a, b := newTestPiece(300<<10+5), newTestPiece(70<<10)
	e.push(put, a)
	e.push(put, b)
	e.place(put, file, a, b)
	for _, p := range []testPiece{a, b} {
		lv, err := ls.Levels(chain.Hash(p.id))
		if err != nil {
			t.Fatal(err)
		}
		if err := lv.Check(p.root); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.reconcile(); err != nil {
		t.Fatal(err)
	}

	params, err := e.h.lc.Params(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.l.advance(int(params.EpochLength) + 1) // into an epoch with a seed
	lc := &recordingLedger{memClient: e.h.lc.(*memClient)}
	pv := prover.New(e.h.addr, lc, storePieces{e.h.store}, ls, prover.Config{Logger: slog.New(slog.DiscardHandler)})
	set, err := lc.Challenges(ctx, e.h.addr)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Challenges) != chain.ChallengesPerEpoch {
		t.Fatalf("%d challenges", len(set.Challenges))
	}
	before, err := lc.Node(ctx, e.h.addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := pv.Round(ctx); err != nil {
		t.Fatal(err)
	}
	after, err := lc.Node(ctx, e.h.addr)
	if err != nil {
		t.Fatal(err)
	}
	if after.ProofsPassed != before.ProofsPassed+1 || after.ProofsFailed != before.ProofsFailed {
		t.Fatalf("proofs passed %d → %d, failed %d → %d; want one more passed", before.ProofsPassed, after.ProofsPassed, before.ProofsFailed, after.ProofsFailed)
	}
	if len(lc.sent) != 1 {
		t.Fatalf("sent %d txs", len(lc.sent))
	}
	tx := lc.sent[0].(*chain.ProveStorage)
	if tx.Epoch != set.Epoch || tx.Challenges != chain.ChallengesHash(set.Challenges) {
		t.Fatalf("tx names epoch %d challenges %s; want %d %s", tx.Epoch, tx.Challenges, set.Epoch, chain.ChallengesHash(set.Challenges))
	}
	roots := map[chain.Hash]proofs.Hash{chain.Hash(a.id): a.root, chain.Hash(b.id): b.root}
	for i, c := range set.Challenges {
		pr, err := proofs.DecodeProof(tx.Proofs[i])
		if err != nil {
			t.Fatal(err)
		}
		if pr.Index != c.Leaf {
			t.Fatalf("challenge %d: leaf %d, want %d", i, pr.Index, c.Leaf)
		}
		if err := proofs.Verify(roots[c.Piece], pr); err != nil {
			t.Fatalf("challenge %d: %v", i, err)
		}
	}

	if _, err := e.ownerLed.BroadcastCommit(ctx, &chain.RemoveFile{FileID: chain.Hash(file)}); err != nil {
		t.Fatal(err)
	}
	if err := e.reconcile(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []testPiece{a, b} {
		if _, err := ls.Levels(chain.Hash(p.id)); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("levels of a removed piece: %v", err)
		}
	}
}

// TestLevelsOfSelfHeldPieces: a piece this node keeps of its own put or
// repair without Levels from the pass that wrote it gets Levels read from
// the store, only if the bytes still have its id.
func TestLevelsOfSelfHeldPieces(t *testing.T) {
	e, ls := newHolderEnvWithLevels(t)
	ctx := context.Background()
	bad := newTestPiece(70 << 10)
	badID, err := e.h.store.PutBytes(ctx, blockstore.Pinned, bad.data)
	if err != nil {
		t.Fatal(err)
	}
	path, _ := e.h.store.Path(badID)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{^bad.data[100]}, 100); err != nil {
		t.Fatal(err)
	}
	f.Close()
	e.h.levelsFromStore(ctx, badID) // a piece that no longer matches its id
	if _, err := ls.Levels(chain.Hash(badID)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("levels kept for a corrupt piece: %v", err)
	}
	p := newTestPiece(200<<10 + 9)
	id, err := e.h.store.PutBytes(ctx, blockstore.Pinned, p.data)
	if err != nil {
		t.Fatal(err)
	}
	e.h.levelsFromStore(ctx, id)
	lv, err := ls.Levels(chain.Hash(id))
	if err != nil {
		t.Fatal(err)
	}
	if err := lv.Check(p.root); err != nil {
		t.Fatal(err)
	}
	if err := e.h.deleteBlock(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := ls.Levels(chain.Hash(id)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("levels outlive their piece: %v", err)
	}
}

// newHolderEnvWithLevels is newHolderEnv whose holder keeps Levels beside
// its pieces, in a fresh level store (returned too).
func newHolderEnvWithLevels(t *testing.T) (*holderEnv, *prover.LevelStore) {
	t.Helper()
	e := newHolderEnv(t)
	ls, err := prover.OpenLevelStore(filepath.Join(t.TempDir(), "levels"))
	if err != nil {
		t.Fatal(err)
	}
	e.h.levels = ls
	return e, ls
}
