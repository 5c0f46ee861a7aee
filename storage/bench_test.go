package storage

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"testing"
	"time"

	"github.com/coop-network/coop/proofs"
	"github.com/coop-network/coop/storage/blockstore"
)

// Benchmarks write their stores under $COOP_BENCH_DIR if set (e.g. /dev/shm
// to take the disk out of the figures), else under the test's temp dir.

// childEnv makes the test binary a put or get child for the RSS benchmarks.
const childEnv = "COOP_STORAGE_BENCH_CHILD"

func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		err := benchChild(spec)
		var kib int64
		if err == nil {
			kib, err = peakRSSKiB()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(2)
		}
		fmt.Println(kib)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// repeatReader yields n bytes by repeating a random buffer; DARE's per-segment
// keys and random nonces make every segment's ciphertext distinct anyway.
type repeatReader struct {
	buf []byte
	off int
	n   int64
}

var randomMiB = randomBytes(42, 1<<20)

func newRepeatReader(n int64) *repeatReader { return &repeatReader{buf: randomMiB, n: n} }

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.n {
		p = p[:r.n]
	}
	c := copy(p, r.buf[r.off:])
	r.off = (r.off + c) % len(r.buf)
	r.n -= int64(c)
	return c, nil
}

func benchDir(b *testing.B) string {
	if d := os.Getenv("COOP_BENCH_DIR"); d != "" {
		dir, err := os.MkdirTemp(d, "coop-bench-")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(dir) })
		return dir
	}
	return b.TempDir()
}

// baselineSeconds is the time one core takes to AES-256-GCM seal and
// SHA-256 n bytes in 64 KiB chunks: the cost floor of encrypting and
// addressing the data once.
func baselineSeconds(n int64) float64 {
	key := make([]byte, 32)
	blk, _ := aes.NewCipher(key)
	gcm, _ := cipher.NewGCM(blk)
	nonce := make([]byte, gcm.NonceSize())
	chunk := randomMiB[:64<<10]
	dst := make([]byte, 0, len(chunk)+gcm.Overhead())
	h := sha256.New()
	start := time.Now()
	for done := int64(0); done < n; done += int64(len(chunk)) {
		dst = gcm.Seal(dst[:0], nonce, chunk, nil)
		h.Write(chunk)
	}
	h.Sum(nil)
	return time.Since(start).Seconds()
}

var benchShapes = []struct {
	name string
	cfg  Config
	size int64
}{
	{"k4m2/64MiB", DefaultConfig(), 64 << 20},
	{"k1m2/64MiB", Config{K: 1, M: 2, SegmentSize: 64 << 20, StripeUnit: 256 << 10}, 64 << 20},
	{"k4m2/1GiB", DefaultConfig(), 1 << 30},
}

func BenchmarkPut(b *testing.B) {
	for _, sh := range benchShapes {
		b.Run(sh.name, func(b *testing.B) {
			base := baselineSeconds(sh.size)
			b.SetBytes(sh.size)
			b.ResetTimer() // ns/op and MB/s are the put's, not the baseline's
			var total time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				s, err := blockstore.Open(benchDir(b), blockstore.Config{MaxBlockSize: 1 << 30})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				start := time.Now()
				if _, err := Put(context.Background(), newRepeatReader(sh.size), StoreSink(s, blockstore.Pinned), sh.cfg); err != nil {
					b.Fatal(err)
				}
				total += time.Since(start)
				b.StopTimer()
				s.Close()
				b.StartTimer()
			}
			per := total.Seconds() / float64(b.N)
			b.ReportMetric(base/per, "x-baseline")
			b.ReportMetric(float64(sh.size)/base/1e6, "baseline-MB/s")
		})
	}
}

// hashSink is a BlockSink that hashes blocks (to return their ids, Merkle
// commitments as the block store computes them) and discards them: Put's
// CPU cost without the disk.
type hashSink struct{}

type hashWriter struct{ h *proofs.Builder }

func (hashSink) CreateBlock(context.Context) (BlockWriter, error) {
	return &hashWriter{proofs.NewBuilder()}, nil
}
func (w *hashWriter) Write(p []byte) (int, error)    { return w.h.Write(p) }
func (w *hashWriter) Abort()                         {}
func (w *hashWriter) Sum() blockstore.ID             { return blockstore.ID(w.h.ID()) }
func (w *hashWriter) Root() proofs.Hash              { return w.h.Root() }
func (w *hashWriter) Commit() (blockstore.ID, error) { return w.Sum(), nil }

// BenchmarkPutNoDisk is BenchmarkPut into a sink that discards the pieces.
func BenchmarkPutNoDisk(b *testing.B) {
	for _, sh := range benchShapes {
		b.Run(sh.name, func(b *testing.B) {
			base := baselineSeconds(sh.size)
			b.SetBytes(sh.size)
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if _, err := Put(context.Background(), newRepeatReader(sh.size), hashSink{}, sh.cfg); err != nil {
					b.Fatal(err)
				}
			}
			per := time.Since(start).Seconds() / float64(b.N)
			b.ReportMetric(base/per, "x-baseline")
		})
	}
}

func BenchmarkGet(b *testing.B) {
	for _, sh := range benchShapes {
		b.Run(sh.name, func(b *testing.B) {
			s, err := blockstore.Open(benchDir(b), blockstore.Config{MaxBlockSize: 1 << 30})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			res, err := Put(context.Background(), newRepeatReader(sh.size), StoreSink(s, blockstore.Pinned), sh.cfg)
			if err != nil {
				b.Fatal(err)
			}
			base := baselineSeconds(sh.size)
			b.SetBytes(sh.size)
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if err := GetFromStore(context.Background(), s, res.Capability, io.Discard); err != nil {
					b.Fatal(err)
				}
			}
			per := time.Since(start).Seconds() / float64(b.N)
			b.ReportMetric(base/per, "x-baseline")
		})
	}
}

// BenchmarkPeakRSS runs a put and then a get of the file in child processes
// and reports their peak resident set size: memory stays bounded whatever
// the file size. The child reports VmHWM from /proc/self/status when done:
// the rusage ru_maxrss the parent gets from wait4 is useless here, because
// Linux carries the parent's high-water mark into a vforked child across
// execve, so it reports the (larger) benchmark process instead.
func BenchmarkPeakRSS(b *testing.B) {
	for _, size := range []int64{64 << 20, 1 << 30} {
		b.Run(fmt.Sprintf("k4m2/%dMiB", size>>20), func(b *testing.B) {
			dir := benchDir(b)
			var putRSS, getRSS float64
			for i := 0; i < b.N; i++ {
				os.RemoveAll(dir + "/store")
				putRSS = runChild(b, "put", dir, size)
				getRSS = runChild(b, "get", dir, size)
			}
			b.ReportMetric(putRSS, "put-peak-RSS-MiB")
			b.ReportMetric(getRSS, "get-peak-RSS-MiB")
		})
	}
}

func runChild(b *testing.B, op, dir string, size int64) float64 {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s:%d:%s", childEnv, op, size, dir))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("%s child: %v", op, err)
	}
	kib, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		b.Fatalf("%s child printed %q", op, out)
	}
	return float64(kib) / 1024
}

// peakRSSKiB returns this process's peak resident set size (VmHWM).
func peakRSSKiB() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/self/status")
}

// benchChild runs "put:size:dir" (writing the capability to dir/cap) or
// "get:size:dir".
func benchChild(spec string) error {
	var op, dir string
	var size int64
	for i, part := 0, 0; part < 3; part++ {
		j := i
		for j < len(spec) && (spec[j] != ':' || part == 2) {
			j++
		}
		switch part {
		case 0:
			op = spec[i:j]
		case 1:
			size, _ = strconv.ParseInt(spec[i:j], 10, 64)
		case 2:
			dir = spec[i:j]
		}
		i = j + 1
	}
	s, err := blockstore.Open(dir+"/store", blockstore.Config{MaxBlockSize: 1 << 30})
	if err != nil {
		return err
	}
	defer s.Close()
	ctx := context.Background()
	switch op {
	case "put":
		res, err := Put(ctx, newRepeatReader(size), StoreSink(s, blockstore.Pinned), DefaultConfig())
		if err != nil {
			return err
		}
		return os.WriteFile(dir+"/cap", []byte(res.Capability.String()), 0o600)
	case "get":
		b, err := os.ReadFile(dir + "/cap")
		if err != nil {
			return err
		}
		c, err := ParseCapability(string(b))
		if err != nil {
			return err
		}
		cw := &countWriter{}
		if err := GetFromStore(ctx, s, c, cw); err != nil {
			return err
		}
		if cw.n != size {
			return fmt.Errorf("got %d bytes, want %d", cw.n, size)
		}
		return nil
	}
	return fmt.Errorf("unknown child op %q", op)
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }
