package node

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/node/mount"
)

// BenchmarkMount compares the namespace through `coop mount` with the API
// calls `coop put` and `coop get` make, on a 3-node devnet, for one file
// (COOP_BENCH_MOUNT_MIB, default 32 MiB): writing it into the mount (copy,
// close) against a put at its path, reading it through a fresh mount
// (nothing cached) against a get by path, and the time from close() on one
// device of the account to the new contents being read on the other.
// Reported: mount-write/put and mount-read/get (throughput ratios, target
// ≥ 0.8), ranged-mount-read/get (the read through a mount that fetches
// block by block, without the API backend's stream: the baseline of the
// streamed read) and close-to-visible-ms.
func BenchmarkMount(b *testing.B) {
	requireFUSE(b)
	size := int64(32 << 20)
	if v, err := strconv.Atoi(os.Getenv("COOP_BENCH_MOUNT_MIB")); err == nil && v > 0 {
		size = int64(v) << 20
	}
	net := StartTestNetwork(b, 3, nil)
	ctx := context.Background()
	a, d := net.Nodes[0], net.Nodes[1]
	addDevice(b, ctx, a, d, "laptop")
	ca, cd := apiClient(b, a), apiClient(b, d)
	src := filepath.Join(b.TempDir(), "file.bin")
	f, err := os.Create(src)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.CopyN(f, newData(3), size); err != nil {
		b.Fatal(err)
	}
	f.Close()
	opts := api.PathPutOptions{PutOptions: api.PutOptions{Copies: 2}}
	var put, mw, get, mr, mrr, vis time.Duration
	b.SetBytes(size)
	b.ResetTimer()
	for i := range b.N {
		// put through the API, as coop put FILE /PATH does.
		f, _ := os.Open(src)
		t0 := time.Now()
		if _, err := ca.PutPath(ctx, f, size, "/api.bin", opts); err != nil {
			b.Fatal(err)
		}
		put += time.Since(t0)
		f.Close()
		// The same bytes written into the mount (a new mount, a cold cache).
		dir := mountNode(b, ctx, a)
		t0 = time.Now()
		if err := copyFile(src, filepath.Join(dir, "mount.bin")); err != nil {
			b.Fatal(err)
		}
		closed := time.Now()
		mw += closed.Sub(t0)
		// Visible on the other device: its get by path reads the new file.
		want, err := ca.Stat(ctx, "/mount.bin", 0)
		if err != nil {
			b.Fatal(err)
		}
		waitFor(b, "the other device to see the write", func() error {
			e, err := cd.Stat(ctx, "/mount.bin", 0)
			if err != nil {
				return err
			}
			if e.FileID != want.FileID {
				return io.ErrUnexpectedEOF
			}
			return nil
		})
		vis += time.Since(closed)
		// get through the API, as coop get /PATH does.
		dropCacheB(b, d)
		t0 = time.Now()
		rc, _, err := cd.OpenPath(ctx, "/api.bin", 0)
		if err != nil {
			b.Fatal(err)
		}
		if n, err := io.Copy(io.Discard, rc); err != nil || n != size {
			b.Fatalf("get: %d bytes, %v", n, err)
		}
		rc.Close()
		get += time.Since(t0)
		// The same read through a fresh mount of the other device.
		dropCacheB(b, d)
		mdir := mountNode(b, ctx, d)
		t0 = time.Now()
		mf, err := os.Open(filepath.Join(mdir, "api.bin"))
		if err != nil {
			b.Fatal(err)
		}
		if n, err := io.Copy(io.Discard, mf); err != nil || n != size {
			b.Fatalf("read through the mount: %d bytes, %v", n, err)
		}
		mf.Close()
		mr += time.Since(t0)
		// The same through a mount that reads block by block (a ranged
		// get per block, the Backend's Streamer hidden): what the
		// streamed read is measured against.
		dropCacheB(b, d)
		rdir := mountBackend(b, ctx, struct{ mount.Backend }{mount.NewAPIBackend(cd)})
		t0 = time.Now()
		if n, err := readToEnd(filepath.Join(rdir, "api.bin")); err != nil || n != size {
			b.Fatalf("read through the block-by-block mount: %d bytes, %v", n, err)
		}
		mrr += time.Since(t0)
		_ = i
	}
	b.StopTimer()
	b.ReportMetric(put.Seconds()/mw.Seconds(), "mount-write/put")
	b.ReportMetric(get.Seconds()/mr.Seconds(), "mount-read/get")
	b.ReportMetric(get.Seconds()/mrr.Seconds(), "ranged-mount-read/get")
	b.ReportMetric(float64(vis.Milliseconds())/float64(b.N), "close-to-visible-ms")
	b.Logf("%d MiB ×%d: put %v, mount write %v, get %v, mount read %v (block by block %v), close→visible %v (totals)",
		size>>20, b.N, put.Round(time.Millisecond), mw.Round(time.Millisecond), get.Round(time.Millisecond), mr.Round(time.Millisecond),
		mrr.Round(time.Millisecond), vis.Round(time.Millisecond))
}

// copyFile copies src to dst and closes dst (the upload happens then).
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// readToEnd reads the file at path to its end and returns its length.
func readToEnd(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return io.Copy(io.Discard, f)
}
