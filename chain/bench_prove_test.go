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
//   - x-sha256: that time over one SHA-256 of the tx's bytes (the baseline:
//     the least any node does with a tx), timed after every iteration, so
//     the ratio holds on a loaded machine (ns/op counts both);
//   - pieces: the holder's pieces, which "rule" reads.
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
			verify := func(b *testing.B) {
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
			for _, c := range []struct {
				name  string
				cache *verifiedCache
			}{{"verify", nil}, {"rule", &verifiedCache{}}, {"full", nil}} {
				b.Run(c.name, func(b *testing.B) {
					run := func(b *testing.B) {
						if c.name == "verify" {
							verify(b)
							return
						}
						auth, err := execute(newOverlay(st), testChainID, params, s.height+1, c.cache, raw)
						if err != nil || auth.outcome != OutcomeProved {
							b.Fatalf("%v %+v", err, auth)
						}
					}
					run(b) // warm up, and fill the signature cache for "rule"
					b.ResetTimer()
					op, base := benchWithBaseline(b, run, func() { shaSink = sha256.Sum256(raw) })
					b.ReportMetric(float64(len(raw)), "proof-B/epoch")
					b.ReportMetric(op/1e3, "verify-µs/holder")
					b.ReportMetric(op/base, "x-sha256")
					b.ReportMetric(float64(held.pieces), "pieces")
				})
			}
		})
	}
}

var shaSink [32]byte

// benchWithBaseline runs op b.N times, each followed by baseline, and
// returns the mean time of each in ns. Interleaving them makes their
// ratio robust to load that comes and goes on a shared machine; the
// benchmark's ns/op counts both.
func benchWithBaseline(b *testing.B, op func(*testing.B), baseline func()) (opNs, baseNs float64) {
	var opT, baseT time.Duration
	for range b.N {
		t0 := time.Now()
		op(b)
		t1 := time.Now()
		baseline()
		opT += t1.Sub(t0)
		baseT += time.Since(t1)
	}
	return float64(opT.Nanoseconds()) / float64(b.N), float64(baseT.Nanoseconds()) / float64(b.N)
}
