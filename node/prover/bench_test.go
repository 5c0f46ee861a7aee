package prover

import (
	"context"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/coop-network/coop/proofs"
)

// BenchmarkProverEpoch measures one epoch of a prover (Round: read the
// challenges and the held list from a fake ledger, prove ChallengesPerEpoch
// leaves, check and send them) for a holder of 16 pieces of 1, 16 and
// 64 MiB (synthetic: one content under 16 ids, readsize_test.go). It
// reports:
//
//   - read-B/epoch: piece bytes read (the instrumented store), and
//     levels-B/epoch: the encoded Levels read beside them;
//   - stored-B and read-ppm: bytes held, and piece+levels bytes read per
//     million bytes held;
//   - ms/epoch, and x-sha256-read: that time over a plain SHA-256 of the
//     piece bytes the round read, timed after every round (so the ratio
//     holds on a loaded machine; ns/op counts both).
//
// "levels" proves with the stored Levels (ProveWithLevels); "whole" without
// them (ProveAt, the fallback: every challenge reads and hashes its whole
// piece), the baseline it replaces; whole is skipped for 64 MiB pieces
// (640 MiB hashed per epoch).
func BenchmarkProverEpoch(b *testing.B) {
	const pieces = 16
	for _, size := range []int64{1 << 20, 16 << 20, 64 << 20} {
		b.Run(fmt.Sprintf("piece=%dMiB", size>>20), func(b *testing.B) {
			h := newSynthHolder(b, size, pieces)
			for _, mode := range []string{"levels", "whole"} {
				if mode == "whole" && size > 16<<20 {
					continue
				}
				b.Run(mode, func(b *testing.B) {
					var p *Prover
					if mode == "levels" {
						p = h.prover(h.levels)
					} else {
						p = h.prover(nil)
					}
					ctx := context.Background()
					h.pieces.reset()
					h.levels.reset()
					var roundT, baseT time.Duration
					var read, lv int64
					b.ResetTimer()
					for range b.N {
						h.nextEpoch()
						t0 := time.Now()
						if err := p.Round(ctx); err != nil {
							b.Fatal(err)
						}
						t1 := time.Now()
						r, _, _ := h.pieces.reset()
						hashSink = sha256Of(int(r))
						roundT += t1.Sub(t0)
						baseT += time.Since(t1)
						read += r
						lv += h.levels.reset()
					}
					b.StopTimer()
					perRead := float64(read) / float64(b.N)
					perLv := float64(lv) / float64(b.N)
					b.ReportMetric(perRead, "read-B/epoch")
					b.ReportMetric(perLv, "levels-B/epoch")
					b.ReportMetric(float64(h.stored), "stored-B")
					b.ReportMetric((perRead+perLv)/float64(h.stored)*1e6, "read-ppm")
					b.ReportMetric(float64(roundT.Nanoseconds())/float64(b.N)/1e6, "ms/epoch")
					b.ReportMetric(float64(roundT)/float64(baseT), "x-sha256-read")
					h.lc.mu.Lock()
					h.lc.sent = nil
					h.lc.mu.Unlock()
				})
			}
		})
	}
}

var hashSink []byte

// hashBuf is what sha256Of hashes: zeros, 64 KiB at a time.
var hashBuf = make([]byte, proofs.SubtreeLeaves*proofs.LeafSize)

// sha256Of is a plain SHA-256 of n bytes, written in 64 KiB calls.
func sha256Of(n int) []byte {
	d := sha256.New()
	for left := n; left > 0; left -= len(hashBuf) {
		_, _ = d.Write(hashBuf[:min(left, len(hashBuf))])
	}
	return d.Sum(nil)
}
