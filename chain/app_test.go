package chain

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"
)

const testChainID = "coop-test"

// testKey returns a deterministic key for seed i.
func testKey(i int) ed25519.PrivateKey {
	var seed [32]byte
	binary.BigEndian.PutUint64(seed[:], uint64(i)+1)
	return ed25519.NewKeyFromSeed(seed[:])
}

func addrOf(k ed25519.PrivateKey) Address { return AddressOf(k.Public().(ed25519.PublicKey)) }

// testLedger drives an App directly through ABCI calls, as CometBFT would.
type testLedger struct {
	t      testing.TB
	app    *App
	height int64
	nonces map[Address]uint64
}

// testGenesis funds each key with 1000 credits; the allowance is 1000 bytes.
func testGenesis(funded ...ed25519.PrivateKey) GenesisState {
	g := DefaultGenesisState()
	g.Params.Allowance = 1000
	for _, k := range funded {
		g.Accounts = append(g.Accounts, GenesisAccount{Address: addrOf(k), Credits: 1000})
	}
	return g
}

func newTestLedger(t testing.TB, dir string, funded ...ed25519.PrivateKey) *testLedger {
	t.Helper()
	return newTestLedgerGenesis(t, dir, testGenesis(funded...))
}

func newTestLedgerGenesis(t testing.TB, dir string, g GenesisState) *testLedger {
	t.Helper()
	return newTestLedgerConfig(t, DefaultConfig(dir), g)
}

// newTestLedgerConfig is newTestLedgerGenesis with an app config of the
// test's (its logger is replaced by a silent one).
func newTestLedgerConfig(t testing.TB, cfg Config, g GenesisState) *testLedger {
	t.Helper()
	cfg.Logger = slog.New(slog.DiscardHandler)
	app, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	st, _ := json.Marshal(g)
	if _, err := app.InitChain(context.Background(), &abci.InitChainRequest{ChainId: testChainID, AppStateBytes: st, InitialHeight: 1}); err != nil {
		t.Fatal(err)
	}
	return &testLedger{t: t, app: app, nonces: map[Address]uint64{}}
}

// sign builds the next tx of key with body.
func (l *testLedger) sign(k ed25519.PrivateKey, body Body) []byte {
	a := addrOf(k)
	tx, err := NewTx(testChainID, body, k, l.nonces[a])
	if err != nil {
		l.t.Fatal(err)
	}
	l.nonces[a]++
	return tx.Bytes()
}

// block finalizes and commits one block with txs and returns the results.
func (l *testLedger) block(txs ...[]byte) []*abci.ExecTxResult {
	l.t.Helper()
	l.height++
	h := sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(l.height)))
	res, err := l.app.FinalizeBlock(context.Background(), &abci.FinalizeBlockRequest{Height: l.height, Hash: h[:], Txs: txs})
	if err != nil {
		l.t.Fatal(err)
	}
	if _, err := l.app.Commit(context.Background(), &abci.CommitRequest{}); err != nil {
		l.t.Fatal(err)
	}
	return res.TxResults
}

func (l *testLedger) check(tx []byte) *abci.CheckTxResponse {
	l.t.Helper()
	res, err := l.app.CheckTx(context.Background(), &abci.CheckTxRequest{Tx: tx, Type: abci.CHECK_TX_TYPE_CHECK})
	if err != nil {
		l.t.Fatal(err)
	}
	return res
}

func (l *testLedger) query(path string, v any) error {
	l.t.Helper()
	res, err := l.app.Query(context.Background(), &abci.QueryRequest{Path: path})
	if err != nil {
		l.t.Fatal(err)
	}
	if res.Code != 0 {
		return errors.New(res.Log)
	}
	return Unmarshal(res.Value, v)
}

func (l *testLedger) account(a Address) AccountView {
	var v AccountView
	if err := l.query(QueryAccount+a.String(), &v); err != nil {
		l.t.Fatal(err)
	}
	return v
}

func TestTransferMovesCreditsAndBumpsNonce(t *testing.T) {
	alice, bob := testKey(0), testKey(1)
	l := newTestLedger(t, "", alice)
	tx := l.sign(alice, &Transfer{To: addrOf(bob), Amount: 300})
	if res := l.check(tx); res.Code != 0 {
		t.Fatalf("CheckTx: %d %s", res.Code, res.Log)
	}
	res := l.block(tx)
	if res[0].Code != 0 {
		t.Fatalf("FinalizeBlock: %d %s", res[0].Code, res[0].Log)
	}
	a, b := l.account(addrOf(alice)), l.account(addrOf(bob))
	if a.Credits != 700 || b.Credits != 300 || a.Nonce != 1 || !b.Exists {
		t.Fatalf("alice %+v bob %+v", a, b)
	}
	var e Epoch
	if err := l.query(QueryEpoch, &e); err != nil || e.Number != 0 || e.StartHeight != 1 {
		t.Fatalf("epoch %+v %v", e, err)
	}
}

func recheck(tx []byte) *abci.CheckTxRequest {
	return &abci.CheckTxRequest{Tx: tx, Type: abci.CHECK_TX_TYPE_RECHECK}
}

// queryAt answers path with data at height (0: the latest).
func (l *testLedger) queryAt(path string, data []byte, height int64) *abci.QueryResponse {
	l.t.Helper()
	res, err := l.app.Query(context.Background(), &abci.QueryRequest{Path: path, Data: data, Height: height})
	if err != nil {
		l.t.Fatal(err)
	}
	return res
}

// listAll reads every page of a list query at one height (the latest
// committed one) into out.
func listAll[T any](l *testLedger, path string, out *[]T) error {
	l.t.Helper()
	*out = []T{}
	height := l.app.version
	var cursor []byte
	for pages := 0; ; pages++ {
		res := l.queryAt(path, cursor, height)
		if res.Code != 0 {
			return errors.New(res.Log)
		}
		var p Page[T]
		if err := Unmarshal(res.Value, &p); err != nil {
			return err
		}
		*out = append(*out, p.Items...)
		if len(p.Next) == 0 {
			return nil
		}
		if pages > 1_000_000 {
			return errors.New("list query does not end")
		}
		cursor = p.Next
	}
}

// receipted returns pf with its holders' receipts for owner, usable from
// the next block for receiptTestLife blocks (holders must be test keys).
func (l *testLedger) receipted(owner ed25519.PrivateKey, pf *PlaceFile) *PlaceFile {
	l.t.Helper()
	signReceipts(pf, addrOf(owner), l.height+receiptTestLife)
	return pf
}

// receiptTestLife is how many blocks test receipts stay usable.
const receiptTestLife = 20

// testKeyIndex maps the addresses of testKey(0…255) to their keys.
var testKeyIndex = sync.OnceValue(func() map[Address]ed25519.PrivateKey {
	m := make(map[Address]ed25519.PrivateKey, 256)
	for i := range 256 {
		m[addrOf(testKey(i))] = testKey(i)
	}
	return m
})

// signReceipts sets pf.Receipts to one receipt per distinct holder, in
// order of first appearance, signed by the holder's test key over its
// pieces, for owner and expiring at expires. It is what a holder's node
// does when it has stored its pieces. Holders that are not test keys get
// no receipt.
func signReceipts(pf *PlaceFile, owner Address, expires int64) {
	pf.Receipts = nil
	for _, h := range pieceHolders(pf.Pieces) {
		k, ok := testKeyIndex()[h]
		if !ok {
			continue
		}
		pf.Receipts = append(pf.Receipts, SignReceipt(k, testChainID, pf.FileID, owner, expires, receiptPieces(pf.Pieces, h)))
	}
}

// pieceHolders lists the distinct holders of pieces in first-seen order.
func pieceHolders(pieces []Piece) []Address {
	var out []Address
	seen := map[Address]bool{}
	for _, p := range pieces {
		if !seen[p.Holder] {
			seen[p.Holder] = true
			out = append(out, p.Holder)
		}
	}
	return out
}

// receiptPieces is what holder h's receipt covers: its pieces in order.
func receiptPieces(pieces []Piece, h Address) []ReceiptPiece {
	var out []ReceiptPiece
	for _, p := range pieces {
		if p.Holder == h {
			out = append(out, ReceiptPiece{ID: p.ID, Root: p.Root, Size: p.Size, Leaves: p.Leaves})
		}
	}
	return out
}
