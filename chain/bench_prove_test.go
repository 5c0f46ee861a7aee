package chain

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/coop-network/coop/proofs"
)

// BenchmarkProofPerHolder measures what one holder's epoch costs the
// ledger, for a holder of 1 GiB and one of 64 GiB (synthetic 16 MiB pieces,
// proofsize_test.go), each reporting:
//
//   - proof-B/epoch: the holder's ProveStorage tx, the bytes it adds to the
//     chain per epoch;
//   - verify-µs/holder: "verify" decodes and checks its ChallengesPerEpoch
//     proofs (proofs.DecodeProof, proofs.Verify): the proof checking alone;
//     "rule" executes the whole ProveStorage rule on the committed state
//     with the signature already verified (as FinalizeBlock does after
//     CheckTx), which also recomputes the holder's challenges by reading
//     every piece it holds; "full" from the raw tx, signature included;
//   - x-sha256: that time over one SHA-256 of the tx's bytes, measured in
//     the same run (the baseline: the least any node does with a tx).
func BenchmarkProofPerHolder(b *testing.B) {
	for _, held := range []struct {
		name   string
		pieces int
	}{{"held=1GiB", 64}, {"held=64GiB", 4096}} {
		b.Run(held.name, func(b *testing.B) {
			s := newSynthLedger(b, held.pieces, synthPieceSize)
			body, raw := s.proofTx(s.challenges())
			root := proofs.Hash(s.content.root)
			st := s.app.committed()
			params := s.app.params
			base := sha256Baseline(len(raw))
			report := func(b *testing.B) {
				us := float64(b.Elapsed().Nanoseconds()) / float64(b.N) / 1e3
				b.ReportMetric(float64(len(raw)), "proof-B/epoch")
				b.ReportMetric(us, "verify-µs/holder")
				b.ReportMetric(us*1e3/base, "x-sha256")
			}
			b.Run("verify", func(b *testing.B) {
				for range b.N {
					for _, p := range body.Proofs {
						pr, err := proofs.DecodeProof(p)
						if err != nil {
							b.Fatal(err)
						}
						if err := proofs.Verify(root, pr); err != nil {
							b.Fatal(err)
						}
					}
				}
				report(b)
			})
			for _, c := range []struct {
				name  string
				cache *verifiedCache
			}{{"rule", &verifiedCache{}}, {"full", nil}} {
				b.Run(c.name, func(b *testing.B) {
					if c.cache != nil {
						if _, err := execute(newOverlay(st), testChainID, params, s.height+1, c.cache, raw); err != nil {
							b.Fatal(err)
						}
					}
					b.ResetTimer()
					for range b.N {
						auth, err := execute(newOverlay(st), testChainID, params, s.height+1, c.cache, raw)
						if err != nil || auth.outcome != OutcomeProved {
							b.Fatalf("%v %+v", err, auth)
						}
					}
					report(b)
				})
			}
		})
	}
}

// sha256Baseline is the time of one SHA-256 of n bytes in ns, over at
// least 50 ms of hashing.
func sha256Baseline(n int) float64 {
	buf := make([]byte, n)
	var sink [32]byte
	iters := 0
	start := time.Now()
	for time.Since(start) < 50*time.Millisecond {
		for range 100 {
			sink = sha256.Sum256(buf)
			buf[0] = sink[0]
		}
		iters += 100
	}
	return float64(time.Since(start).Nanoseconds()) / float64(iters)
}
