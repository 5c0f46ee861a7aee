package chain

import (
	"crypto/ed25519"
	"math/rand/v2"
	"testing"
)

// TestJobEscrowExactUnderRandomWorkload drives jobs through a random mix of
// honest, lying, silent and late workers, over-priced and malformed
// submissions, and checks the credit books after every block: Σ (credits
// + escrowed) over all accounts is the genesis supply, every account's
// escrow is what its open jobs hold, and a closed job holds nothing. At
// the end every job has closed and all escrow is back or paid.
func TestJobEscrowExactUnderRandomWorkload(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		f := newJobFixture(t, 8, func(g *GenesisState) {
			g.Params.Jobs.CommitBlocks = 4
			g.Params.Jobs.RevealBlocks = 3
			g.Accounts = append(g.Accounts, GenesisAccount{Address: addrOf(testKey(1)), Credits: 50_000})
		})
		bob := testKey(1)
		f.mustOK(f.block(f.sign(bob, f.receipted(bob, &PlaceFile{FileID: Hash{0xb0}, Size: 100, K: 1, M: 0,
			Pieces: []Piece{piece(0, 0, addrOf(f.workers[1]), 100)}}))))
		modules := map[Address]Hash{addrOf(f.alice): f.module, addrOf(bob): {0xb0}}
		rng := rand.New(rand.NewPCG(seed, 99))
		type slot struct {
			job Hash
			w   Address
		}
		committed := map[slot]JobResult{}
		var jobs []Hash
		for range 120 {
			var txs [][]byte
			if rng.IntN(3) == 0 {
				k := []ed25519.PrivateKey{f.alice, bob}[rng.IntN(2)]
				r := []uint32{1, 3, 5}[rng.IntN(3)]
				b := &SubmitJob{Module: modules[addrOf(k)], FuelLimit: 1 + rng.Uint64N(2_000_000_000), MemoryLimit: 1 << 16, Replicas: r, Quorum: r/2 + 1, Price: 1 + rng.Uint64N(20)}
				tx, id := f.submitTx(k, b)
				txs = append(txs, tx)
				jobs = append(jobs, id)
			}
			for _, w := range f.workers {
				var page Page[JobView]
				if err := f.query(QueryAssignments+addrOf(w).String(), &page); err != nil {
					t.Fatal(err)
				}
				for _, j := range page.Items {
					a := j.AssignmentOf(addrOf(w))
					key := slot{j.ID, addrOf(w)}
					switch {
					case j.CommitOpen && !a.committed() && rng.IntN(5) != 0:
						res := honest()
						res.FuelUsed = j.FuelLimit * 7 / 10 // not a multiple of PriceUnitFuel: pay rounds up
						if rng.IntN(4) == 0 {
							res.OutputHash = Hash{byte(rng.IntN(2) + 1)} // liars, some colluding
						}
						committed[key] = res
						txs = append(txs, f.commitTx(w, j.ID, res))
					case j.RevealOpen && a.committed() && !a.Revealed && rng.IntN(5) != 0:
						txs = append(txs, f.revealTx(w, j.ID, committed[key]))
					}
				}
			}
			f.block(txs...) // some txs fail (no credits, a phase that closed): the books must hold anyway
			f.checkBooks()
		}
		for range 40 {
			f.block()
		}
		f.checkBooks()
		closed, accepted := 0, 0
		for _, id := range jobs {
			var v JobView
			if err := f.query(QueryJob+id.String(), &v); err != nil {
				continue // rejected at submission
			}
			if v.ClosedHeight == 0 || v.Escrow != 0 {
				t.Fatalf("seed %d: job %s still open after the drain: %+v", seed, id, v)
			}
			closed++
			if v.Phase == JobAccepted {
				accepted++
			}
		}
		if closed < 10 || accepted == 0 || accepted == closed {
			t.Fatalf("seed %d: %d jobs closed, %d accepted: the workload does not exercise both ends", seed, closed, accepted)
		}
		t.Logf("seed %d: %d jobs, %d accepted", seed, closed, accepted)
	}
}
