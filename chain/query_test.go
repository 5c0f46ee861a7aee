package chain

import (
	"context"
	"strings"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"
)

// TestEveryDocumentedQueryPathAnswers walks the query paths of docs/ledger.md
// on a ledger with accounts, nodes and a file, and the ways a query fails.
func TestEveryDocumentedQueryPathAnswers(t *testing.T) {
	f := newFixture(t)
	alice, carol, dave := addrOf(f.alice), addrOf(f.carol), addrOf(f.dave)

	var acct AccountView
	if err := f.query(QueryAccount+alice.String(), &acct); err != nil || !acct.Exists || acct.QuotaUsed != 120 || acct.QuotaLimit != 1000 {
		t.Fatalf("/account/alice: %+v %v", acct, err)
	}
	// Carol pledged 3000 bytes: allowance 1000 + 3000/3 earned.
	if err := f.query(QueryAccount+carol.String(), &acct); err != nil || acct.QuotaEarned != 1000 || acct.QuotaLimit != 2000 {
		t.Fatalf("/account/carol: %+v %v", acct, err)
	}
	stranger := Address{0x77}
	if err := f.query(QueryAccount+stranger.String(), &acct); err != nil || acct.Exists || acct.Address != stranger || acct.QuotaLimit != 1000 {
		t.Fatalf("/account of an unseen address: %+v %v", acct, err)
	}
	var n Node
	if err := f.query(QueryNode+dave.String(), &n); err != nil || n.Pledge != 100 || n.Used != 60 || n.Status != NodeActive {
		t.Fatalf("/node/dave: %+v %v", n, err)
	}
	var nodes []Node
	if err := f.query(QueryNodes, &nodes); err != nil || len(nodes) != 2 || !addrLess(nodes[0].Address, nodes[1].Address) {
		t.Fatalf("/nodes (in address order): %+v %v", nodes, err)
	}
	var file File
	if err := f.query(QueryFile+f.file.String(), &file); err != nil || file.Owner != alice || len(file.Pieces) != 2 {
		t.Fatalf("/file: %+v %v", file, err)
	}
	var files []File
	if err := f.query(QueryFiles+carol.String(), &files); err != nil || len(files) != 0 {
		t.Fatalf("/files of an owner with none: %+v %v", files, err)
	}
	var held []HeldPiece
	if err := f.query(QueryPieces+carol.String(), &held); err != nil || len(held) != 1 || held[0].Piece.Holder != carol {
		t.Fatalf("/pieces/carol: %+v %v", held, err)
	}
	var e Epoch
	if err := f.query(QueryEpoch, &e); err != nil || e.Number != 0 {
		t.Fatalf("/epoch: %+v %v", e, err)
	}
	if err := f.query(QueryEpoch+"/0", &e); err != nil || e.StartHeight != 1 {
		t.Fatalf("/epoch/0: %+v %v", e, err)
	}
	var p Params
	if err := f.query(QueryParams, &p); err != nil || p.Allowance != 1000 || p.RNorm != 3 {
		t.Fatalf("/params: %+v %v", p, err)
	}
	var ci ChainInfo
	if err := f.query(QueryChain, &ci); err != nil || ci.ChainID != testChainID || ci.InitialHeight != 1 {
		t.Fatalf("/chain: %+v %v", ci, err)
	}

	// Failures answer a code and a log that says why.
	for _, c := range []struct {
		path string
		code Code
		msg  string
	}{
		{QueryNode + alice.String(), CodeNotFound, "node " + alice.String()},
		{QueryFile + strings.Repeat("ab", 32), CodeNotFound, "file abab"},
		{QueryEpoch + "/99", CodeNotFound, "epoch 99"},
		{QueryEpoch + "/x", CodeInvalid, "epoch number"},
		{QueryAccount + "zz", CodeInvalid, ""},
		{QueryAccount + alice.String()[:39], CodeInvalid, ""},
		{QueryFile + "00", CodeInvalid, ""},
		{"/mint", CodeInvalid, `unknown query path "/mint"`},
	} {
		res, err := f.app.Query(context.Background(), &abci.QueryRequest{Path: c.path})
		if err != nil || Code(res.Code) != c.code || !strings.Contains(res.Log, c.msg) {
			t.Errorf("%s: code %d %q %v, want code %d with %q", c.path, res.Code, res.Log, err, c.code, c.msg)
		}
	}

	// The height argument reads an older committed version.
	old := f.app.version
	if r := f.block(f.sign(f.alice, &RemoveFile{FileID: f.file})); r[0].Code != 0 {
		t.Fatal(r[0].Log)
	}
	res, err := f.app.Query(context.Background(), &abci.QueryRequest{Path: QueryFile + f.file.String(), Height: old})
	if err != nil || res.Code != 0 || res.Height != old {
		t.Fatalf("/file at height %d, before the remove: %+v %v", old, res, err)
	}
	if err := f.query(QueryFile+f.file.String(), &file); err == nil {
		t.Fatal("the removed file is still there at the latest height")
	}
}

func addrLess(a, b Address) bool { return string(a[:]) < string(b[:]) }

// TestListQueriesAreBoundedByBytes lowers the answer size limit and checks
// that /files and /pieces stop at it, keeping key order and at least one
// entry.
func TestListQueriesAreBoundedByBytes(t *testing.T) {
	f := newFixture(t)
	alice, carol := addrOf(f.alice), addrOf(f.carol)
	var ids []Hash
	var txs [][]byte
	for i := range 6 {
		var ps []Piece
		for j := range 10 {
			ps = append(ps, piece(uint32(j), 0, carol, 1))
		}
		id := Hash{0x10 + byte(i)}
		ids = append(ids, id)
		txs = append(txs, f.sign(f.alice, &PlaceFile{FileID: id, Size: 10, K: 1, M: 0, Pieces: ps}))
	}
	for i, r := range f.block(txs...) {
		if r.Code != 0 {
			t.Fatalf("place %d: %s", i, r.Log)
		}
	}
	var all []File
	if err := f.query(QueryFiles+alice.String(), &all); err != nil || len(all) != 7 {
		t.Fatalf("unbounded /files: %d files, %v", len(all), err)
	}
	one := len(mustMarshal(&all[1]))
	defer func(v int) { queryBytesLimit = v }(queryBytesLimit)
	queryBytesLimit = 3*one + one/2
	var files []File
	if err := f.query(QueryFiles+alice.String(), &files); err != nil || len(files) != 3 {
		t.Fatalf("/files with a limit of 3.5 records: %d files, %v", len(files), err)
	}
	for i := range files {
		if files[i].ID != all[i].ID {
			t.Fatalf("/files entry %d is %s, want %s", i, files[i].ID, all[i].ID)
		}
	}
	var held []HeldPiece
	if err := f.query(QueryPieces+carol.String(), &held); err != nil || len(held) == 0 || len(held) >= 61 {
		t.Fatalf("/pieces with a limit: %d pieces, %v", len(held), err)
	}
	queryBytesLimit = 1
	if err := f.query(QueryFiles+alice.String(), &files); err != nil || len(files) != 1 {
		t.Fatalf("/files with a 1-byte limit: %d files, %v (want the first one)", len(files), err)
	}
}
