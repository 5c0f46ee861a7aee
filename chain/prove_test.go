package chain

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/coop-network/coop/proofs"
)

// proveLedger is a ledger with 4-block epochs whose placements carry real
// pieces (random bytes, their true roots), so holders can make real proofs.
type proveLedger struct {
	*testLedger
	alice, hank, henry, carol ed25519.PrivateKey
	data                      map[Hash][]byte // piece id → bytes
	rng                       *rand.Rand
	epochLength               uint64
}

func newProveLedger(t testing.TB, window, epochLength uint64) *proveLedger {
	t.Helper()
	p := &proveLedger{epochLength: epochLength, alice: testKey(0), hank: testKey(11), henry: testKey(12), carol: testKey(2), data: map[Hash][]byte{}, rng: rand.New(rand.NewPCG(1, 2))}
	g := testGenesis(p.alice)
	g.Params.EpochLength = epochLength
	g.Params.UptimeWindow = window
	g.Params.UptimeMinPercent = 70
	g.Params.Allowance = 1 << 30
	p.testLedger = newTestLedgerGenesis(t, "", g)
	for i, r := range p.block(
		p.sign(p.hank, registerBody(t, p.hank, 1<<30)),
		p.sign(p.henry, registerBody(t, p.henry, 1<<30)),
	) {
		if r.Code != 0 {
			t.Fatalf("register %d: %s", i, r.Log)
		}
	}
	return p
}

// placeTx is owner's K=1, M=0 placement of file id with one real piece of
// each size on holder, receipted.
func (p *proveLedger) placeTx(owner ed25519.PrivateKey, id Hash, holder Address, sizes ...int) []byte {
	pf := &PlaceFile{FileID: id, K: 1}
	for i, size := range sizes {
		b := make([]byte, size)
		for j := range b {
			b[j] = byte(p.rng.Uint32())
		}
		pid := Hash(proofs.IDOf(b))
		p.data[pid] = b
		pf.Size += uint64(size)
		pf.Pieces = append(pf.Pieces, Piece{Segment: uint32(i), Holder: holder, ID: pid, Size: uint64(size), Root: Hash(proofs.Root(b)), Leaves: proofs.LeafCount(int64(size))})
	}
	return p.sign(owner, p.receipted(owner, pf))
}

// challenges reads holder's current challenges from the committed state.
func (p *proveLedger) challenges(holder Address) ChallengeSet {
	p.t.Helper()
	var cs ChallengeSet
	if err := p.query(QueryChallenges+holder.String(), &cs); err != nil {
		p.t.Fatal(err)
	}
	return cs
}

// proofsFor answers cs with real proofs; the proof at wrong (if ≥ 0) gets
// one leaf byte flipped.
func (p *proveLedger) proofsFor(cs ChallengeSet, wrong int) *ProveStorage {
	p.t.Helper()
	body := &ProveStorage{Epoch: cs.Epoch, Challenges: ChallengesHash(cs.Challenges)}
	for i, c := range cs.Challenges {
		b, ok := p.data[c.Piece]
		if !ok {
			p.t.Fatalf("no bytes for piece %s", c.Piece)
		}
		tree, err := proofs.BuildTree(bytes.NewReader(b))
		if err != nil {
			p.t.Fatal(err)
		}
		lo := c.Leaf * proofs.LeafSize
		pr, err := tree.Prove(c.Leaf, b[lo:min(lo+proofs.LeafSize, uint64(len(b)))])
		if err != nil {
			p.t.Fatal(err)
		}
		if i == wrong {
			pr.Leaf[0] ^= 1
		}
		raw, err := pr.MarshalBinary()
		if err != nil {
			p.t.Fatal(err)
		}
		body.Proofs = append(body.Proofs, raw)
	}
	return body
}

// prove is holder k's ProveStorage for its current challenges.
func (p *proveLedger) prove(k ed25519.PrivateKey, wrong int) []byte {
	return p.sign(k, p.proofsFor(p.challenges(addrOf(k)), wrong))
}

// run checks each tx with CheckTx (in order, as the mempool admits them),
// finalizes them in one block and checks both agree with want.
func (p *proveLedger) run(t *testing.T, txs [][]byte, want ...Code) []*abci.ExecTxResult {
	t.Helper()
	for i, tx := range txs {
		if c := p.check(tx); Code(c.Code) != want[i] {
			t.Fatalf("height %d tx %d: CheckTx code %d (%s), want %d", p.height+1, i, c.Code, c.Log, want[i])
		}
	}
	res := p.block(txs...)
	for i, r := range res {
		if Code(r.Code) != want[i] {
			t.Fatalf("height %d tx %d: code %d (%s), want %d", p.height, i, r.Code, r.Log, want[i])
		}
	}
	return res
}

// toEpoch finalizes empty blocks until the next block is epoch n's first.
func (p *proveLedger) toEpoch(n uint64) {
	for uint64(p.height)/p.epochLength < n {
		p.block()
	}
}

func (p *proveLedger) outcome(epoch uint64, holder Address) (EpochOutcome, bool) {
	p.t.Helper()
	var o EpochOutcome
	err := p.query(fmt.Sprintf("%s%d/%s", QueryOutcome, epoch, holder), &o)
	if err != nil {
		if !strings.Contains(err.Error(), ErrNotFound.Error()) {
			p.t.Fatal(err)
		}
		return o, false
	}
	return o, true
}

func (p *proveLedger) node(a Address) Node {
	p.t.Helper()
	var n Node
	if err := p.query(QueryNode+a.String(), &n); err != nil {
		p.t.Fatal(err)
	}
	return n
}

func eventOutcome(r *abci.ExecTxResult) string {
	for _, e := range r.Events {
		for _, a := range e.Attributes {
			if a.Key == "outcome" {
				return a.Value
			}
		}
	}
	return ""
}

// runUptime has hank hold alice's pieces from epoch 0 and prove in the
// epochs where proves[e] is true (never in the others), and checks after
// each epoch's settlement the outcome, the counters, the uptime window and
// whether hank's earned quota is usable.
func runUptime(t *testing.T, window uint64, proves []bool) {
	p := newProveLedger(t, window, 4)
	hank := addrOf(p.hank)
	p.run(t, [][]byte{p.placeTx(p.alice, Hash{0xa1}, hank, 3000, 5000)}, 0)
	earned := uint64(8000)
	var wantUptime []bool
	var passed uint64
	for e, ok := range proves {
		epoch := uint64(e)
		if ok { // in epoch e, after its first block (which settled e − 1)
			r := p.run(t, [][]byte{p.prove(p.hank, -1)}, 0)
			if got := eventOutcome(r[0]); got != OutcomeProved {
				t.Fatalf("epoch %d: event outcome %q", epoch, got)
			}
			passed++
		}
		p.toEpoch(epoch + 1)
		if p.height+1 != int64((epoch+1)*p.epochLength+1) {
			t.Fatalf("next height %d is not epoch %d's first", p.height+1, epoch+1)
		}
		p.block() // epoch e+1's first block settles epoch e
		want := OutcomeMissing
		if ok {
			want = OutcomeProved
		}
		o, found := p.outcome(epoch, hank)
		if !found || o.Outcome != want || o.Holder != hank || o.Epoch != epoch {
			t.Fatalf("epoch %d: outcome %+v (found %v), want %s", epoch, o, found, want)
		}
		wantUptime = appendUptime(wantUptime, ok, window)
		n := p.node(hank)
		if !slices.Equal(n.Uptime, wantUptime) || n.ProofsPassed != passed || n.ProofsFailed != 0 {
			t.Fatalf("after epoch %d: uptime %v passed %d failed %d, want %v %d 0", epoch, n.Uptime, n.ProofsPassed, n.ProofsFailed, wantUptime, passed)
		}
		up := 0
		for _, u := range wantUptime {
			if u {
				up++
			}
		}
		wantLimit := p.app.params.Allowance
		if up*100 >= 70*len(wantUptime) {
			wantLimit += earned
		}
		if v := p.account(hank); v.QuotaEarned != earned || v.QuotaLimit != wantLimit {
			t.Fatalf("after epoch %d (uptime %v): earned %d limit %d, want %d %d", epoch, wantUptime, v.QuotaEarned, v.QuotaLimit, earned, wantLimit)
		}
		t.Logf("after epoch %d: %s, uptime %v, limit %d", epoch, want, n.Uptime, wantLimit)
	}
}

// (a) An honest holder proves every epoch: proved each epoch, ProofsPassed
// counts them, uptime is all true (and trimmed to W), earned quota usable.
func TestHonestHolderProvesEveryEpoch(t *testing.T) {
	runUptime(t, 4, []bool{true, true, true, true, true, true})
}

// (c) A holder that stops proving is recorded missing at the next epoch's
// first block, its uptime falls, below 70 % of W its limit drops to the
// allowance, and it comes back after proving again for enough epochs.
func TestMissingProofsWithholdEarnedQuota(t *testing.T) {
	runUptime(t, 4, []bool{true, false, false, true, true, true, true})
}

// (b) A holder that answers one leaf wrongly is recorded invalid (a fault):
// the tx succeeds, ProofsFailed counts it, its uptime entry is false.
func TestWrongAnswerIsInvalid(t *testing.T) {
	p := newProveLedger(t, 10, 4)
	hank := addrOf(p.hank)
	// Two files: the wrongly answered piece is marked lost, and hank must
	// still hold something to prove in epoch 1.
	p.run(t, [][]byte{p.placeTx(p.alice, Hash{0xb1}, hank, 4096, 100), p.placeTx(p.alice, Hash{0xb2}, hank, 4096, 100)}, 0, 0)
	r := p.run(t, [][]byte{p.prove(p.hank, 3)}, 0)
	if got := eventOutcome(r[0]); got != OutcomeInvalid {
		t.Fatalf("event outcome %q", got)
	}
	if o, found := p.outcome(0, hank); !found || o.Outcome != OutcomeInvalid || o.Height != p.height {
		t.Fatalf("outcome %+v %v", o, found)
	}
	// A proof that does not decode is a wrong answer too (epoch 1).
	p.toEpoch(1)
	p.block()
	body := p.proofsFor(p.challenges(hank), -1)
	body.Proofs[0] = []byte("not a proof")
	p.run(t, [][]byte{p.sign(p.hank, body)}, 0)
	if o, _ := p.outcome(1, hank); o.Outcome != OutcomeInvalid {
		t.Fatalf("epoch 1 outcome %+v", o)
	}
	p.toEpoch(2)
	p.block()
	if n := p.node(hank); n.ProofsFailed != 2 || n.ProofsPassed != 0 || !slices.Equal(n.Uptime, []bool{false, false}) {
		t.Fatalf("node %+v", n)
	}
}

// (d), (e) The refusals, each recording nothing, with CheckTx and
// FinalizeBlock agreeing on every code.
func TestProveStorageRefusals(t *testing.T) {
	p := newProveLedger(t, 10, 16)
	hank, henry, carol := addrOf(p.hank), addrOf(p.henry), addrOf(p.carol)
	p.run(t, [][]byte{p.placeTx(p.alice, Hash{0xc1}, hank, 3000, 2048)}, 0)

	cs := p.challenges(hank)
	good := p.proofsFor(cs, -1)
	// Not a node; a node holding nothing; early; wrong number of proofs.
	early := *good
	early.Epoch = 1
	short := *good
	short.Proofs = good.Proofs[:len(good.Proofs)-1]
	// (One refused tx of a signer per block: CheckTx does not admit it, so
	// its nonce stays unspent in the mempool's view.)
	p.run(t, [][]byte{
		p.sign(p.carol, good),
		p.sign(p.henry, good), // henry holds nothing: nothing to prove
		p.sign(p.hank, &early),
	}, CodeHolderNotRegistered, CodeInvalid, CodeProofLate)
	p.run(t, [][]byte{p.sign(p.hank, &short)}, CodeInvalid)
	for _, a := range []Address{hank, henry, carol} {
		if o, found := p.outcome(0, a); found {
			t.Fatalf("%s: refused proofs recorded %+v", a, o)
		}
	}

	// Stale: a placement on hank lands before his proof in the same block.
	p.run(t, [][]byte{
		p.placeTx(p.alice, Hash{0xc2}, hank, 1500),
		p.sign(p.hank, good),
	}, 0, CodeStaleChallenges)
	if _, found := p.outcome(0, hank); found {
		t.Fatal("a stale proof recorded an outcome")
	}
	if n := p.node(hank); n.ProofsPassed != 0 || n.ProofsFailed != 0 {
		t.Fatalf("stale proof counted: %+v", n)
	}

	// Henry holds something now: hank's challenges and proofs, signed by
	// henry, are not henry's challenges; and nothing is recorded for hank.
	p.run(t, [][]byte{p.placeTx(p.alice, Hash{0xc3}, henry, 2000)}, 0)
	theft := p.proofsFor(p.challenges(hank), -1)
	p.run(t, [][]byte{p.sign(p.henry, theft)}, CodeStaleChallenges)
	for _, a := range []Address{hank, henry} {
		if o, found := p.outcome(0, a); found {
			t.Fatalf("%s: a foreign proof recorded %+v", a, o)
		}
	}

	// Hank proves (block 1 of the epoch's remaining ones), then replays.
	if uint64(p.height+1-1)/p.epochLength != 0 {
		t.Fatalf("test ran past epoch 0 (height %d)", p.height)
	}
	proof := p.prove(p.hank, -1)
	again := p.sign(p.hank, p.proofsFor(p.challenges(hank), -1))
	p.run(t, [][]byte{proof, again}, 0, CodeExists)
	if n := p.node(hank); n.ProofsPassed != 1 {
		t.Fatalf("replay counted: %+v", n)
	}

	// Late: epoch 0's proof in epoch 1.
	p.toEpoch(1)
	p.block()
	late := p.proofsFor(p.challenges(hank), -1)
	late.Epoch = 0
	res := p.run(t, [][]byte{p.sign(p.hank, late)}, CodeProofLate)
	if !strings.Contains(res[0].Log, "proof for epoch 0 arrived in epoch 1") {
		t.Fatalf("log %q", res[0].Log)
	}
	if _, found := p.outcome(1, hank); found {
		t.Fatal("a late proof recorded an outcome")
	}
	if o, _ := p.outcome(0, hank); o.Outcome != OutcomeProved {
		t.Fatalf("epoch 0: %+v", o)
	}
	// Henry was given his first pieces during epoch 0: he owed no proof
	// for it (Node.ProveFrom), so nothing is recorded…
	if o, found := p.outcome(0, henry); found {
		t.Fatalf("henry, given his first pieces in epoch 0, recorded for it: %+v", o)
	}
	// …but he owes one for epoch 1, and without it he is missing.
	p.toEpoch(2)
	p.block()
	if o, _ := p.outcome(1, henry); o.Outcome != OutcomeMissing {
		t.Fatalf("henry epoch 1: %+v", o)
	}
}

// (f) A node holding nothing is not measured: no outcome, no uptime
// entries, and it keeps counting as up.
func TestNodeHoldingNothingIsNotMeasured(t *testing.T) {
	p := newProveLedger(t, 10, 4)
	henry := addrOf(p.henry)
	p.toEpoch(4)
	p.block()
	for e := range uint64(4) {
		if o, found := p.outcome(e, henry); found {
			t.Fatalf("epoch %d: %+v", e, o)
		}
	}
	if n := p.node(henry); len(n.Uptime) != 0 {
		t.Fatalf("uptime %v", n.Uptime)
	}
}

func TestOutcomeQueryPaths(t *testing.T) {
	p := newProveLedger(t, 10, 4)
	for _, path := range []string{QueryOutcome + "0", QueryOutcome + "x/" + addrOf(p.hank).String(), QueryOutcome + "0/nope"} {
		if res := p.queryAt(path, nil, 0); Code(res.Code) != CodeInvalid {
			t.Fatalf("%s: code %d %s", path, res.Code, res.Log)
		}
	}
	if res := p.queryAt(QueryOutcome+"0/"+addrOf(p.hank).String(), nil, 0); Code(res.Code) != CodeNotFound {
		t.Fatalf("code %d %s", res.Code, res.Log)
	}
}

// BenchmarkProveStorage measures executing one honest ProveStorage of
// ChallengesPerEpoch proofs against the committed state (on an overlay, so
// every iteration judges afresh): "rule" with the tx already decoded and
// its signature verified (CheckTx's cache, as in FinalizeBlock), "full"
// from the raw bytes. The holder holds one piece of the named size.
func BenchmarkProveStorage(b *testing.B) {
	for _, size := range []int{1 << 20, 16 << 20} {
		b.Run(fmt.Sprintf("piece=%dMiB", size>>20), func(b *testing.B) {
			p := newProveLedger(b, 10, 1<<20)
			if r := p.block(p.placeTx(p.alice, Hash{0xbe}, addrOf(p.hank), size)); r[0].Code != 0 {
				b.Fatal(r[0].Log)
			}
			raw := p.prove(p.hank, -1)
			st := p.app.committed()
			params := p.app.params
			for _, c := range []struct {
				name  string
				cache *verifiedCache
			}{{"rule", &verifiedCache{}}, {"full", nil}} {
				b.Run(c.name, func(b *testing.B) {
					if c.cache != nil {
						if _, err := execute(newOverlay(st), testChainID, params, p.height+1, c.cache, raw); err != nil {
							b.Fatal(err)
						}
					}
					b.ResetTimer()
					for range b.N {
						auth, err := execute(newOverlay(st), testChainID, params, p.height+1, c.cache, raw)
						if err != nil || auth.outcome != OutcomeProved {
							b.Fatalf("%v %+v", err, auth)
						}
					}
					b.ReportMetric(float64(len(raw)), "tx-bytes")
				})
			}
		})
	}
}
