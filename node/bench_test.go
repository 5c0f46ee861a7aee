package node

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/node/ledger"
	"github.com/coop-network/coop/storage"
	"github.com/coop-network/coop/storage/blockstore"
)

const benchRawProtocol = protocol.ID("/coop/bench-raw/1")

// chachaReader is an endless deterministic pseudo-random stream (file
// contents without holding them in memory).
type chachaReader struct{ r *rand.ChaCha8 }

func newData(seed byte) *chachaReader {
	var s [32]byte
	s[0] = seed
	return &chachaReader{rand.NewChaCha8(s)}
}

func (c *chachaReader) Read(p []byte) (int, error) { return c.r.Read(p) }

// serveRaw makes n answer raw-stream ceiling measurements: it writes as many
// zero bytes as asked.
func serveRaw(n *Node) {
	n.host.Libp2p().SetStreamHandler(benchRawProtocol, func(s network.Stream) {
		var want [8]byte
		if _, err := io.ReadFull(s, want[:]); err != nil {
			_ = s.Reset()
			return
		}
		left := int64(0)
		for _, b := range want {
			left = left<<8 | int64(b)
		}
		buf := make([]byte, 32<<10)
		for left > 0 {
			m := min(left, int64(len(buf)))
			if _, err := s.Write(buf[:m]); err != nil {
				_ = s.Reset()
				return
			}
			left -= m
		}
		_ = s.Close()
	})
}

// rawCeiling is the bytes per second one bare libp2p stream carries from p
// to n: the ceiling any transfer between two nodes can reach.
func rawCeiling(b *testing.B, n *Node, p peer.ID, size int64) float64 {
	b.Helper()
	start := time.Now()
	s, err := n.host.Libp2p().NewStream(context.Background(), p, benchRawProtocol)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var want [8]byte
	for i := range want {
		want[i] = byte(size >> (8 * (7 - i)))
	}
	if _, err := s.Write(want[:]); err != nil {
		b.Fatal(err)
	}
	got, err := io.Copy(io.Discard, s)
	if err != nil || got != size {
		b.Fatalf("raw stream: %d of %d bytes, %v", got, size, err)
	}
	return float64(size) / time.Since(start).Seconds()
}

// benchConfig is a benchmark node's config: default storage (64 MiB
// segments, k=4 m=2) and get schedule, unless $COOP_BENCH_GET_WINDOW or
// $COOP_BENCH_GET_SPARES set the get window or spares (to compare
// schedules).
func benchConfig(i int, c *Config) {
	c.Storage = storage.DefaultConfig() // 64 MiB segments
	c.Pledge = 16 << 30
	c.Blocks.CacheBytes = 2 << 30
	c.HedgeDelay = DefaultConfig(c.Home).HedgeDelay
	if v, err := strconv.Atoi(os.Getenv("COOP_BENCH_GET_WINDOW")); err == nil {
		c.GetWindow = v
	}
	if v, err := strconv.Atoi(os.Getenv("COOP_BENCH_GET_SPARES")); err == nil {
		c.GetSpares = v
	}
}

// benchSizes are the file sizes BenchmarkNetwork puts and gets: 256 MiB,
// or the MiB figures listed in $COOP_BENCH_NET_MIB (e.g. "256,1024").
func benchSizes(b *testing.B) []int64 {
	env := os.Getenv("COOP_BENCH_NET_MIB")
	if env == "" {
		return []int64{256 << 20}
	}
	var out []int64
	for _, f := range strings.Split(env, ",") {
		mib, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
		if err != nil || mib <= 0 {
			b.Fatalf("COOP_BENCH_NET_MIB: %q is not a size in MiB", f)
		}
		out = append(out, mib<<20)
	}
	return out
}

// statusKiB reads a field (VmRSS, VmHWM) of /proc/self/status in KiB.
func statusKiB(b *testing.B, field string) int64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	b.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// resetPeakRSS resets this process's VmHWM to its current RSS (Linux
// clear_refs 5) and returns that RSS in KiB; false if the kernel refuses.
func resetPeakRSS(b *testing.B) (int64, bool) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		return 0, false
	}
	return statusKiB(b, "VmRSS"), true
}

// profile writes a CPU profile of one sub-benchmark to
// $COOP_BENCH_CPUPROFILE_DIR/<name>.cpu if that is set (-cpuprofile covers
// the whole run, network start-up and baselines included); call the
// returned function to stop it.
func profile(b *testing.B, name string) func() {
	dir := os.Getenv("COOP_BENCH_CPUPROFILE_DIR")
	if dir == "" {
		return func() {}
	}
	f, err := os.Create(filepath.Join(dir, name+".cpu"))
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// cpuTime is the CPU time (user and system) this process has used so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// putTimes catches the stage timings a node logs for each put ("file
// placed": encode, push_and_receipts, ledger).
type putTimes struct {
	slog.Handler
	mu   sync.Mutex
	last map[string]time.Duration
}

func (h *putTimes) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo
}

func (h *putTimes) Handle(ctx context.Context, r slog.Record) error {
	if r.Message != "file placed" {
		return nil
	}
	got := map[string]time.Duration{}
	r.Attrs(func(a slog.Attr) bool {
		if a.Value.Kind() == slog.KindDuration {
			got[a.Key] = a.Value.Duration()
		}
		return true
	})
	h.mu.Lock()
	h.last = got
	h.mu.Unlock()
	return nil
}

func (h *putTimes) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *putTimes) WithGroup(string) slog.Handler      { return h }

func (h *putTimes) get() map[string]time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last
}

// localPipeline puts and gets the same file with storage.Put and
// storage.GetFromStore on a block store in dir (the same disk the nodes
// use) and returns the best put and get rates of rounds each, in bytes per
// second.
func localPipeline(b *testing.B, dir string, size int64, seed byte, rounds int) (put, get float64, getCPU time.Duration) {
	b.Helper()
	ctx := context.Background()
	for r := range rounds {
		s, err := blockstore.Open(filepath.Join(dir, fmt.Sprintf("local-%d", r)), blockstore.Config{MaxBlockSize: 1 << 30})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		res, err := storage.Put(ctx, io.LimitReader(newData(seed), size), storage.StoreSink(s, blockstore.Pinned), storage.DefaultConfig())
		if err != nil {
			b.Fatal(err)
		}
		put = max(put, float64(size)/time.Since(start).Seconds())
		start = time.Now()
		cpu := cpuTime(b)
		if err := storage.GetFromStore(ctx, s, res.Capability, io.Discard); err != nil {
			b.Fatal(err)
		}
		get = max(get, float64(size)/time.Since(start).Seconds())
		if cpu = cpuTime(b) - cpu; getCPU == 0 || cpu < getCPU {
			getCPU = cpu
		}
		_ = s.Close()
		_ = os.RemoveAll(filepath.Join(dir, fmt.Sprintf("local-%d", r)))
	}
	return put, get, getCPU
}

// BenchmarkNetwork puts and gets a file (256 MiB unless $COOP_BENCH_NET_MIB
// says otherwise) on a 6-node loopback network (real CometBFT, libp2p,
// block stores) through the API at k=4 m=2, the put on node 0 and the get
// on node 1 with an empty cache. In the same run it measures one raw libp2p
// stream between two of the nodes and the local pipeline (storage.Put and
// storage.GetFromStore of the same file on the same disk), and reports each
// network figure as ratios against them: x-local and x-raw (best round
// against best round; the machine is shared). Put also reports its stages
// (ms of encode, push-and-receipts, ledger, from the node's log); put and
// get report the process's peak RSS above its RSS before each round (all
// six nodes share the process, so this bounds the putting or getting
// node's own).
func BenchmarkNetwork(b *testing.B) {
	for _, size := range benchSizes(b) {
		b.Run(fmt.Sprintf("k4m2/%dMiB", size>>20), func(b *testing.B) { benchNetwork(b, size) })
	}
}

func benchNetwork(b *testing.B, size int64) {
	logs := &putTimes{}
	prev := slog.Default()
	slog.SetDefault(slog.New(logs))
	defer slog.SetDefault(prev)
	dc := ledger.TestNetConfig(b, 6)
	dc.Genesis.Params.Allowance = 1 << 40 // every round's put stays on the ledger
	net := StartTestNetworkWith(b, dc, benchConfig)
	a, reader := net.Nodes[0], net.Nodes[1]
	for _, n := range net.Nodes {
		serveRaw(n)
	}
	raw := 0.0
	for range 2 {
		raw = max(raw, rawCeiling(b, reader, net.Nodes[2].host.ID(), size))
	}
	localPut, localGet, localGetCPU := localPipeline(b, b.TempDir(), size, 7, 2)
	b.Logf("same run: raw stream %.0f MB/s, local put %.0f MB/s, local get %.0f MB/s", raw/1e6, localPut/1e6, localGet/1e6)
	putClient, err := api.NewClientFromHome(a.cfg.Home)
	if err != nil {
		b.Fatal(err)
	}
	getClient, err := api.NewClientFromHome(reader.cfg.Home)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	opts := api.PutOptions{K: 4, M: 2}
	var capability string
	b.Run("put", func(b *testing.B) {
		b.SetBytes(size)
		best := 0.0
		var stages map[string]time.Duration
		peak := 0.0
		defer profile(b, "put")()
		for i := 0; b.Loop(); i++ {
			idle, rssOK := resetPeakRSS(b)
			start := time.Now()
			res, err := putClient.Put(ctx, io.LimitReader(newData(byte(i)), size), size, opts)
			if err != nil {
				b.Fatal(err)
			}
			if rssOK {
				peak = max(peak, float64(statusKiB(b, "VmHWM")-idle)/1024)
			}
			if rate := float64(size) / time.Since(start).Seconds(); rate > best {
				best, stages = rate, logs.get()
			}
			capability = res.Capability
		}
		b.ReportMetric(best/localPut, "x-local")
		b.ReportMetric(best/raw, "x-raw")
		b.ReportMetric(peak, "peak-RSS-MiB-above-idle")
		for _, k := range []string{"encode", "push_and_receipts", "ledger"} {
			b.ReportMetric(float64(stages[k].Milliseconds()), k+"-ms")
		}
	})
	b.Run("get", func(b *testing.B) {
		b.SetBytes(size)
		best, peak := 0.0, 0.0
		stats := make(chan *storage.GetStats, 1)
		testHookGetStats = func(st *storage.GetStats) { stats <- st }
		defer func() { testHookGetStats = nil }()
		var bestStats *storage.GetStats
		var leastCPU, bestTTFB time.Duration
		var bestTTFBShare float64
		defer profile(b, "get")()
		for b.Loop() {
			b.StopTimer()
			dropCacheB(b, reader)
			runtime.GC()
			idle, rss := resetPeakRSS(b)
			b.StartTimer()
			start, cpu := time.Now(), cpuTime(b)
			rc, _, err := getClient.Open(ctx, capability)
			if err != nil {
				b.Fatal(err)
			}
			// Open returns with the response's header, which the node
			// sends with the first plaintext bytes.
			ttfb := time.Since(start)
			// Read as coop get does (io.Copy into its file: 32 KiB reads;
			// io.Discard would read 8 KiB at a time).
			n, err := io.CopyBuffer(struct{ io.Writer }{io.Discard}, rc, make([]byte, 32<<10))
			rc.Close()
			if err != nil || n != size {
				b.Fatalf("get: %d bytes, %v", n, err)
			}
			st := <-stats
			if cpu = cpuTime(b) - cpu; leastCPU == 0 || cpu < leastCPU {
				leastCPU = cpu
			}
			if took := time.Since(start); float64(size)/took.Seconds() > best {
				best, bestStats = float64(size)/took.Seconds(), st
				bestTTFB, bestTTFBShare = ttfb, float64(ttfb)/float64(took)
			}
			if rss {
				peak = max(peak, float64(statusKiB(b, "VmHWM")-idle)/1024)
			}
		}
		b.ReportMetric(best/localGet, "x-local")
		b.ReportMetric(best/raw, "x-raw")
		b.ReportMetric(peak, "peak-RSS-MiB-above-idle")
		// CPU time of the whole process (senders, receiver, API) per get
		// against the local get's: on a machine shared with other jobs this
		// ratio holds steadier than the wall-clock one.
		b.ReportMetric(localGetCPU.Seconds()/leastCPU.Seconds(), "cpu-x-local")
		for _, m := range []struct {
			name string
			d    time.Duration
		}{{"wait", bestStats.Wait}, {"read", bestStats.Read}, {"reconstruct", bestStats.Reconstruct}, {"decrypt", bestStats.Decrypt}, {"write", bestStats.Write}} {
			b.ReportMetric(float64(m.d.Milliseconds()), m.name+"-ms")
		}
		b.ReportMetric(float64(bestStats.Fetched-bestStats.Pieces), "extra-fetches")
		// The wait for the first plaintext byte (the first segment's
		// pieces, then its first stripes decoded) and its share of the get.
		b.ReportMetric(float64(bestTTFB.Milliseconds()), "first-byte-ms")
		b.ReportMetric(bestTTFBShare, "first-byte-share")
	})
}

// BenchmarkParallelFetch caps every node's upload at 25 MB/s (home
// uplinks) and gets a 64 MiB file stored at k=4 (four holders sending in
// parallel), against the get of a k=1 copy of the same size from a single
// holder under the same cap, measured in the same run (x-baseline; the
// issue asks for ≥ 3).
func BenchmarkParallelFetch(b *testing.B) {
	const size = 64 << 20
	net := StartTestNetwork(b, 5, func(i int, c *Config) {
		benchConfig(i, c)
		c.Storage.SegmentSize = size
		c.Exchange.UploadRate = 25_000_000
	})
	a := net.Nodes[0]
	ctx := context.Background()
	get := func(b *testing.B, capability string) time.Duration {
		dropCacheB(b, a)
		start := time.Now()
		rc, _, err := a.Open(ctx, capability)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil || n != size {
			b.Fatalf("get: %d bytes, %v", n, err)
		}
		return time.Since(start)
	}
	k1, err := a.Put(ctx, io.LimitReader(newData(1), size), size, api.PutOptions{Copies: 1})
	if err != nil {
		b.Fatal(err)
	}
	k4, err := a.Put(ctx, io.LimitReader(newData(4), size), size, api.PutOptions{K: 4, M: 0})
	if err != nil {
		b.Fatal(err)
	}
	b.Run(fmt.Sprintf("k4-vs-k1/cap25MBps/%dMiB", size>>20), func(b *testing.B) {
		get(b, k4.Capability) // warm up connections and the DHT
		single := float64(size) / get(b, k1.Capability).Seconds()
		b.SetBytes(size)
		b.ResetTimer()
		var elapsed time.Duration
		for b.Loop() {
			b.StopTimer()
			dropCacheB(b, a)
			b.StartTimer()
			elapsed += get(b, k4.Capability)
		}
		b.ReportMetric(float64(size)*float64(b.N)/elapsed.Seconds()/single, "x-baseline")
		b.ReportMetric(single/1e6, "k1-MB/s")
	})
}

func dropCacheB(b *testing.B, n *Node) {
	for _, id := range n.store.List(2) {
		if err := n.store.Delete(context.Background(), id); err != nil {
			b.Fatal(err)
		}
	}
}
