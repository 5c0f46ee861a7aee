package chain

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"
)

// workload generates blocks of mixed transactions (valid, failing and
// garbage) from a fixed seed, so two apps can be fed the same history.
type workload struct {
	rng    *rand.Rand
	jobRng *rand.Rand
	// acctRng draws devices, roots, names and shares (AppVersion 11).
	acctRng *rand.Rand
	keys    []ed25519.PrivateKey
	nonces  map[Address]uint64
	files   []Hash
	owners  map[Hash]ed25519.PrivateKey
	height  int64 // of the block being generated
	// app, if set, is read (its committed state) for the txs that answer
	// the ledger: proofs of storage for a node's current challenges and
	// reports of pieces it holds.
	app *App
	// results are what workers committed to, by job and worker.
	results map[[2]Hash]JobResult
}

// query reads path from w.app's committed state into v; false if there is
// no app or the query fails.
func (w *workload) query(path string, v any) bool {
	if w.app == nil {
		return false
	}
	res, err := w.app.Query(context.Background(), &abci.QueryRequest{Path: path})
	if err != nil || res.Code != 0 {
		return false
	}
	return Unmarshal(res.Value, v) == nil
}

func newWorkload(seed uint64, accounts int) *workload {
	w := &workload{rng: rand.New(rand.NewPCG(seed, 1)), jobRng: rand.New(rand.NewPCG(seed, 2)), acctRng: rand.New(rand.NewPCG(seed, 3)), nonces: map[Address]uint64{}, owners: map[Hash]ed25519.PrivateKey{}, results: map[[2]Hash]JobResult{}}
	for i := range accounts {
		w.keys = append(w.keys, testKey(i))
	}
	return w
}

func (w *workload) genesis() GenesisState {
	g := testGenesis(w.keys[:len(w.keys)/2]...)
	g.Params.Allowance = 5000
	g.Params.EpochLength = 7
	// The workload's proofs are all wrong (made-up roots), ten failed
	// audits each: a slow forgetting factor keeps most holders placeable
	// for a while, and some are still suspended or disqualified.
	g.Params.RepLambdaPermille = 990
	g.Params.Jobs.CommitBlocks = 6
	g.Params.Jobs.RevealBlocks = 4
	return g
}

func (w *workload) tx(k ed25519.PrivateKey, b Body) []byte {
	a := addrOf(k)
	tx, err := NewTx(testChainID, b, k, w.nonces[a])
	if err != nil {
		panic(err)
	}
	w.nonces[a]++
	return tx.Bytes()
}

// txFor is tx signed by k for account (Tx.Account).
func (w *workload) txFor(k ed25519.PrivateKey, account Address, b Body) []byte {
	a := addrOf(k)
	tx, err := NewTxFor(testChainID, b, k, account, w.nonces[a])
	if err != nil {
		panic(err)
	}
	w.nonces[a]++
	return tx.Bytes()
}

func (w *workload) block() [][]byte {
	w.height++
	var txs [][]byte
	for range w.rng.IntN(12) {
		k := w.keys[w.rng.IntN(len(w.keys))]
		other := addrOf(w.keys[w.rng.IntN(len(w.keys))])
		switch w.rng.IntN(9) {
		case 0, 1:
			txs = append(txs, w.tx(k, &Transfer{To: other, Amount: w.rng.Uint64N(400)}))
		case 2:
			pid, _ := PeerIDOf(k.Public().(ed25519.PublicKey))
			txs = append(txs, w.tx(k, &RegisterNode{PeerID: pid, Pledge: w.rng.Uint64N(30000), CPU: uint32(w.rng.IntN(4))}))
		case 3:
			p := w.rng.Uint64N(30000)
			txs = append(txs, w.tx(k, &UpdateNode{Pledge: &p}))
		case 4:
			var id Hash
			binary.BigEndian.PutUint64(id[:], w.rng.Uint64())
			pf := &PlaceFile{FileID: id, Size: 100, K: 2, M: 1}
			for seg := range uint32(1 + w.rng.IntN(2)) {
				for idx := range uint32(3) {
					h := addrOf(w.keys[w.rng.IntN(len(w.keys))])
					pf.Pieces = append(pf.Pieces, piece(seg, idx, h, 1+w.rng.Uint64N(900)))
				}
			}
			if w.rng.IntN(2) == 0 { // sometimes past MaxSealedKeyBytes
				pf.SealedKey = make([]byte, 1+w.rng.IntN(MaxSealedKeyBytes+8))
				for i := range pf.SealedKey {
					pf.SealedKey[i] = byte(w.rng.Uint32())
				}
			}
			switch w.rng.IntN(8) {
			case 0: // no receipts
			case 1: // expired
				signReceipts(pf, addrOf(k), w.height-1)
			default:
				signReceipts(pf, addrOf(k), w.height+int64(w.rng.IntN(5)))
			}
			w.files = append(w.files, id)
			w.owners[id] = k
			txs = append(txs, w.tx(k, pf))
		case 5:
			if len(w.files) > 0 {
				id := w.files[w.rng.IntN(len(w.files))]
				if w.rng.IntN(2) == 0 { // usually by its owner
					k = w.owners[id]
				}
				txs = append(txs, w.tx(k, &RemoveFile{FileID: id}))
			}
		case 7: // a proof of storage: its pieces have made-up roots, so wrong
			var cs ChallengeSet
			if !w.query(QueryChallenges+addrOf(k).String(), &cs) {
				continue
			}
			body := &ProveStorage{Epoch: cs.Epoch, Challenges: ChallengesHash(cs.Challenges), Proofs: make([][]byte, len(cs.Challenges))}
			switch w.rng.IntN(6) {
			case 0: // stale
				body.Challenges[0] ^= 1
			case 1: // late or early
				body.Epoch += 1 - 2*uint64(w.rng.IntN(2))
			}
			for i := range body.Proofs {
				body.Proofs[i] = []byte{byte(w.rng.Uint32())}
			}
			txs = append(txs, w.tx(k, body))
		case 8: // a report of lost pieces, some held by the signer
			var held Page[HeldPiece]
			w.query(QueryPieces+addrOf(k).String(), &held)
			var refs []PieceRef
			for _, hp := range held.Items {
				if w.rng.IntN(3) == 0 {
					refs = append(refs, PieceRef{File: hp.File, Segment: hp.Piece.Segment, Index: hp.Piece.Index})
				}
			}
			if len(refs) == 0 || w.rng.IntN(4) == 0 {
				refs = append(refs, PieceRef{File: Hash{byte(w.rng.Uint32())}, Index: uint32(w.rng.IntN(3))})
			}
			txs = append(txs, w.tx(k, &ReportLost{Pieces: refs}))
		case 6:
			g := make([]byte, w.rng.IntN(200))
			for i := range g {
				g[i] = byte(w.rng.Uint32())
			}
			txs = append(txs, g)
		}
	}
	// Jobs come from their own random stream, so the rest of the history
	// is the one it was before jobs existed.
	for range 1 + w.jobRng.IntN(3) {
		k := w.keys[w.jobRng.IntN(len(w.keys))]
		switch w.jobRng.IntN(3) {
		case 0: // a job on a module file, usually the signer's own
			if len(w.files) == 0 {
				continue
			}
			m := w.files[w.jobRng.IntN(len(w.files))]
			if w.jobRng.IntN(4) != 0 {
				k = w.owners[m]
			}
			r := uint32(1 + 2*w.jobRng.IntN(2))
			txs = append(txs, w.tx(k, &SubmitJob{Module: m, FuelLimit: w.jobRng.Uint64N(100), MemoryLimit: 1 << 16, Replicas: r, Quorum: r/2 + 1, Price: 1 + w.jobRng.Uint64N(3)}))
		case 1, 2: // a worker commits to or reveals its result of an assignment
			var page Page[JobView]
			if !w.query(QueryAssignments+addrOf(k).String(), &page) || len(page.Items) == 0 {
				continue
			}
			j := page.Items[w.jobRng.IntN(len(page.Items))]
			key := [2]Hash{j.ID, sha256.Sum256([]byte(addrOf(k).String()))}
			salt := append(key[1][:], 1)
			if res, ok := w.results[key]; ok {
				txs = append(txs, w.tx(k, &RevealResult{Job: j.ID, Result: res, Salt: salt}))
				continue
			}
			res := JobResult{CostTable: 1, Status: ResultExited, FuelUsed: min(j.FuelLimit, 5), OutputHash: Hash{byte(w.jobRng.IntN(2))}}
			w.results[key] = res
			txs = append(txs, w.tx(k, &CommitResult{Job: j.ID, Commitment: Commitment(j.ID, addrOf(k), ResultHash(j.ID, &res), salt)}))
		}
	}
	return append(txs, w.acctTxs()...)
}

// acctTxs draws, from their own stream, transactions of accounts across
// devices: devices added and removed, roots set (some stale), names, shares
// created, updated and removed, files placed and removed by devices; a key usually acts
// for the account it is a device of, sometimes for a stranger's (refused).
func (w *workload) acctTxs() [][]byte {
	var txs [][]byte
	r := w.acctRng
	for range 1 + r.IntN(4) {
		k := w.keys[r.IntN(len(w.keys))]
		other := w.keys[r.IntN(len(w.keys))]
		acct := addrOf(k)
		var d Device
		if w.query(QueryDevice+acct.String(), &d) && r.IntN(4) != 0 {
			acct = d.Account
		} else if r.IntN(5) == 0 {
			acct = addrOf(other)
		}
		switch r.IntN(8) {
		case 0:
			txs = append(txs, w.tx(k, addDevice(k, other, "d")))
		case 1:
			txs = append(txs, w.tx(k, &RemoveDevice{Device: addrOf(other)}))
		case 2:
			var cur NamespaceRoot
			w.query(QueryRoot+acct.String(), &cur)
			v := cur.Version + 1 - uint64(r.IntN(2)) // sometimes stale
			txs = append(txs, w.txFor(k, acct, &SetRoot{Version: v, Root: []byte{byte(r.Uint32()), 1}}))
		case 3:
			if r.IntN(3) == 0 {
				txs = append(txs, w.tx(k, &ReleaseName{}))
			} else {
				txs = append(txs, w.tx(k, &RegisterName{Name: fmt.Sprintf("name-%d", r.IntN(5))}))
			}
		case 4:
			key := []byte{byte(r.Uint32()), byte(r.Uint32())}
			txs = append(txs, w.txFor(k, acct, &SetShare{ShareID: ShareIDOf(acct, key), Recipient: addrOf(other), Key: key,
				Write: r.IntN(2) == 0, Version: 1, Pointer: []byte("p1")}))
		case 5:
			var page Page[Share]
			if !w.query(QuerySharesTo+acct.String(), &page) || len(page.Items) == 0 {
				w.query(QuerySharesBy+acct.String(), &page)
			}
			if len(page.Items) == 0 {
				continue
			}
			s := page.Items[r.IntN(len(page.Items))]
			if r.IntN(3) == 0 {
				txs = append(txs, w.txFor(k, acct, &Unshare{ShareID: s.ID}))
			} else {
				txs = append(txs, w.txFor(k, acct, &SetShare{ShareID: s.ID, Version: s.Version + 1 - uint64(r.IntN(2)), Pointer: []byte{byte(r.Uint32())}}))
			}
		case 6:
			var id Hash
			binary.BigEndian.PutUint64(id[:], r.Uint64())
			id[31] = 0xde
			pf := &PlaceFile{FileID: id, Size: 100, K: 1, M: 1, Pieces: []Piece{
				piece(0, 0, addrOf(w.keys[r.IntN(len(w.keys))]), 1+r.Uint64N(900)),
				piece(0, 1, addrOf(w.keys[r.IntN(len(w.keys))]), 1+r.Uint64N(900)),
			}}
			// Receipts name the key that pushed and signs: the device.
			signReceipts(pf, addrOf(k), w.height+int64(r.IntN(5)))
			txs = append(txs, w.txFor(k, acct, pf))
		case 7: // a device removes one of its account's files
			var page Page[File]
			if !w.query(QueryFiles+acct.String(), &page) || len(page.Items) == 0 {
				continue
			}
			txs = append(txs, w.txFor(k, acct, &RemoveFile{FileID: page.Items[r.IntN(len(page.Items))].ID}))
		}
	}
	return txs
}

func finalize(t *testing.T, a *App, h int64, txs [][]byte) *abci.FinalizeBlockResponse {
	t.Helper()
	bh := sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(h)))
	res, err := a.FinalizeBlock(context.Background(), &abci.FinalizeBlockRequest{Height: h, Hash: bh[:], Txs: txs})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Commit(context.Background(), &abci.CommitRequest{}); err != nil {
		t.Fatal(err)
	}
	return res
}

// TestReplayOnTwoFreshAppsGivesTheSameHashes feeds one history of 80 blocks
// (transfers, registrations, placements, removals, garbage, wrong proofs of
// storage, reports of lost pieces: so lost/ and contain/ records, audit
// scores)
// to an in-memory app that checked every tx first (as in its mempool) and
// to an on-disk app that is closed and reopened every 20 blocks; the app hash and every tx result must match at every
// height, and a reopened app must report the height and hash it committed.
func TestReplayOnTwoFreshAppsGivesTheSameHashes(t *testing.T) {
	w := newWorkload(42, 8)
	g := w.genesis()
	// Held bytes earn unproved here (the workload's pieces cannot be
	// proved), so the history has debts too.
	earnUnproved = true
	t.Cleanup(func() { earnUnproved = false })
	mem := newTestLedgerGenesis(t, "", g).app
	w.app = mem
	dir := t.TempDir()
	disk := newTestLedgerGenesis(t, dir, g).app
	ok, failed := 0, 0
	for h := int64(1); h <= 80; h++ {
		txs := w.block()
		// The in-memory app saw the txs in its mempool first (CheckTx fills
		// its verified-tx cache, which FinalizeBlock then uses); the disk app
		// meets them only in the block, like a validator that was offline.
		for _, tx := range txs {
			if _, err := mem.CheckTx(context.Background(), &abci.CheckTxRequest{Tx: tx, Type: abci.CHECK_TX_TYPE_CHECK}); err != nil {
				t.Fatal(err)
			}
		}
		a, b := finalize(t, mem, h, txs), finalize(t, disk, h, txs)
		if !bytes.Equal(a.AppHash, b.AppHash) {
			t.Fatalf("height %d: app hashes differ: %x vs %x", h, a.AppHash, b.AppHash)
		}
		for i := range a.TxResults {
			if a.TxResults[i].Code != b.TxResults[i].Code || a.TxResults[i].Log != b.TxResults[i].Log {
				t.Fatalf("height %d tx %d: %v vs %v", h, i, a.TxResults[i], b.TxResults[i])
			}
			if a.TxResults[i].Code == 0 {
				ok++
			} else {
				failed++
			}
		}
		if h%20 == 0 {
			disk.Close()
			var err error
			disk, err = Open(Config{Dir: dir, CacheSize: 1000})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { disk.Close() })
			info, err := disk.Info(context.Background(), &abci.InfoRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if info.LastBlockHeight != h || !bytes.Equal(info.LastBlockAppHash, a.AppHash) {
				t.Fatalf("reopened at height %d: Info says %d %x, want %x", h, info.LastBlockHeight, info.LastBlockAppHash, a.AppHash)
			}
		}
	}
	if ok < 50 || failed < 50 {
		t.Fatalf("workload too one-sided: %d ok, %d failed", ok, failed)
	}
	// The history reached the proof rules' state: lost pieces (reported
	// and failed), contained holders, audit scores, debts.
	st := dump(t, mem)
	count := map[string]int{}
	for k, v := range st {
		for _, p := range []string{prefixLost, prefixContain, prefixDebt, prefixProof, prefixJob, prefixWorker, prefixDeviceOf, prefixRoots, prefixName, prefixShare} {
			if strings.HasPrefix(k, p) {
				count[p]++
			}
		}
		if strings.HasPrefix(k, prefixLost) {
			var lp LostPiece
			if err := Unmarshal(v, &lp); err != nil {
				t.Fatal(err)
			}
			count[lp.Reason]++
		}
		if strings.HasPrefix(k, prefixNode) {
			var n Node
			if err := Unmarshal(v, &n); err != nil {
				t.Fatal(err)
			}
			if n.RepBeta > 0 {
				count["failed audits"]++
			}
		}
	}
	t.Logf("state at the end: %v", count)
	for _, c := range []string{prefixContain, prefixProof, LostReported, LostFailedProof, "failed audits", prefixJob, prefixWorker, prefixDeviceOf, prefixRoots, prefixName, prefixShare} {
		if count[c] == 0 {
			t.Errorf("the history left no %q in state", c)
		}
	}
}

// TestAccountingInvariantsHoldAfterARandomHistory replays a generated
// history and then checks the bookkeeping against the records themselves:
// each node's Used is the bytes of the pieces indexed under it and
// HeldForOthers those of files another account owns, Used ≤ Pledge; each
// account's QuotaUsed is the bytes of its files plus what it lent (the
// debts owed to it); the debt records add up to each account's QuotaLent
// and QuotaOwed, and what an account owes is exactly how far it is over its
// earning limit (checkQuotaBooks); every file's pieces are indexed under
// their holders (or recorded lost, not both) and every index entry and
// lost record belongs to a file, every containment to a node; and no
// tombstone outlives ReceiptTTL. The history includes proofs of storage
// (wrong: the pieces have made-up roots) and reports of lost pieces.
func TestAccountingInvariantsHoldAfterARandomHistory(t *testing.T) {
	for _, seed := range []uint64{1, 42, 77} {
		w := newWorkload(seed, 8)
		g := w.genesis()
		g.Params.ReceiptTTL = 6
		l := newTestLedgerGenesis(t, "", g)
		w.app = l.app
		placed, removed, debtsSeen, lost, answered := 0, 0, 0, 0, 0
		var supply uint64
		for _, a := range g.Accounts {
			supply += a.Credits
		}
		jobTxs, deviceTxs := 0, 0
		for h := int64(1); h <= 120; h++ {
			txs := w.block()
			res := finalize(t, l.app, h, txs)
			st := dump(t, l.app)
			debtsSeen += len(checkQuotaBooks(t, st, g.Params, true))
			checkJobBooks(t, st, supply)
			for i, r := range res.TxResults {
				if d, err := DecodeTx(txs[i]); err == nil && r.Code == 0 {
					if len(d.Account) > 0 {
						deviceTxs++
					}
					switch d.Type {
					case TypePlaceFile:
						placed++
					case TypeRemoveFile:
						removed++
					case TypeReportLost, TypeProveStorage:
						answered++
					case TypeSubmitJob, TypeCommitResult, TypeRevealResult:
						jobTxs++
					}
				}
			}
		}
		t.Logf("seed %d: %d placed, %d removed, %d proofs and reports judged, %d job txs, %d txs by devices for their accounts, %d debt records seen over the blocks", seed, placed, removed, answered, jobTxs, deviceTxs, debtsSeen)
		if placed < 5 || removed < 3 || answered < 3 || jobTxs < 3 || deviceTxs < 3 {
			t.Fatalf("seed %d: history too thin: %d placed, %d removed", seed, placed, removed)
		}
		st := dump(t, l.app)
		files := map[Hash]File{}
		used, held, quota := map[Address]uint64{}, map[Address]uint64{}, map[Address]uint64{}
		for k, v := range st {
			if strings.HasPrefix(k, prefixFile) {
				var f File
				if err := Unmarshal(v, &f); err != nil {
					t.Fatal(err)
				}
				files[f.ID] = f
				quota[f.Owner] += f.Bytes
				for _, p := range f.Pieces {
					_, indexed := st[string(heldKey(p.Holder, f.ID, p.Segment, p.Index))]
					_, isLost := st[string(lostKey(f.ID, p.Segment, p.Index))]
					if indexed == isLost {
						t.Fatalf("seed %d: piece %d/%d of %s: indexed under %s %v, lost %v (want exactly one)", seed, p.Segment, p.Index, f.ID, p.Holder, indexed, isLost)
					}
					if isLost {
						lost++
					}
				}
			}
		}
		for k, v := range st {
			switch {
			case strings.HasPrefix(k, prefixHeld):
				var hp HeldPiece
				if err := Unmarshal(v, &hp); err != nil {
					t.Fatal(err)
				}
				f, ok := files[hp.File]
				if !ok {
					t.Fatalf("seed %d: index entry %x of a file not on the ledger", seed, k)
				}
				used[hp.Piece.Holder] += hp.Piece.Size
				if f.Owner != hp.Piece.Holder {
					held[hp.Piece.Holder] += hp.Piece.Size
				}
			case strings.HasPrefix(k, prefixLost):
				var lp LostPiece
				if err := Unmarshal(v, &lp); err != nil {
					t.Fatal(err)
				}
				if _, ok := files[lp.File]; !ok {
					t.Fatalf("seed %d: lost record %x of a file not on the ledger", seed, k)
				}
			case strings.HasPrefix(k, prefixContain):
				if _, ok := st[string(nodeKey(Address([]byte(k[len(prefixContain):]))))]; !ok {
					t.Fatalf("seed %d: containment %x of no node", seed, k)
				}
			case strings.HasPrefix(k, prefixGone):
				var at int64
				if err := Unmarshal(v, &at); err != nil {
					t.Fatal(err)
				}
				if l.app.version-at > int64(g.Params.ReceiptTTL) {
					t.Fatalf("seed %d: tombstone of height %d at height %d", seed, at, l.app.version)
				}
			}
		}
		for k, v := range st {
			switch {
			case strings.HasPrefix(k, prefixNode):
				var n Node
				if err := Unmarshal(v, &n); err != nil {
					t.Fatal(err)
				}
				if n.Used != used[n.Address] || n.HeldForOthers != held[n.Address] || n.Used > n.Pledge {
					t.Fatalf("seed %d: node %s used %d held %d pledge %d; its pieces: %d, for others %d", seed, n.Address, n.Used, n.HeldForOthers, n.Pledge, used[n.Address], held[n.Address])
				}
			case strings.HasPrefix(k, prefixAccount):
				var a Account
				if err := Unmarshal(v, &a); err != nil {
					t.Fatal(err)
				}
				if a.QuotaUsed != quota[a.Address]+a.QuotaLent {
					t.Fatalf("seed %d: account %s quota used %d, its files %d + lent %d", seed, a.Address, a.QuotaUsed, quota[a.Address], a.QuotaLent)
				}
			}
		}
		if lost == 0 {
			t.Fatalf("seed %d: no lost piece at the end", seed)
		}
		t.Logf("seed %d: %d pieces lost at the end", seed, lost)
	}
}
