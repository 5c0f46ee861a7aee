package node

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/node/ledger"
)

// patchedReader is size bytes of newData(seed) with, for each offset in
// patches, the n bytes there replaced by newData(patches[off])'s (the
// patches must not overlap).
func patchedReader(seed byte, size int64, patches map[int64]byte, n int64) io.Reader {
	base := newData(seed)
	offs := slices.Sorted(maps.Keys(patches))
	var rs []io.Reader
	at := int64(0)
	for _, off := range offs {
		rs = append(rs, io.LimitReader(base, off-at), io.LimitReader(newData(patches[off]), n),
			readerFunc(func([]byte) (int, error) {
				// Skip the replaced bytes of the base stream.
				if _, err := io.CopyN(io.Discard, base, n); err != nil {
					return 0, err
				}
				return 0, io.EOF
			}))
		at = off + n
	}
	return io.MultiReader(append(rs, io.LimitReader(base, size-at))...)
}

// readerFunc is a Read function as an io.Reader.
type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// BenchmarkPartedEdit measures the bytes a 1 MiB edit of a large file
// stores: the file is put at a path once, then each round changes 1 MiB
// straddling a part boundary (the worst case: two parts change) and puts
// it again; the new placements on the ledger are counted. Metrics:
// stored-B (piece bytes placed per edit), x-part (that over one part's
// pieces), x-file (over the whole file's pieces), parts (new parts per
// edit), x-first-put-time (an edit's time over the first put's: an edit
// still reads and hashes the whole file). The file is 1 GiB in 64 MiB parts (the default segment size), on
// a 4-node devnet at k=2 m=1; COOP_BENCH_EDIT_MIB sets another file size
// (x-part does not depend on it; x-file is 2 over the number of parts).
// Each round keeps the edits before it and adds one at the next boundary.
// Run with -benchtime 2x: every round stores two parts.
func BenchmarkPartedEdit(b *testing.B) {
	size := int64(1 << 30)
	if s := os.Getenv("COOP_BENCH_EDIT_MIB"); s != "" {
		mib, err := strconv.ParseInt(s, 10, 64)
		if err != nil || mib < 2 {
			b.Fatalf("COOP_BENCH_EDIT_MIB=%q: want a size in MiB, at least 2", s)
		}
		size = mib << 20
	}
	const part = 64 << 20
	b.Run(fmt.Sprintf("%dMiB-file/%dMiB-parts", size>>20, part>>20), func(b *testing.B) {
		dc := ledger.TestNetConfig(b, 4)
		dc.Genesis.Params.Allowance = 1 << 40
		net := StartTestNetworkWith(b, dc, func(i int, c *Config) {
			c.Storage.SegmentSize = part
			c.Storage.StripeUnit = 256 << 10
			c.Pledge = 4 * uint64(size)
			c.Blocks.CacheBytes = 2 * part
		})
		a := net.Nodes[0]
		c, err := api.NewClientFromHome(a.cfg.Home)
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		opts := api.PathPutOptions{PutOptions: api.PutOptions{K: 2, M: 1}}
		t0 := time.Now()
		first, err := c.PutPath(ctx, io.LimitReader(newData(1), size), size, "/big.bin", opts)
		if err != nil {
			b.Fatal(err)
		}
		firstPut := time.Since(t0)
		files := func() map[chain.Hash]uint64 {
			fs, err := a.lc.Files(ctx, a.account().Address)
			if err != nil {
				b.Fatal(err)
			}
			out := map[chain.Hash]uint64{}
			for _, f := range fs {
				out[f.ID] = f.Bytes
			}
			return out
		}
		cfg := a.cfg.Storage
		cfg.K, cfg.M = 2, 1
		onePart, whole := PieceBytes(part, cfg), PieceBytes(size, cfg)
		parts := int64(first.Put.Parts)
		var stored, newParts uint64
		rounds := 0
		var editTime time.Duration
		patches := map[int64]byte{} // the edits so far, each kept
		for i := 0; b.Loop(); i++ {
			// 1 MiB across the boundary after part 1+i%(parts-1).
			at := (1+int64(i)%(parts-1))*part - 300<<10
			patches[at] = byte(10 + i)
			before := files()
			t0 := time.Now()
			ch, err := c.PutPath(ctx, patchedReader(1, size, patches, 1<<20), size, "/big.bin", opts)
			if err != nil {
				b.Fatal(err)
			}
			editTime += time.Since(t0)
			keep := map[string]bool{}
			for _, p := range ch.Entry.Parts {
				keep[mustCapability(b, p.Capability).FileID.String()] = true
			}
			for id, n := range files() {
				if _, ok := before[id]; !ok && keep[id.String()] {
					stored += n
					newParts++
				}
			}
			rounds++
		}
		perEdit := float64(stored) / float64(rounds)
		b.ReportMetric(perEdit, "stored-B")
		b.ReportMetric(perEdit/float64(onePart), "x-part")
		b.ReportMetric(perEdit/float64(whole), "x-file")
		b.ReportMetric(float64(newParts)/float64(rounds), "parts")
		b.ReportMetric(editTime.Seconds()/float64(rounds)/firstPut.Seconds(), "x-first-put-time")
		b.Logf("a 1 MiB edit of a %d MiB file in %d parts of %d MiB stored %.0f bytes of pieces: %.2f parts' worth, %.4f of the file's %d; an edit took %v, the first put %v",
			size>>20, parts, part>>20, perEdit, perEdit/float64(onePart), perEdit/float64(whole), whole,
			(editTime / time.Duration(rounds)).Round(time.Millisecond), firstPut.Round(time.Millisecond))
	})
}
