package chain

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/cosmos/iavl"
	iavldb "github.com/cosmos/iavl/db"
)

// snapshotLedger is a ledger on disk in dir that snapshots every 5 heights,
// with 12 funded accounts and 12 blocks of transfers among them; it
// returns the snapshots it announced.
func snapshotLedger(t *testing.T, dir string) (*testLedger, []ed25519.PrivateKey, chan SnapshotInfo) {
	t.Helper()
	keys := make([]ed25519.PrivateKey, 12)
	for i := range keys {
		keys[i] = testKey(i)
	}
	l := newTestLedger(t, dir, keys...)
	done := make(chan SnapshotInfo, 10)
	l.app.cfg.SnapshotInterval, l.app.cfg.SnapshotKeep = 5, 2
	l.app.cfg.OnSnapshot = func(s SnapshotInfo) { done <- s }
	for h := range 12 {
		var txs [][]byte
		for i, k := range keys {
			txs = append(txs, l.sign(k, &Transfer{To: addrOf(keys[(i+h%11+1)%len(keys)]), Amount: uint64(1 + i)}))
		}
		for _, r := range l.block(txs...) {
			if r.Code != 0 {
				t.Fatalf("transfer: %s", r.Log)
			}
		}
	}
	return l, keys, done
}

func appHashOf(t *testing.T, a *App) (int64, []byte) {
	t.Helper()
	info, err := a.Info(context.Background(), &abci.InfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return info.LastBlockHeight, info.LastBlockAppHash
}

func freshApp(t *testing.T) *App {
	t.Helper()
	cfg := DefaultConfig("")
	cfg.Logger = slog.New(slog.DiscardHandler)
	a, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// TestSnapshotRestore: a ledger snapshots every 5 heights and keeps the
// last 2, each cut into chunks with hashes; a fresh app restores one
// through OfferSnapshot/ApplySnapshotChunk to the same app hash, answers
// queries the same, and then executes the next block to the same hash as
// the source. A chunk that does not match its hash is fetched again from
// another sender; a snapshot whose state does not have the trusted app
// hash is rejected and leaves no state behind.
func TestSnapshotRestore(t *testing.T) {
	defer func(n int) { snapshotChunkSize = n }(snapshotChunkSize)
	snapshotChunkSize = 512
	dir := t.TempDir()
	src, keys, done := snapshotLedger(t, dir)
	for _, want := range []int64{5, 10} {
		if got := <-done; got.Height != want || got.Chunks < 2 {
			t.Fatalf("snapshot %+v, want height %d in ≥ 2 chunks", got, want)
		}
	}
	// Height 10's state, kept for checking: the source is at 12.
	st10 := map[Address]AccountView{}
	for _, k := range keys {
		res := src.queryAt(QueryAccount+addrOf(k).String(), nil, 10)
		var v AccountView
		if err := Unmarshal(res.Value, &v); err != nil {
			t.Fatal(err)
		}
		st10[addrOf(k)] = v
	}
	tree10, err := src.app.tree.GetImmutable(10)
	if err != nil {
		t.Fatal(err)
	}
	appHash10 := tree10.Hash()

	list, err := src.app.ListSnapshots(context.Background(), &abci.ListSnapshotsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Snapshots) != 2 || list.Snapshots[0].Height != 10 || list.Snapshots[1].Height != 5 {
		t.Fatalf("snapshots %v, want heights 10 and 5", list.Snapshots)
	}
	if _, err := os.Stat(filepath.Join(dir, "snapshots", "10", "0")); err != nil {
		t.Fatalf("snapshot 10's first chunk is not on disk: %v", err)
	}
	sn := list.Snapshots[0]
	chunk := func(i uint32) []byte {
		res, err := src.app.LoadSnapshotChunk(context.Background(), &abci.LoadSnapshotChunkRequest{Height: sn.Height, Format: sn.Format, Chunk: i})
		if err != nil || len(res.Chunk) == 0 {
			t.Fatalf("chunk %d: %v", i, err)
		}
		return res.Chunk
	}
	ctx := context.Background()
	offer := func(a *App, appHash []byte) abci.OfferSnapshotResult {
		res, err := a.OfferSnapshot(ctx, &abci.OfferSnapshotRequest{Snapshot: sn, AppHash: appHash})
		if err != nil {
			t.Fatal(err)
		}
		return res.Result
	}
	apply := func(a *App, i uint32, c []byte) *abci.ApplySnapshotChunkResponse {
		res, err := a.ApplySnapshotChunk(ctx, &abci.ApplySnapshotChunkRequest{Index: i, Chunk: c, Sender: "peer1"})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}

	dst := freshApp(t)
	// Lied-about state: every chunk is right, the trusted hash is not.
	if r := offer(dst, bytes.Repeat([]byte{1}, 32)); r != abci.OFFER_SNAPSHOT_RESULT_ACCEPT {
		t.Fatalf("offer: %v", r)
	}
	for i := range sn.Chunks {
		want := abci.APPLY_SNAPSHOT_CHUNK_RESULT_ACCEPT
		if i == sn.Chunks-1 {
			want = abci.APPLY_SNAPSHOT_CHUNK_RESULT_REJECT_SNAPSHOT
		}
		if r := apply(dst, i, chunk(i)); r.Result != want {
			t.Fatalf("chunk %d of a snapshot with the wrong app hash: %v, want %v", i, r.Result, want)
		}
	}
	if h, _ := appHashOf(t, dst); h != 0 {
		t.Fatalf("a rejected restore left state at height %d", h)
	}

	// Good restore, with one chunk corrupted on the way.
	if r := offer(dst, appHash10); r != abci.OFFER_SNAPSHOT_RESULT_ACCEPT {
		t.Fatalf("offer: %v", r)
	}
	for i := range sn.Chunks {
		if i == 1 {
			bad := bytes.Clone(chunk(i))
			bad[7] ^= 1
			r := apply(dst, i, bad)
			if r.Result != abci.APPLY_SNAPSHOT_CHUNK_RESULT_RETRY || len(r.RefetchChunks) != 1 || r.RefetchChunks[0] != i || len(r.RejectSenders) != 1 {
				t.Fatalf("corrupted chunk: %+v, want RETRY refetching it from another sender", r)
			}
		}
		if r := apply(dst, i, chunk(i)); r.Result != abci.APPLY_SNAPSHOT_CHUNK_RESULT_ACCEPT {
			t.Fatalf("chunk %d: %v", i, r.Result)
		}
	}
	if h, hash := appHashOf(t, dst); h != 10 || !bytes.Equal(hash, appHash10) {
		t.Fatalf("restored app at %d hash %X, want 10 %X", h, hash, appHash10)
	}
	rl := &testLedger{t: t, app: dst, height: 10, nonces: map[Address]uint64{}}
	for a, want := range st10 {
		if got := rl.account(a); !reflect.DeepEqual(got, want) {
			t.Fatalf("restored account %+v, source had %+v", got, want)
		}
	}
	// A restored app refuses another snapshot.
	if r := offer(dst, appHash10); r != abci.OFFER_SNAPSHOT_RESULT_ABORT {
		t.Fatalf("offer to an app with state: %v, want ABORT", r)
	}
	bad := *sn
	bad.Format = SnapshotFormat + 1
	if res, _ := freshApp(t).OfferSnapshot(ctx, &abci.OfferSnapshotRequest{Snapshot: &bad, AppHash: appHash10}); res.Result != abci.OFFER_SNAPSHOT_RESULT_REJECT_FORMAT {
		t.Fatalf("offer of format %d: %v", bad.Format, res.Result)
	}

	// Blocks 11 and 12 replayed on the restored app give the source's hash.
	src2 := &testLedger{t: t, app: dst, height: 10, nonces: map[Address]uint64{}}
	for _, k := range keys {
		src2.nonces[addrOf(k)] = 10
	}
	for h := 10; h < 12; h++ {
		var txs [][]byte
		for i, k := range keys {
			txs = append(txs, src2.sign(k, &Transfer{To: addrOf(keys[(i+h%11+1)%len(keys)]), Amount: uint64(1 + i)}))
		}
		src2.block(txs...)
	}
	_, got := appHashOf(t, dst)
	_, want := appHashOf(t, src.app)
	if !bytes.Equal(got, want) {
		t.Fatalf("after blocks 11-12 the restored app has hash %X, the source %X", got, want)
	}
}

// FuzzSnapshotStream: any bytes a peer sends as a snapshot stream are
// either imported or refused with an error; the decoder never panics or
// allocates past its bounds.
func FuzzSnapshotStream(f *testing.F) {
	src := newTestLedger(f, "", testKey(0))
	src.block()
	imm, err := src.app.tree.GetImmutable(1)
	if err != nil {
		f.Fatal(err)
	}
	exp, err := imm.Export()
	if err != nil {
		f.Fatal(err)
	}
	var good bytes.Buffer
	if err := writeExport(&good, iavl.NewCompressExporter(exp)); err != nil {
		f.Fatal(err)
	}
	exp.Close()
	f.Add(good.Bytes())
	f.Add([]byte{})
	f.Add(good.Bytes()[:len(good.Bytes())/2])
	f.Fuzz(func(t *testing.T, b []byte) {
		tree := iavl.NewMutableTree(iavldb.NewMemDB(), 100, true, iavl.NewNopLogger())
		imp, err := tree.Import(1)
		if err != nil {
			t.Fatal(err)
		}
		defer imp.Close()
		_ = readExport(bytes.NewReader(b), iavl.NewCompressImporter(imp))
	})
}
