package chain

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/fxamacker/cbor/v2"
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
	// Carol holds alice's 60-byte piece, not proved yet: the allowance
	// 1000, nothing earned.
	if err := f.query(QueryAccount+carol.String(), &acct); err != nil || acct.QuotaEarned != 0 || acct.QuotaLimit != 1000 {
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
	if err := listAll(f.testLedger, QueryNodes, &nodes); err != nil || len(nodes) != 2 || !addrLess(nodes[0].Address, nodes[1].Address) {
		t.Fatalf("/nodes (in address order): %+v %v", nodes, err)
	}
	var file File
	if err := f.query(QueryFile+f.file.String(), &file); err != nil || file.Owner != alice || len(file.Pieces) != 2 {
		t.Fatalf("/file: %+v %v", file, err)
	}
	var files []File
	if err := listAll(f.testLedger, QueryFiles+carol.String(), &files); err != nil || len(files) != 0 {
		t.Fatalf("/files of an owner with none: %+v %v", files, err)
	}
	var held []HeldPiece
	if err := listAll(f.testLedger, QueryPieces+carol.String(), &held); err != nil || len(held) != 1 || held[0].Piece.Holder != carol {
		t.Fatalf("/pieces/carol: %+v %v", held, err)
	}
	var cs ChallengeSet
	if err := f.query(QueryChallenges+carol.String(), &cs); err != nil || cs.Pieces != 1 || len(cs.Challenges) != ChallengesPerEpoch || cs.Challenges[0].File != f.file {
		t.Fatalf("/challenges/carol: %+v %v", cs, err)
	}
	var e Epoch
	if err := f.query(QueryEpoch, &e); err != nil || e.Number != 0 {
		t.Fatalf("/epoch: %+v %v", e, err)
	}
	if err := f.query(QueryEpoch+"/0", &e); err != nil || e.StartHeight != 1 {
		t.Fatalf("/epoch/0: %+v %v", e, err)
	}
	var p Params
	if err := f.query(QueryParams, &p); err != nil || p.Allowance != 1000 || p.EarnPercent != 100 || p.ReceiptTTL != 100 {
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

// TestListQueriesPageThroughEveryEntryOnce makes lists longer than one page
// (by lowering the byte and count limits) and checks that following Next
// from the empty cursor returns every entry exactly once, in key order, at
// one height even while new blocks change the list; that the last page has
// an empty Next; that a page keeps at least one entry; and that a bad cursor
// is refused with CodeInvalid.
func TestListQueriesPageThroughEveryEntryOnce(t *testing.T) {
	f := newFixture(t)
	alice, carol := addrOf(f.alice), addrOf(f.carol)
	var txs [][]byte
	for i := range 6 {
		var ps []Piece
		for j := range 10 {
			ps = append(ps, piece(uint32(j), 0, carol, 1))
		}
		txs = append(txs, f.sign(f.alice, f.receipted(f.alice, &PlaceFile{FileID: Hash{0x10 + byte(i)}, Size: 10, K: 1, M: 0, Pieces: ps})))
	}
	for i, r := range f.block(txs...) {
		if r.Code != 0 {
			t.Fatalf("place %d: %s", i, r.Log)
		}
	}
	var all []File
	if err := listAll(f.testLedger, QueryFiles+alice.String(), &all); err != nil || len(all) != 7 {
		t.Fatalf("/files: %d files, %v", len(all), err)
	}
	for i := 1; i < len(all); i++ {
		if string(all[i-1].ID[:]) >= string(all[i].ID[:]) {
			t.Fatalf("/files not in id order at %d", i)
		}
	}
	var allHeld []HeldPiece
	if err := listAll(f.testLedger, QueryPieces+carol.String(), &allHeld); err != nil || len(allHeld) != 61 {
		t.Fatalf("/pieces/carol: %d pieces, %v", len(allHeld), err)
	}
	page := func(path string, cursor []byte, height int64, v any) []byte {
		t.Helper()
		res := f.queryAt(path, cursor, height)
		if res.Code != 0 {
			t.Fatalf("%s cursor %x: %s", path, cursor, res.Log)
		}
		var p Page[cbor.RawMessage]
		if err := Unmarshal(res.Value, &p); err != nil {
			t.Fatal(err)
		}
		if err := Unmarshal(res.Value, v); err != nil {
			t.Fatal(err)
		}
		return p.Next
	}

	defer func(b, n int) { queryBytesLimit, queryResultsLimit = b, n }(queryBytesLimit, queryResultsLimit)
	one := len(mustMarshal(&all[1]))
	queryBytesLimit = 3*one + one/2 // three file records a page
	height := f.app.version
	var files []File
	var sizes []int
	var cursor []byte
	for {
		var p Page[File]
		cursor = page(QueryFiles+alice.String(), cursor, height, &p)
		files = append(files, p.Items...)
		sizes = append(sizes, len(p.Items))
		if len(sizes) == 1 {
			// A block placing a new file, and one removing another, come
			// between the pages; the pages of this height do not see them.
			if r := f.block(f.sign(f.alice, f.receipted(f.alice, &PlaceFile{FileID: Hash{0x01}, Size: 1, K: 1, M: 0, Pieces: []Piece{piece(0, 0, carol, 1)}}))); r[0].Code != 0 {
				t.Fatal(r[0].Log)
			}
			if r := f.block(f.sign(f.alice, &RemoveFile{FileID: Hash{0x15}})); r[0].Code != 0 {
				t.Fatal(r[0].Log)
			}
		}
		if len(cursor) == 0 {
			break
		}
		if len(cursor) != HashSize {
			t.Fatalf("cursor %x", cursor)
		}
	}
	if fmt.Sprint(sizes) != "[3 4]" || len(files) != len(all) {
		t.Fatalf("pages of %v files, want [3 4] (the last record is small)", sizes)
	}
	for i := range files {
		if files[i].ID != all[i].ID {
			t.Fatalf("entry %d is %s, want %s", i, files[i].ID, all[i].ID)
		}
	}

	// Count-limited pages: 61 pieces, 7 a page.
	queryBytesLimit, queryResultsLimit = MaxQueryBytes, 7
	var held []HeldPiece
	cursor = nil
	pages := 0
	for {
		var p Page[HeldPiece]
		cursor = page(QueryPieces+carol.String(), cursor, height, &p)
		if pages++; len(p.Items) != 7 && len(cursor) != 0 {
			t.Fatalf("page %d has %d pieces", pages, len(p.Items))
		}
		held = append(held, p.Items...)
		if len(cursor) == 0 {
			break
		}
	}
	if pages != 9 || fmt.Sprint(held) != fmt.Sprint(allHeld) {
		t.Fatalf("%d pages, %d pieces: not the %d pieces in order", pages, len(held), len(allHeld))
	}
	queryResultsLimit = 1
	var nodes []Node
	if err := listAll(f.testLedger, QueryNodes, &nodes); err != nil || len(nodes) != 2 || !addrLess(nodes[0].Address, nodes[1].Address) {
		t.Fatalf("/nodes one a page: %+v %v", nodes, err)
	}

	// A limit smaller than any record still gives one entry a page.
	queryBytesLimit, queryResultsLimit = 1, MaxQueryResults
	var p Page[File]
	if next := page(QueryFiles+alice.String(), nil, height, &p); len(p.Items) != 1 || p.Items[0].ID != all[0].ID || !bytes.Equal(next, all[1].ID[:]) {
		t.Fatalf("1-byte limit: %d files, next %x", len(p.Items), next)
	}
	// A cursor past the last entry: an empty last page.
	ff := bytes.Repeat([]byte{0xff}, HashSize)
	if next := page(QueryFiles+alice.String(), ff, height, &p); len(p.Items) != 0 || next != nil {
		t.Fatalf("cursor past the end: %+v", p)
	}
	for _, c := range []struct {
		path   string
		cursor []byte
		msg    string
	}{
		{QueryFiles + alice.String(), make([]byte, MaxCursorBytes+1), "cursor is 129 bytes, at most 128"},
		{QueryFiles + alice.String(), []byte{1, 2, 3}, "cursor is 3 bytes, this list's are 32"},
		{QueryNodes, all[0].ID[:], "cursor is 32 bytes, this list's are 20"},
		{QueryPieces + carol.String(), all[0].ID[:], "this list's are 40"},
	} {
		res := f.queryAt(c.path, c.cursor, height)
		if Code(res.Code) != CodeInvalid || res.Codespace != Codespace || !strings.Contains(res.Log, c.msg) {
			t.Errorf("%s with cursor %x: code %d %q, want %d with %q", c.path, c.cursor, res.Code, res.Log, CodeInvalid, c.msg)
		}
	}
}
