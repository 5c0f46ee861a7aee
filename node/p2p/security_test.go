package p2p

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
)

// plainHost is a bare libp2p host on 127.0.0.1 over TCP with only the
// given security protocol: an older coop node (Noise only), or one side of
// the benchmark.
func plainHost(tb testing.TB, sec libp2p.Option) host.Host {
	tb.Helper()
	h, err := libp2p.New(
		sec,
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.DisableMetrics(),
	)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = h.Close() })
	return h
}

func connSecurity(t *testing.T, a host.Host, b peer.ID) protocol.ID {
	t.Helper()
	conns := a.Network().ConnsToPeer(b)
	if len(conns) == 0 {
		t.Fatalf("no connection to %s", b)
	}
	return conns[0].ConnState().Security
}

// TestHostsSecureWithTLSAndStillSpeakNoise: two coop hosts agree on TLS
// 1.3 (cheaper per byte on CPUs with AES instructions), and a peer that
// offers only Noise, as coop nodes before this change did, still
// connects, both ways.
func TestHostsSecureWithTLSAndStillSpeakNoise(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cfg := TestConfig()
	cfg.DisableQUIC = true
	a, _ := NewTestHost(t, cfg)
	b, _ := NewTestHost(t, cfg)
	if err := a.Connect(ctx, b.AddrInfo()); err != nil {
		t.Fatal(err)
	}
	if got := connSecurity(t, a.Libp2p(), b.ID()); got != libp2ptls.ID {
		t.Fatalf("coop ↔ coop secured with %s, want %s", got, libp2ptls.ID)
	}

	old := plainHost(t, libp2p.Security(noise.ID, noise.New))
	if err := a.Connect(ctx, peer.AddrInfo{ID: old.ID(), Addrs: old.Addrs()}); err != nil {
		t.Fatalf("coop dialing a Noise-only peer: %v", err)
	}
	if got := connSecurity(t, a.Libp2p(), old.ID()); got != noise.ID {
		t.Fatalf("coop → Noise-only peer secured with %s, want %s", got, noise.ID)
	}
	old2 := plainHost(t, libp2p.Security(noise.ID, noise.New))
	if err := old2.Connect(ctx, b.AddrInfo()); err != nil {
		t.Fatalf("a Noise-only peer dialing coop: %v", err)
	}
	if got := connSecurity(t, old2, b.ID()); got != noise.ID {
		t.Fatalf("Noise-only peer → coop secured with %s, want %s", got, noise.ID)
	}
}

// BenchmarkSecureStream moves 64 MiB over one yamux stream between two
// hosts on 127.0.0.1, secured with Noise and with TLS 1.3 in turn, and
// reports the best rate of each in MB/s; tls-x-noise is TLS's rate ÷
// Noise's in the same run.
func BenchmarkSecureStream(b *testing.B) {
	const size = 64 << 20
	const proto = protocol.ID("/coop-bench/sink/1")
	run := func(b *testing.B, sec libp2p.Option) float64 {
		src := plainHost(b, sec)
		dst := plainHost(b, sec)
		dst.SetStreamHandler(proto, func(s network.Stream) {
			_, _ = io.Copy(io.Discard, s)
			_ = s.Close()
		})
		ctx := context.Background()
		if err := src.Connect(ctx, peer.AddrInfo{ID: dst.ID(), Addrs: dst.Addrs()}); err != nil {
			b.Fatal(err)
		}
		buf := make([]byte, 1<<20)
		best := 0.0
		for range b.N {
			t0 := time.Now()
			s, err := src.NewStream(ctx, dst.ID(), proto)
			if err != nil {
				b.Fatal(err)
			}
			for sent := 0; sent < size; sent += len(buf) {
				if _, err := s.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			if err := s.CloseWrite(); err != nil {
				b.Fatal(err)
			}
			// The sink closes when it has read everything.
			if _, err := io.Copy(io.Discard, s); err != nil {
				b.Fatal(err)
			}
			_ = s.Close()
			best = max(best, float64(size)/time.Since(t0).Seconds()/1e6)
		}
		return best
	}
	n := run(b, libp2p.Security(noise.ID, noise.New))
	t := run(b, libp2p.Security(libp2ptls.ID, libp2ptls.New))
	b.ReportMetric(n, "noise-MB/s")
	b.ReportMetric(t, "tls-MB/s")
	b.ReportMetric(t/n, "tls-x-noise")
}
