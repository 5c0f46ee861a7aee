package chain

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
)

// TestSnapshotScale measures a snapshot of a large state on disk and its
// restore: COOP_SNAPSHOT_ENTRIES records (default 20,000; docs/ledger.md
// has the figures for 1,000,000) of 120-byte values under 61-byte keys,
// like held-piece records, written in blocks of 10,000. It logs the
// snapshot's size, chunks and time, and the restore's time, and checks the
// restored app hash.
func TestSnapshotScale(t *testing.T) {
	n := 20_000
	if s := os.Getenv("COOP_SNAPSHOT_ENTRIES"); s != "" {
		if _, err := fmt.Sscan(s, &n); err != nil || n < 1 {
			t.Fatalf("COOP_SNAPSHOT_ENTRIES=%q", s)
		}
	}
	l := newTestLedger(t, t.TempDir(), testKey(0))
	done := make(chan SnapshotInfo, 1)
	l.app.cfg.OnSnapshot = func(s SnapshotInfo) { done <- s }
	ctx := context.Background()
	const perBlock = 10_000
	blocks := (n + perBlock - 1) / perBlock
	start := time.Now()
	var snapStart time.Time
	for b := range blocks {
		for i := b * perBlock; i < min(n, (b+1)*perBlock); i++ {
			k := sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(i)))
			key := append(append([]byte("h"), k[:20]...), k[:]...)
			key = binary.BigEndian.AppendUint64(key, uint64(i))
			var v []byte // 120 bytes that do not compress
			for j := byte(0); len(v) < 120; j++ {
				h := sha256.Sum256(append(k[:], j))
				v = append(v, h[:]...)
			}
			v = v[:120]
			if _, err := l.app.tree.Set(key, v); err != nil {
				t.Fatal(err)
			}
		}
		if b == blocks-1 {
			l.app.cfg.SnapshotInterval = int64(blocks)
			snapStart = time.Now() // this Commit starts the snapshot
		}
		if _, err := l.app.Commit(ctx, &abci.CommitRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d records in %d blocks written in %v", n, blocks, time.Since(start))
	snap := <-done
	took := time.Since(snapStart)
	t.Logf("snapshot at %d: %d bytes in %d chunks, taken in %v (%.0f records/s)", snap.Height, snap.Bytes, snap.Chunks, took, float64(n)/took.Seconds())

	list, err := l.app.ListSnapshots(ctx, &abci.ListSnapshotsRequest{})
	if err != nil || len(list.Snapshots) != 1 {
		t.Fatalf("snapshots %v, %v", list, err)
	}
	_, appHash := appHashOf(t, l.app)
	cfg := DefaultConfig(t.TempDir())
	cfg.Logger = l.app.log
	dst, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	start = time.Now()
	sn := list.Snapshots[0]
	if res, err := dst.OfferSnapshot(ctx, &abci.OfferSnapshotRequest{Snapshot: sn, AppHash: appHash}); err != nil || res.Result != abci.OFFER_SNAPSHOT_RESULT_ACCEPT {
		t.Fatalf("offer: %v %v", res, err)
	}
	for i := range sn.Chunks {
		c, err := l.app.LoadSnapshotChunk(ctx, &abci.LoadSnapshotChunkRequest{Height: sn.Height, Format: sn.Format, Chunk: i})
		if err != nil {
			t.Fatal(err)
		}
		res, err := dst.ApplySnapshotChunk(ctx, &abci.ApplySnapshotChunkRequest{Index: i, Chunk: c.Chunk})
		if err != nil || res.Result != abci.APPLY_SNAPSHOT_CHUNK_RESULT_ACCEPT {
			t.Fatalf("chunk %d: %v %v", i, res, err)
		}
	}
	if _, h := appHashOf(t, dst); !bytes.Equal(h, appHash) {
		t.Fatalf("restored hash %X, want %X", h, appHash)
	}
	t.Logf("restored in %v", time.Since(start))
}
