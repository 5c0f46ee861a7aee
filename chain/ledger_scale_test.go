package chain

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/coop-network/coop/proofs"
)

// scaleSpec is the shape of a ledger state built through the real app.
type scaleSpec struct {
	nodes, pieces int
}

// Each scale file is scaleSegments segments of k=4, m=2 pieces of 1 MiB,
// all on the same 6 holders (one receipt each), placed by one of
// scaleOwners accounts; scalePerBlock place_file txs per block.
const (
	scaleSegments = 4
	scaleK        = 4
	scaleM        = 2
	scaleWidth    = scaleK + scaleM
	scalePieces   = scaleSegments * scaleWidth // pieces per file
	scalePieceLen = 1 << 20
	scaleOwners   = 20
	scalePerBlock = 500
	scaleRegBlock = 2000
)

// scaleLedger is a ledger on disk built by buildScaleLedger, with the keys
// that made it.
type scaleLedger struct {
	*testLedger
	dir    string
	spec   scaleSpec
	nodes  []ed25519.PrivateKey
	byAddr map[Address]ed25519.PrivateKey
	owners []ed25519.PrivateKey
	files  []Hash
	build  time.Duration
}

// scaleNodeKey is the key of scale node i (distinct from testKey's).
func scaleNodeKey(i int) ed25519.PrivateKey { return testKey(1_000_000 + i) }

// scaleOwnerKey is the key of scale owner i.
func scaleOwnerKey(i int) ed25519.PrivateKey { return testKey(2_000_000 + i) }

// scaleFile is the place_file of file f as a client makes it: ids bound to
// their (distinct, made-up) commitments, 6 holders by rotation over the
// nodes, one receipt per holder expiring at expires.
func (s *scaleLedger) scaleFile(f int, owner Address, expires int64) *PlaceFile {
	id := sha256.Sum256(binary.BigEndian.AppendUint64([]byte("coop/scale/file"), uint64(f)))
	pf := &PlaceFile{FileID: id, Size: scaleSegments * scaleK * scalePieceLen, K: scaleK, M: scaleM}
	base := (f * scaleWidth) % len(s.nodes)
	for seg := range uint32(scaleSegments) {
		for idx := range uint32(scaleWidth) {
			h := addrOf(s.nodes[(base+int(idx))%len(s.nodes)])
			root := sha256.Sum256(binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(id[:], seg), idx))
			pf.Pieces = append(pf.Pieces, Piece{Segment: seg, Index: idx, Holder: h,
				ID: Hash(proofs.ID(proofs.Hash(root), scalePieceLen)), Size: scalePieceLen, Root: root, Leaves: leafCount(scalePieceLen)})
		}
	}
	for _, h := range pieceHolders(pf.Pieces) {
		pf.Receipts = append(pf.Receipts, SignReceipt(s.byAddr[h], testChainID, pf.FileID, owner, expires, receiptPieces(pf.Pieces, h)))
	}
	return pf
}

// scaleEpochLength is the epoch length of a scale ledger: its first epoch
// holds the build, the typical blocks and the snapshot's block, so no
// epoch boundary falls among them.
func scaleEpochLength(nodes, files int) int {
	build := (nodes+scaleRegBlock-1)/scaleRegBlock + (files+scalePerBlock-1)/scalePerBlock
	return build + scaleRounds + 5
}

// scaleRounds is how many typical blocks TestLedgerScale times.
const scaleRounds = 5

// buildScaleLedger builds, in dir, a state of spec.nodes registered nodes
// and spec.pieces held pieces (rounded up to whole files) the way a
// network makes it: register_node and place_file txs, signed with their
// receipts, executed by FinalizeBlock and Commit in big blocks. The
// genesis epoch is longer than the build and the measurements after it
// (scaleEpochLength), so no epoch boundary falls among them (the second
// one records every holder's proof missing: nobody proves here);
// snapshots are off until asked for.
func buildScaleLedger(t *testing.T, dir string, spec scaleSpec) *scaleLedger {
	t.Helper()
	start := time.Now()
	s := &scaleLedger{dir: dir, spec: spec, byAddr: map[Address]ed25519.PrivateKey{}}
	for i := range spec.nodes {
		k := scaleNodeKey(i)
		s.nodes = append(s.nodes, k)
		s.byAddr[addrOf(k)] = k
	}
	for i := range scaleOwners {
		s.owners = append(s.owners, scaleOwnerKey(i))
	}
	g := testGenesis(s.owners...)
	g.Params.Allowance = 1 << 50
	files := (spec.pieces + scalePieces - 1) / scalePieces
	g.Params.EpochLength = uint64(scaleEpochLength(spec.nodes, files))
	cfg := DefaultConfig(dir)
	cfg.SnapshotInterval = 0
	s.testLedger = newTestLedgerConfig(t, cfg, g)

	for b := 0; b < spec.nodes; b += scaleRegBlock {
		var txs [][]byte
		for _, k := range s.nodes[b:min(b+scaleRegBlock, spec.nodes)] {
			txs = append(txs, s.sign(k, registerBody(t, k, 1<<40)))
		}
		s.mustBlock(txs)
	}
	for b := 0; b < files; b += scalePerBlock {
		var txs [][]byte
		for f := b; f < min(b+scalePerBlock, files); f++ {
			o := s.owners[f%scaleOwners]
			pf := s.scaleFile(f, addrOf(o), s.height+10)
			s.files = append(s.files, pf.FileID)
			txs = append(txs, s.sign(o, pf))
		}
		s.mustBlock(txs)
	}
	s.build = time.Since(start)
	return s
}

// mustBlock executes txs in one block and fails on any rejected one.
func (s *scaleLedger) mustBlock(txs [][]byte) time.Duration {
	s.t.Helper()
	start := time.Now()
	res := s.block(txs...)
	took := time.Since(start)
	for i, r := range res {
		if r.Code != 0 {
			s.t.Fatalf("block %d tx %d: code %d %s", s.height, i, r.Code, r.Log)
		}
	}
	return took
}

// scaleQuery is one query kind measured by TestLedgerScale.
type scaleQuery struct {
	name string
	// req makes the request of round i.
	req func(s *scaleLedger, r *rand.Rand) *abci.QueryRequest
}

var scaleQueries = []scaleQuery{
	{"account", func(s *scaleLedger, r *rand.Rand) *abci.QueryRequest {
		return &abci.QueryRequest{Path: QueryAccount + s.randNode(r).String()}
	}},
	{"account/prove", func(s *scaleLedger, r *rand.Rand) *abci.QueryRequest {
		return &abci.QueryRequest{Path: QueryStore, Data: AccountKey(s.randNode(r)), Prove: true}
	}},
	{"node", func(s *scaleLedger, r *rand.Rand) *abci.QueryRequest {
		return &abci.QueryRequest{Path: QueryNode + s.randNode(r).String()}
	}},
	{"node/prove", func(s *scaleLedger, r *rand.Rand) *abci.QueryRequest {
		return &abci.QueryRequest{Path: QueryNode + s.randNode(r).String(), Prove: true}
	}},
	{"file", func(s *scaleLedger, r *rand.Rand) *abci.QueryRequest {
		return &abci.QueryRequest{Path: QueryFile + s.files[r.IntN(len(s.files))].String()}
	}},
	{"file/prove", func(s *scaleLedger, r *rand.Rand) *abci.QueryRequest {
		return &abci.QueryRequest{Path: QueryFile + s.files[r.IntN(len(s.files))].String(), Prove: true}
	}},
	{"pieces", func(s *scaleLedger, r *rand.Rand) *abci.QueryRequest {
		return &abci.QueryRequest{Path: QueryPieces + s.randNode(r).String()}
	}},
}

func (s *scaleLedger) randNode(r *rand.Rand) Address { return addrOf(s.nodes[r.IntN(len(s.nodes))]) }

// timeQueries answers n queries of q and returns the time per query. Each
// answer must be code 0 with a value.
func (s *scaleLedger) timeQueries(t *testing.T, q scaleQuery, n int, seed uint64) time.Duration {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	reqs := make([]*abci.QueryRequest, n)
	for i := range reqs {
		reqs[i] = q.req(s, r)
	}
	ctx := context.Background()
	start := time.Now()
	for _, req := range reqs {
		res, err := s.app.Query(ctx, req)
		if err != nil || res.Code != 0 || len(res.Value) == 0 {
			t.Fatalf("%s %s: %v %+v", q.name, req.Path, err, res)
		}
		if req.Prove && (res.ProofOps == nil || len(res.ProofOps.Ops) == 0) {
			t.Fatalf("%s: no proof", q.name)
		}
	}
	return time.Since(start) / time.Duration(n)
}

// timePiecesProved reads a holder's pieces list and then each of its
// records with a proof through /store: what a verifying client pays for a
// list today (lists themselves answer code 7 with prove). It returns the
// time per holder.
func (s *scaleLedger) timePiecesProved(t *testing.T, n int, seed uint64) time.Duration {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 2))
	ctx := context.Background()
	start := time.Now()
	for range n {
		h := s.randNode(r)
		res, err := s.app.Query(ctx, &abci.QueryRequest{Path: QueryPieces + h.String()})
		if err != nil || res.Code != 0 {
			t.Fatalf("pieces: %v %+v", err, res)
		}
		var p Page[HeldPiece]
		if err := Unmarshal(res.Value, &p); err != nil {
			t.Fatal(err)
		}
		for _, hp := range p.Items {
			key := heldKey(h, hp.File, hp.Piece.Segment, hp.Piece.Index)
			pr, err := s.app.Query(ctx, &abci.QueryRequest{Path: QueryStore, Data: key, Prove: true, Height: res.Height})
			if err != nil || pr.Code != 0 || len(pr.Value) == 0 {
				t.Fatalf("held piece with proof: %v %+v", err, pr)
			}
		}
	}
	return time.Since(start) / time.Duration(n)
}

// typicalBlock is a block of everyday txs on top of the state: 100
// transfers between owners, 10 placements (240 pieces) and 10 pledge
// updates, checked by CheckTx first as a node's mempool does. It returns
// its FinalizeBlock and its Commit time.
func (s *scaleLedger) typicalBlock(t *testing.T, round int) (finalize, commit time.Duration) {
	t.Helper()
	var txs [][]byte
	for i := range 100 {
		from := s.owners[i%scaleOwners]
		txs = append(txs, s.sign(from, &Transfer{To: addrOf(s.owners[(i+1)%scaleOwners]), Amount: 1}))
	}
	for i := range 10 {
		f := 1_000_000_000 + round*10 + i
		o := s.owners[i%scaleOwners]
		pf := s.scaleFile(f, addrOf(o), s.height+10)
		txs = append(txs, s.sign(o, pf))
	}
	for i := range 10 {
		k := s.nodes[(round*10+i)%len(s.nodes)]
		p := uint64(1<<40 + round + 1)
		txs = append(txs, s.sign(k, &UpdateNode{Pledge: &p}))
	}
	// As on a node, CheckTx saw them first (so FinalizeBlock does not
	// verify their signatures again).
	for i, tx := range txs {
		if r := s.check(tx); r.Code != 0 {
			t.Fatalf("typical block tx %d: CheckTx code %d %s", i, r.Code, r.Log)
		}
	}
	s.height++
	h := sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(s.height)))
	ctx := context.Background()
	start := time.Now()
	res, err := s.app.FinalizeBlock(ctx, &abci.FinalizeBlockRequest{Height: s.height, Hash: h[:], Txs: txs})
	if err != nil {
		t.Fatal(err)
	}
	finalize = time.Since(start)
	start = time.Now()
	if _, err := s.app.Commit(ctx, &abci.CommitRequest{}); err != nil {
		t.Fatal(err)
	}
	commit = time.Since(start)
	for i, r := range res.TxResults {
		if r.Code != 0 {
			t.Fatalf("typical block tx %d: code %d %s", i, r.Code, r.Log)
		}
	}
	return finalize, commit
}

// dirBytes is the size of the files under dir.
func dirBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		n += fi.Size()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// snapshotAndRestore snapshots the state at the next block and restores it
// into a fresh app on disk, checking the app hash; it returns both times,
// the time of the last chunk's ApplySnapshotChunk (the import's end, its
// commit and iavl's fast-index build over every record), and the
// snapshot.
func (s *scaleLedger) snapshotAndRestore(t *testing.T) (snap, restore, lastChunk time.Duration, info SnapshotInfo) {
	t.Helper()
	done := make(chan SnapshotInfo, 1)
	s.app.cfg.OnSnapshot = func(i SnapshotInfo) { done <- i }
	s.app.cfg.SnapshotInterval = s.height + 1
	start := time.Now()
	s.mustBlock(nil)
	info = <-done
	snap = time.Since(start)
	s.app.cfg.SnapshotInterval = 0
	ctx := context.Background()
	list, err := s.app.ListSnapshots(ctx, &abci.ListSnapshotsRequest{})
	if err != nil || len(list.Snapshots) != 1 {
		t.Fatalf("snapshots %v, %v", list, err)
	}
	_, appHash := appHashOf(t, s.app)
	cfg := DefaultConfig(t.TempDir())
	cfg.Logger = s.app.log
	dst, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	sn := list.Snapshots[0]
	var last time.Time
	start = time.Now()
	if res, err := dst.OfferSnapshot(ctx, &abci.OfferSnapshotRequest{Snapshot: sn, AppHash: appHash}); err != nil || res.Result != abci.OFFER_SNAPSHOT_RESULT_ACCEPT {
		t.Fatalf("offer: %v %v", res, err)
	}
	for i := range sn.Chunks {
		c, err := s.app.LoadSnapshotChunk(ctx, &abci.LoadSnapshotChunkRequest{Height: sn.Height, Format: sn.Format, Chunk: i})
		if err != nil {
			t.Fatal(err)
		}
		if i == sn.Chunks-1 {
			last = time.Now()
		}
		res, err := dst.ApplySnapshotChunk(ctx, &abci.ApplySnapshotChunkRequest{Index: i, Chunk: c.Chunk})
		if err != nil || res.Result != abci.APPLY_SNAPSHOT_CHUNK_RESULT_ACCEPT {
			t.Fatalf("chunk %d: %v %v", i, res, err)
		}
	}
	restore = time.Since(start)
	lastChunk = time.Since(last)
	if _, h := appHashOf(t, dst); !bytes.Equal(h, appHash) {
		t.Fatalf("restored hash %X, want %X", h, appHash)
	}
	return snap, restore, lastChunk, info
}

// epochBoundaries runs empty blocks to the start of epochs 1 and 2 and
// returns the time of an empty block before them and of the two boundary
// blocks: at the first nobody owes a proof yet (every node got its first
// pieces in epoch 0), at the second every holder owed one for epoch 1 and
// sent none, so settleEpoch records it missing and contains it on its
// challenges (computed over all its pieces): the worst epoch boundary.
func (s *scaleLedger) epochBoundaries(t *testing.T) (empty, first, second time.Duration) {
	t.Helper()
	e := int64(scaleEpochLength(len(s.nodes), len(s.files)))
	for s.height+1 < 1+e {
		empty = s.mustBlock(nil)
	}
	first = s.mustBlock(nil)
	for s.height+1 < 1+2*e {
		s.mustBlock(nil)
	}
	second = s.mustBlock(nil)
	var o EpochOutcome
	if err := s.query(fmt.Sprintf("%s1/%s", QueryOutcome, addrOf(s.nodes[0])), &o); err != nil || o.Outcome != OutcomeMissing {
		t.Fatalf("node 0's outcome of epoch 1: %+v, %v; want missing", o, err)
	}
	return empty, first, second
}

// ratioRange formats the range of big/base over rounds.
func ratioRange(big, base []time.Duration) string {
	var rs []float64
	for i := range big {
		rs = append(rs, float64(big[i])/float64(base[i]))
	}
	slices.Sort(rs)
	// The fastest of each side is the least disturbed by other load.
	fastest := float64(slices.Min(big)) / float64(slices.Min(base))
	return fmt.Sprintf("%.2f–%.2f× (fastest %.2f×)", rs[0], rs[len(rs)-1], fastest)
}

// durRange formats the range of ds.
func durRange(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	return fmt.Sprintf("%v–%v", s[0].Round(time.Microsecond), s[len(s)-1].Round(time.Microsecond))
}

// TestLedgerScale builds a ledger of COOP_LEDGER_NODES registered nodes
// and COOP_LEDGER_PIECES held pieces (default 60 and 6,000: the bounded
// form CI runs; docs/ledger.md has the figures for 10,000 and 1,000,000)
// through the real app, and a baseline ledger of 12 nodes holding as many
// pieces each, in the same run. Over a few rounds it measures query
// latency (account, node, file, a holder's pieces list; with and without
// prove), the FinalizeBlock+Commit time of a typical block, and logs them
// with their ratio to the baseline; then the state's size on disk and a
// snapshot's creation and restore (app hash checked); and the blocks at the
// next two epoch boundaries (epochBoundaries). It asserts what the
// state holds (every node registered, every piece held, proofs verify),
// never a time.
func TestLedgerScale(t *testing.T) {
	spec := scaleSpec{nodes: 60, pieces: 6_000}
	for env, p := range map[string]*int{"COOP_LEDGER_NODES": &spec.nodes, "COOP_LEDGER_PIECES": &spec.pieces} {
		if s := os.Getenv(env); s != "" {
			if _, err := fmt.Sscan(s, p); err != nil || *p < 1 {
				t.Fatalf("%s=%q", env, s)
			}
		}
	}
	if spec.nodes < scaleWidth {
		t.Fatalf("COOP_LEDGER_NODES=%d: a file needs %d holders", spec.nodes, scaleWidth)
	}
	perNode := max(spec.pieces/spec.nodes, 1)
	baseSpec := scaleSpec{nodes: 12, pieces: 12 * perNode}

	base := buildScaleLedger(t, t.TempDir(), baseSpec)
	big := buildScaleLedger(t, t.TempDir(), spec)
	t.Logf("built %d nodes, %d files (%d pieces) in %v; baseline %d nodes, %d pieces in %v",
		spec.nodes, len(big.files), len(big.files)*scalePieces, big.build.Round(time.Millisecond),
		baseSpec.nodes, len(base.files)*scalePieces, base.build.Round(time.Millisecond))

	// What the state holds: every node, every piece.
	var nodes []Node
	if err := listAll(big.testLedger, QueryNodes, &nodes); err != nil || len(nodes) != spec.nodes {
		t.Fatalf("%d nodes listed (%v), want %d", len(nodes), err, spec.nodes)
	}
	var used uint64
	for _, n := range nodes {
		used += n.Used
	}
	if want := uint64(len(big.files) * scalePieces * scalePieceLen); used != want {
		t.Fatalf("nodes hold %d bytes, want %d", used, want)
	}
	var held []HeldPiece
	h0 := addrOf(big.nodes[0])
	if err := listAll(big.testLedger, QueryPieces+h0.String(), &held); err != nil || len(held) == 0 {
		t.Fatalf("node 0 holds %d pieces: %v", len(held), err)
	}
	_, appHash := appHashOf(t, big.app)
	fpath := QueryFile + big.files[len(big.files)/2].String()
	pres, err := big.app.Query(context.Background(), &abci.QueryRequest{Path: fpath, Prove: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyQuery(fpath, nil, pres, appHash); err != nil {
		t.Fatalf("proved file: %v", err)
	}

	const rounds, perRound = 3, 200
	for _, q := range scaleQueries {
		var b, s []time.Duration
		for r := range rounds {
			b = append(b, big.timeQueries(t, q, perRound, uint64(r)))
			s = append(s, base.timeQueries(t, q, perRound, uint64(r)))
		}
		t.Logf("query %-14s %s per query; baseline %s; ratio %s", q.name, durRange(b), durRange(s), ratioRange(b, s))
	}
	{
		var b, s []time.Duration
		for r := range rounds {
			b = append(b, big.timePiecesProved(t, 20, uint64(r)))
			s = append(s, base.timePiecesProved(t, 20, uint64(r)))
		}
		t.Logf("query %-14s %s per holder (list + each of ≈%d records proved); baseline %s; ratio %s", "pieces/prove", durRange(b), perNode, durRange(s), ratioRange(b, s))
	}
	{
		var bf, bc, bt, sf, sc, st []time.Duration
		for r := range scaleRounds {
			f, c := big.typicalBlock(t, r)
			bf, bc, bt = append(bf, f), append(bc, c), append(bt, f+c)
			f, c = base.typicalBlock(t, r)
			sf, sc, st = append(sf, f), append(sc, c), append(st, f+c)
		}
		t.Logf("typical block (100 transfers, 10 placements of %d pieces, 10 pledge updates): %s (FinalizeBlock %s, Commit %s); "+
			"baseline %s (%s, %s); ratio %s (%s, %s)", scalePieces, durRange(bt), durRange(bf), durRange(bc),
			durRange(st), durRange(sf), durRange(sc), ratioRange(bt, st), ratioRange(bf, sf), ratioRange(bc, sc))
	}
	bigSize, baseSize := dirBytes(t, big.dir), dirBytes(t, base.dir)
	t.Logf("state on disk: %.1f MB (%d bytes per piece); baseline %.2f MB", float64(bigSize)/1e6, bigSize/int64(len(big.files)*scalePieces), float64(baseSize)/1e6)

	snap, restore, last, info := big.snapshotAndRestore(t)
	bsnap, brestore, _, binfo := base.snapshotAndRestore(t)
	t.Logf("snapshot: %.1f MB in %d chunks, taken in %v, restored in %v (of which the last chunk: %v); baseline %.3f MB, %v, %v",
		float64(info.Bytes)/1e6, info.Chunks, snap.Round(time.Millisecond), restore.Round(time.Millisecond), last.Round(time.Millisecond),
		float64(binfo.Bytes)/1e6, bsnap.Round(time.Millisecond), brestore.Round(time.Millisecond))

	empty, first, second := big.epochBoundaries(t)
	bempty, bfirst, bsecond := base.epochBoundaries(t)
	t.Logf("empty block %v (baseline %v); epoch boundary, nobody owing proofs: %v (baseline %v); "+
		"epoch boundary, every holder's proof missing (%d contained): %v (baseline %v)",
		empty.Round(time.Microsecond), bempty.Round(time.Microsecond), first.Round(time.Millisecond), bfirst.Round(time.Millisecond),
		len(big.nodes), second.Round(time.Millisecond), bsecond.Round(time.Millisecond))
}
