package chain

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/coop-network/coop/proofs"
)

// The proof a holder sends each epoch, and the work of checking it, depend
// on c and the pieces' tree heights, not on how many bytes the holder
// stores (docs/proofs.md, Measured figures). These tests and the
// benchmarks in bench_prove_test.go show it on the real App with synthetic
// holders: every piece of a holder has the same content (one Merkle tree,
// built once, answers every challenge), each under its own piece id.

// synthPieceSize is the default piece size: a 64 MiB segment, K = 4.
const synthPieceSize = 16 << 20

// synthTree is the tree of the one synthetic piece content of a size,
// built once per process.
type synthTree struct {
	data []byte
	tree *proofs.Tree
	root Hash
}

var (
	synthMu    sync.Mutex
	synthTrees = map[int]*synthTree{}
)

// synthContent returns the synthetic piece of size bytes (ChaCha8 bytes
// from a fixed seed) and its tree.
func synthContent(t testing.TB, size int) *synthTree {
	t.Helper()
	synthMu.Lock()
	defer synthMu.Unlock()
	if s, ok := synthTrees[size]; ok {
		return s
	}
	var seed [32]byte
	binary.BigEndian.PutUint64(seed[:], uint64(size))
	data := make([]byte, size)
	_, _ = rand.NewChaCha8(seed).Read(data)
	tree, err := proofs.BuildTree(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	s := &synthTree{data: data, tree: tree, root: Hash(proofs.Root(data))}
	synthTrees[size] = s
	return s
}

// synthLedger is a ledger whose holder hank holds pieces synthetic pieces
// of pieceSize bytes, placed by alice through PlaceFile transactions (K = 1,
// M = 0, up to synthPiecesPerFile one-piece segments per file). Epochs are
// long, so the proof lands in the epoch it answers.
type synthLedger struct {
	*testLedger
	alice, hank ed25519.PrivateKey
	content     *synthTree
	pieceSize   int
	pieces      int
}

// synthPiecesPerFile keeps each PlaceFile well under Params.MaxTxBytes
// (about 150 bytes per piece).
const synthPiecesPerFile = 512

func newSynthLedger(t testing.TB, pieces, pieceSize int) *synthLedger {
	t.Helper()
	s := &synthLedger{alice: testKey(0), hank: testKey(11), pieceSize: pieceSize, pieces: pieces, content: synthContent(t, pieceSize)}
	g := testGenesis(s.alice)
	g.Params.EpochLength = 1 << 20
	g.Params.Allowance = 1 << 50
	s.testLedger = newTestLedgerGenesis(t, "", g)
	if r := s.block(s.sign(s.hank, registerBody(t, s.hank, 1<<50))); r[0].Code != 0 {
		t.Fatalf("register: %s", r[0].Log)
	}
	hank := addrOf(s.hank)
	leaves := proofs.LeafCount(int64(pieceSize))
	for f := 0; f*synthPiecesPerFile < pieces; f++ {
		n := min(synthPiecesPerFile, pieces-f*synthPiecesPerFile)
		pf := &PlaceFile{FileID: Hash(sha256.Sum256(binary.BigEndian.AppendUint64([]byte("synthetic file"), uint64(f)))), K: 1}
		for i := range n {
			pf.Size += uint64(pieceSize)
			// Every synthetic piece has the same bytes, so the same id.
			id := Hash(proofs.ID(proofs.Hash(s.content.root), uint64(pieceSize)))
			pf.Pieces = append(pf.Pieces, Piece{Segment: uint32(i), Holder: hank, ID: id, Size: uint64(pieceSize), Root: s.content.root, Leaves: leaves})
		}
		if r := s.block(s.sign(s.alice, s.receipted(s.alice, pf))); r[0].Code != 0 {
			t.Fatalf("placing file %d: %s", f, r[0].Log)
		}
	}
	return s
}

// challenges reads hank's current challenges.
func (s *synthLedger) challenges() ChallengeSet {
	s.t.Helper()
	var cs ChallengeSet
	if err := s.query(QueryChallenges+addrOf(s.hank).String(), &cs); err != nil {
		s.t.Fatal(err)
	}
	return cs
}

// proofTx answers cs with proofs from the shared tree, signed by hank.
func (s *synthLedger) proofTx(cs ChallengeSet) (*ProveStorage, []byte) {
	s.t.Helper()
	body := &ProveStorage{Epoch: cs.Epoch, Challenges: ChallengesHash(cs.Challenges)}
	for _, c := range cs.Challenges {
		lo := c.Leaf * proofs.LeafSize
		pr, err := s.content.tree.Prove(c.Leaf, s.content.data[lo:min(lo+proofs.LeafSize, uint64(len(s.content.data)))])
		if err != nil {
			s.t.Fatal(err)
		}
		raw, err := pr.MarshalBinary()
		if err != nil {
			s.t.Fatal(err)
		}
		body.Proofs = append(body.Proofs, raw)
	}
	return body, s.sign(s.hank, body)
}

// verifyWork is the hashing proofs.Verify does for a set of proofs: SHA-256
// invocations and the bytes they hash.
type verifyWork struct {
	hashes, bytes int
}

// countedVerify recomputes what proofs.Verify computes for p (RFC 9162
// §2.1.3.2: the leaf hash, one node hash per path entry, then the
// commitment over the leaf count and the tree root), counting the hashing,
// and returns the commitment it leads to. The caller checks it equals the
// root that proofs.Verify accepted p against, so the count is of the very
// computation Verify does.
func countedVerify(p *proofs.Proof, w *verifyWork) Hash {
	fn, sn := p.Index, p.Leaves-1
	r := proofs.LeafHash(p.Leaf)
	w.hashes++
	w.bytes += 1 + proofs.LeafSize
	for _, h := range p.Path {
		if fn&1 == 1 || fn == sn {
			r = proofs.NodeHash(h, r)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			r = proofs.NodeHash(r, h)
		}
		w.hashes++
		w.bytes += 1 + 2*proofs.HashSize
		fn >>= 1
		sn >>= 1
	}
	var buf [1 + 8 + proofs.HashSize]byte
	buf[0] = 0x02 // the commitment's domain byte (proofs/merkle.go)
	binary.BigEndian.PutUint64(buf[1:], p.Leaves)
	copy(buf[9:], r[:])
	w.hashes++
	w.bytes += len(buf)
	return sha256.Sum256(buf[:])
}

// proveMeasured is what one holder's epoch cost: its ProveStorage tx and
// the verification work of its proofs.
type proveMeasured struct {
	txBytes, proofBytes int
	pathLens            []int
	work                verifyWork
	heldBytes           uint64
}

// proveOnce has the synthetic holder prove its current challenges through
// CheckTx and FinalizeBlock, checks it is recorded proved, and measures the
// tx and the verification work of its proofs.
func (s *synthLedger) proveOnce(t *testing.T) proveMeasured {
	t.Helper()
	cs := s.challenges()
	if len(cs.Challenges) != ChallengesPerEpoch || cs.Pieces != uint64(s.pieces) {
		t.Fatalf("%d challenges over %d pieces, want %d over %d", len(cs.Challenges), cs.Pieces, ChallengesPerEpoch, s.pieces)
	}
	body, tx := s.proofTx(cs)
	if c := s.check(tx); c.Code != 0 {
		t.Fatalf("CheckTx: %d %s", c.Code, c.Log)
	}
	r := s.block(tx)
	if r[0].Code != 0 || eventOutcome(r[0]) != OutcomeProved {
		t.Fatalf("ProveStorage: code %d outcome %q: %s", r[0].Code, eventOutcome(r[0]), r[0].Log)
	}
	m := proveMeasured{txBytes: len(tx), heldBytes: cs.Bytes}
	for i, raw := range body.Proofs {
		m.proofBytes += len(raw)
		p, err := proofs.DecodeProof(raw)
		if err != nil {
			t.Fatal(err)
		}
		if err := proofs.Verify(proofs.Hash(s.content.root), p); err != nil {
			t.Fatalf("proof %d: %v", i, err)
		}
		if got := countedVerify(p, &m.work); got != s.content.root {
			t.Fatalf("proof %d: the counted verification reaches %s, Verify accepted it against %s", i, got, s.content.root)
		}
		m.pathLens = append(m.pathLens, len(p.Path))
	}
	return m
}

// TestProofCostDoesNotGrowWithHeldBytes: a holder of 1 GiB (64 pieces of
// 16 MiB) and one of 64 GiB (4,096 pieces) send ProveStorage transactions
// of the same size (within a few bytes of CBOR integers), and checking
// their proofs hashes exactly as much: path length depends on the piece's
// leaf count, equal for equal piece sizes, not on the holder's total.
func TestProofCostDoesNotGrowWithHeldBytes(t *testing.T) {
	small := newSynthLedger(t, 64, synthPieceSize).proveOnce(t)
	large := newSynthLedger(t, 4096, synthPieceSize).proveOnce(t)
	if small.heldBytes != 1<<30 || large.heldBytes != 64<<30 {
		t.Fatalf("held %d and %d bytes, want 1 GiB and 64 GiB", small.heldBytes, large.heldBytes)
	}
	h := proofs.PathLen(0, proofs.LeafCount(synthPieceSize))
	for _, m := range []proveMeasured{small, large} {
		for i, l := range m.pathLens {
			if l != h {
				t.Fatalf("proof %d has a path of %d, want the tree height %d", i, l, h)
			}
		}
		if want := ChallengesPerEpoch * (18 + proofs.LeafSize + h*proofs.HashSize); m.proofBytes != want {
			t.Fatalf("%d bytes of proofs, want %d", m.proofBytes, want)
		}
	}
	// The txs differ only in CBOR integers (epoch, nonce): a few bytes.
	const slack = 16
	if d := large.txBytes - small.txBytes; d < -slack || d > slack {
		t.Fatalf("ProveStorage of 64 GiB is %d bytes, of 1 GiB %d: differ by more than %d", large.txBytes, small.txBytes, slack)
	}
	if small.work != large.work {
		t.Fatalf("verification work %+v (1 GiB) vs %+v (64 GiB)", small.work, large.work)
	}
	if want := (verifyWork{ChallengesPerEpoch * (h + 2), ChallengesPerEpoch * (1 + proofs.LeafSize + h*(1+2*proofs.HashSize) + 41)}); small.work != want {
		t.Fatalf("verification work %+v, want %+v", small.work, want)
	}
	t.Logf("1 GiB holder: tx %d B, proofs %d B, verify %d hashes over %d B", small.txBytes, small.proofBytes, small.work.hashes, small.work.bytes)
	t.Logf("64 GiB holder: tx %d B, proofs %d B, verify %d hashes over %d B", large.txBytes, large.proofBytes, large.work.hashes, large.work.bytes)
}

// TestProofChainBytesPerEpoch: what one proving holder adds to the chain
// per epoch, its ProveStorage tx and its outcome record (key and value,
// with the largest epoch and height integers the figures assume), stays
// under the 16 KiB target; the log line is docs/proofs.md's Measured
// figures arithmetic.
func TestProofChainBytesPerEpoch(t *testing.T) {
	s := newSynthLedger(t, 1, synthPieceSize)
	_, raw := s.proofTx(s.challenges())
	rec, err := Marshal(&EpochOutcome{Epoch: 1 << 20, Holder: addrOf(s.hank), Outcome: OutcomeProved, Height: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	key := proofKey(1<<20, addrOf(s.hank))
	const epochsPerDay = 24 // one-hour epochs
	perEpoch := len(raw) + len(key) + len(rec)
	t.Logf("tx %d B + outcome record %d B (key %d + value %d) = %d B per holder per epoch; %d B per holder per day at 1 h epochs",
		len(raw), len(key)+len(rec), len(key), len(rec), perEpoch, perEpoch*epochsPerDay)
	if perEpoch > 16<<10 {
		t.Fatalf("%d B per holder per epoch, over 16 KiB", perEpoch)
	}
}
