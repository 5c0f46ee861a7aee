package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/coop-network/coop/proofs"
	"github.com/coop-network/coop/storage"
	"github.com/coop-network/coop/storage/blockstore"
)

func init() { registerCommand(newDemoCmd) }

func newDemoCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the demo scenario in a scratch directory",
		Long: "demo stores a generated file through the local pipeline (segments, DARE encryption,\n" +
			"Reed–Solomon pieces, block store), damages m pieces of every segment, reads the file\n" +
			"back bit-exact, scrubs the store and repairs the lost pieces without the file key, shows\n" +
			"that losing more than m pieces is reported, proves a random leaf of a piece against its\n" +
			"commitment; runs an example WASM job as three workers and shows\n" +
			"that their results agree and that metering stops a job at its fuel limit; then runs\n" +
			"the multi-node scenario on a fresh devnet: a compute job on three workers, one lying\n" +
			"(the honest result accepted and paid, the liar judged wrong, the output read back),\n" +
			"node 1 made a device of node 0's account, a file written through node 0's FUSE mount\n" +
			"read on node 1 moments after close() (a put at the path where FUSE is missing), a\n" +
			"concurrent edit from both devices kept as a conflict copy, a\n" +
			"put, every holder's first judged proof, a\n" +
			"holder killed (its epochs missed, its uptime and earned quota gone, its pieces repaired\n" +
			"elsewhere, then restarted), a holder that deletes its pieces (invalid proofs,\n" +
			"disqualified, repaired), coop audit --all, and a bit-exact read with two holders\n" +
			"killed; and removes what it wrote.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			dir, _ := f.GetString("dir")
			size, _ := f.GetInt64("size")
			k, _ := f.GetInt("k")
			m, _ := f.GetInt("m")
			seg, _ := f.GetInt64("segment-size")
			keep, _ := f.GetBool("keep")
			cfg := storage.DefaultConfig()
			cfg.K, cfg.M, cfg.SegmentSize = k, m, seg
			if err := runStorageDemo(cmd.Context(), cmd.OutOrStdout(), dir, size, cfg, keep); err != nil {
				return err
			}
			if jobs, _ := f.GetString("jobs"); jobs != "" { // demo_compute.go
				if err := runComputeDemo(cmd.Context(), cmd.OutOrStdout(), dir, jobs); err != nil {
					return fmt.Errorf("compute demo: %w", err)
				}
			}
			if network, _ := f.GetBool("network"); network { // demo_network.go
				nodes, _ := f.GetInt("nodes")
				port, _ := f.GetInt("base-port")
				nsize, _ := f.GetInt64("network-size")
				jobs, _ := f.GetString("jobs")
				d := &networkDemo{out: cmd.OutOrStdout(), dir: dir, nodes: nodes, basePort: port, size: nsize, k: 2, m: 2, jobsDir: jobs}
				return d.run(cmd.Context())
			}
			return nil
		},
	}
	// The network part starts node processes of this binary: off under go test.
	cmd.Flags().Bool("network", !testing.Testing(), "then run the multi-node scenario on a fresh devnet")
	cmd.Flags().Int("nodes", 5, "nodes of the network scenario")
	cmd.Flags().Int("base-port", 27600, "first port of the network scenario (node i uses BASE+10i … +9)")
	cmd.Flags().Int64("network-size", 100<<20, "size of the file the network scenario stores")
	cmd.Flags().String("dir", ".demo", "scratch directory (created, and removed afterwards unless --keep)")
	cmd.Flags().Int64("size", 64<<20, "size of the generated file in bytes")
	cmd.Flags().Int("k", 4, "data pieces per segment")
	cmd.Flags().Int("m", 2, "parity pieces per segment")
	cmd.Flags().Int64("segment-size", 16<<20, "segment size in bytes")
	cmd.Flags().Bool("keep", false, "keep the scratch directory")
	cmd.Flags().String("jobs", "examples/jobs", "directory of the built example WASM jobs for the compute part (empty: skip it)")
	return cmd
}

func runStorageDemo(ctx context.Context, out io.Writer, dir string, size int64, cfg storage.Config, keep bool) (err error) {
	if ctx == nil {
		ctx = context.Background()
	}
	say := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	work := filepath.Join(dir, "storage-demo")
	if err := os.MkdirAll(work, 0o700); err != nil {
		return err
	}
	if !keep {
		defer func() {
			if rerr := os.RemoveAll(work); rerr != nil && err == nil {
				err = rerr
			}
			os.Remove(dir) // only if empty
		}()
	}
	bcfg := blockstore.DefaultConfig()
	bcfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil)) // the demo reports damage itself
	store, err := blockstore.Open(filepath.Join(work, "store"), bcfg)
	if err != nil {
		return err
	}
	defer store.Close()

	// 1. A generated file.
	var seed [32]byte
	rand.Read(seed[:])
	input := filepath.Join(work, "input.bin")
	inHash, err := writeGenerated(input, size, seed)
	if err != nil {
		return err
	}
	say("generated %s of random data (sha256 %x…)", formatBytes(size), inHash[:6])

	// 2. Put.
	in, err := os.Open(input)
	if err != nil {
		return err
	}
	t0 := time.Now()
	res, err := storage.Put(ctx, in, storage.StoreSink(store, blockstore.Pinned), cfg)
	in.Close()
	if err != nil {
		return err
	}
	dt := time.Since(t0)
	segs := len(res.Manifest.Segments)
	say("put: %d segment(s) × %d pieces (k=%d, m=%d) of %s each, manifest %s, in %v (%s/s)",
		segs, cfg.K+cfg.M, cfg.K, cfg.M, formatBytes(res.Pieces[0].Size), formatBytes(res.ManifestSize), dt.Round(time.Millisecond), formatBytes(int64(float64(size)/dt.Seconds())))
	say("file id    %s", res.FileID)
	cs := res.Capability.String()
	say("capability %s…%s (file id + key, %d characters)", cs[:16], cs[len(cs)-6:], len(cs))

	// 3. Lose m pieces of every segment: delete one, corrupt the others on disk.
	r := mrand.New(mrand.NewPCG(uint64(seed[0]), uint64(seed[1])))
	n := cfg.K + cfg.M
	for s := range segs {
		for j, idx := range r.Perm(n)[:cfg.M] {
			p := res.Pieces[s*n+idx]
			if j == 0 {
				if err := store.Delete(ctx, p.ID); err != nil {
					return err
				}
				say("segment %d: deleted piece %d (%s…)", s, idx, p.ID.String()[:12])
			} else {
				if err := corruptBlock(store, p.ID); err != nil {
					return err
				}
				say("segment %d: flipped a byte of piece %d (%s…)", s, idx, p.ID.String()[:12])
			}
		}
	}

	// 4. Get, bit-exact.
	output := filepath.Join(work, "output.bin")
	outF, err := os.Create(output)
	if err != nil {
		return err
	}
	h := sha256.New()
	t0 = time.Now()
	err = storage.GetFromStore(ctx, store, res.Capability, io.MultiWriter(outF, h))
	dt = time.Since(t0)
	if cerr := outF.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("get after losing m pieces per segment: %w", err)
	}
	if !bytes.Equal(h.Sum(nil), inHash) {
		return errors.New("get returned different bytes")
	}
	say("get: rebuilt from the %d good pieces per segment in %v (%s/s), sha256 matches: bit-exact", cfg.K, dt.Round(time.Millisecond), formatBytes(int64(float64(size)/dt.Seconds())))
	st := store.Stats()
	say("store: %d pinned blocks (%s); %d corrupted piece(s) read, detected and removed", st.PinnedBlocks, formatBytes(st.PinnedBytes), st.Corrupt)

	// 5. Repair: regenerate every lost piece from k good ones, without the
	// file key, as the repairer does for a holder that lost its copy.
	// A scrub first finds the damaged pieces the get did not need to read.
	t0 = time.Now()
	checked, corrupt, err := store.Scrub(ctx)
	if err != nil {
		return err
	}
	say("scrub: checked %d blocks, found and removed %d more corrupted piece(s)", checked, len(corrupt))
	repaired := 0
	for s := range segs {
		var want []int
		for i := range n {
			if _, ok := store.Has(res.Pieces[s*n+i].ID); !ok {
				want = append(want, i)
			}
		}
		if len(want) == 0 {
			continue
		}
		rebuilt, err := storage.Rebuild(ctx, storage.Layout(res.FileID, res.Manifest, s), storage.StoreSource(store), storage.StoreSink(store, blockstore.Pinned), want)
		if err != nil {
			return fmt.Errorf("repairing segment %d: %w", s, err)
		}
		repaired += len(rebuilt)
	}
	say("repair: regenerated %d lost piece(s) from k good ones each, without the file key, in %v; every piece id matches the manifest", repaired, time.Since(t0).Round(time.Millisecond))

	// 6. Losing more than m pieces of a segment is reported, naming the segment.
	lost := 0
	for i := range n {
		if lost > cfg.M {
			break
		}
		if _, ok := store.Has(res.Pieces[i].ID); ok {
			if err := store.Delete(ctx, res.Pieces[i].ID); err != nil {
				return err
			}
			lost++
		}
	}
	say("segment 0: deleted %d of its %d pieces", lost, n)
	err = storage.GetFromStore(ctx, store, res.Capability, io.Discard)
	var se *storage.SegmentError
	if !errors.As(err, &se) {
		return fmt.Errorf("get with too few pieces: %v, want a segment error", err)
	}
	say("get now fails as it should: segment %d has %d of the %d pieces it needs", se.Index, se.Have, se.Need)

	// 7. Proof of retrievability for a random leaf of a surviving piece.
	for _, p := range res.Pieces[n:] {
		if err := proveOne(ctx, store, p, r, say); err == nil {
			break
		}
	}
	if segs == 1 {
		for _, p := range res.Pieces[:n] {
			if _, ok := store.Has(p.ID); ok {
				proveOne(ctx, store, p, r, say)
				break
			}
		}
	}
	if !keep {
		say("cleaned up %s", work)
	}
	return nil
}

// proveOne proves a random leaf of piece p from the store and verifies it.
func proveOne(ctx context.Context, store *blockstore.Store, p storage.PieceInfo, r *mrand.Rand, say func(string, ...any)) error {
	rd, err := store.Open(ctx, p.ID)
	if err != nil {
		return err
	}
	defer rd.Close()
	leaf := r.Uint64N(p.Leaves)
	t0 := time.Now()
	proof, err := proofs.ProveAt(rd, rd.Size(), leaf)
	if err != nil {
		return err
	}
	gen := time.Since(t0)
	enc, _ := proof.MarshalBinary()
	t0 = time.Now()
	dec, err := proofs.DecodeProof(enc)
	if err == nil {
		err = proofs.Verify(p.Root, dec)
	}
	if err != nil {
		return err
	}
	say("proof: leaf %d of %d of segment %d piece %d: %s, built in %v, verified in %v",
		leaf, p.Leaves, p.Segment, p.Index, formatBytes(len(enc)), gen.Round(time.Microsecond), time.Since(t0).Round(time.Microsecond))
	return nil
}

// writeGenerated writes size pseudo-random bytes to path and returns their SHA-256.
func writeGenerated(path string, size int64, seed [32]byte) ([]byte, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(f, h), io.LimitReader(mrand.NewChaCha8(seed), size))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return h.Sum(nil), err
}

// corruptBlock flips one byte in the middle of a block's file.
func corruptBlock(store *blockstore.Store, id blockstore.ID) error {
	path, ok := store.Path(id)
	if !ok {
		return fmt.Errorf("block %s not found", id)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	b := make([]byte, 1)
	off := st.Size() / 2
	if _, err := f.ReadAt(b, off); err != nil {
		return err
	}
	b[0] ^= 0xff
	_, err = f.WriteAt(b, off)
	return err
}
