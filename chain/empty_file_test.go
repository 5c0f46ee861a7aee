package chain

import (
	"strings"
	"testing"
)

// TestEmptyFileIsPlacedWithoutPiecesAndRemoved: a file of 0 bytes is placed
// with no pieces (no holders, no receipts, no quota), listed, and removed;
// a file with bytes but no pieces is still refused.
func TestEmptyFileIsPlacedWithoutPiecesAndRemoved(t *testing.T) {
	f := newFixture(t)
	alice := addrOf(f.alice)
	before := f.account(alice).QuotaUsed
	empty := Hash{0xe0}
	if r := f.block(f.sign(f.alice, &PlaceFile{FileID: empty, Size: 0, K: 4, M: 2, SealedKey: []byte("sealed")})); r[0].Code != 0 {
		t.Fatalf("placing an empty file: %s", r[0].Log)
	}
	var got File
	if err := f.query(QueryFile+empty.String(), &got); err != nil || got.Size != 0 || len(got.Pieces) != 0 || got.Owner != alice || got.Bytes != 0 {
		t.Fatalf("the empty file on the ledger: %+v %v", got, err)
	}
	if a := f.account(alice); a.QuotaUsed != before {
		t.Fatalf("an empty file charged %d bytes of quota", a.QuotaUsed-before)
	}
	var files []File
	if err := listAll(f.testLedger, QueryFiles+alice.String(), &files); err != nil || len(files) != 2 {
		t.Fatalf("files of alice: %+v %v", files, err)
	}
	if r := f.block(f.sign(f.alice, &PlaceFile{FileID: Hash{0xe1}, Size: 10, K: 1, M: 1})); r[0].Code != uint32(CodeInvalid) || !strings.Contains(r[0].Log, "no pieces") {
		t.Fatalf("a 10-byte file with no pieces: code %d %s", r[0].Code, r[0].Log)
	}
	if r := f.block(f.sign(f.alice, &RemoveFile{FileID: empty})); r[0].Code != 0 {
		t.Fatalf("removing the empty file: %s", r[0].Log)
	}
	if err := f.query(QueryFile+empty.String(), &File{}); err == nil {
		t.Fatal("the removed empty file is still on the ledger")
	}
}
