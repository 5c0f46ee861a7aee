package chain

import (
	"bytes"
	"strings"
	"testing"
)

// TestPlaceFileSealedKey covers PlaceFile's optional sealed file key: too
// long is refused with the limit in the message and changes nothing, an
// empty one is not canonical, one of the maximum size round-trips through
// state and both file queries, and a record without one encodes as before.
func TestPlaceFileSealedKey(t *testing.T) {
	f := newFixture(t)
	alice, carol := addrOf(f.alice), addrOf(f.carol)
	place := func(id Hash, sealed []byte) []byte {
		return f.sign(f.alice, f.receipted(f.alice, &PlaceFile{FileID: id, Size: 10, K: 1, M: 0, Pieces: []Piece{piece(0, 0, carol, 10)}, SealedKey: sealed}))
	}
	before := f.account(alice).QuotaUsed

	r := f.block(place(Hash{0xa1}, bytes.Repeat([]byte{7}, MaxSealedKeyBytes+1)))
	if r[0].Code != uint32(CodeInvalid) || !strings.Contains(r[0].Log, "sealed key is 97 bytes, at most 96") {
		t.Fatalf("97-byte sealed key: code %d %q, want code %d saying the limit", r[0].Code, r[0].Log, CodeInvalid)
	}
	if err := f.query(QueryFile+(Hash{0xa1}).String(), &File{}); err == nil {
		t.Fatal("a refused placement is on the ledger")
	}
	if got := f.account(alice).QuotaUsed; got != before {
		t.Fatalf("a refused placement charged quota: %d → %d", before, got)
	}

	// An explicitly empty sealed key is a second encoding of "none".
	withEmpty := f.receipted(f.alice, &PlaceFile{FileID: Hash{0xa2}, Pieces: []Piece{piece(0, 0, carol, 10)}})
	body, err := encMode.Marshal(map[string]any{"file_id": Hash{0xa2}, "size": 10, "k": 1, "m": 0,
		"pieces": withEmpty.Pieces, "receipts": withEmpty.Receipts, "sealed_key": []byte{}})
	if err != nil {
		t.Fatal(err)
	}
	if res := f.check(rawTx(testChainID, TypePlaceFile, body, f.alice, f.nonces[alice])); res.Code != uint32(CodeEncoding) {
		t.Fatalf("empty sealed key: code %d %q, want %d (not canonical)", res.Code, res.Log, CodeEncoding)
	}

	sealed := bytes.Repeat([]byte{0x5e}, MaxSealedKeyBytes)
	sealed[0] = 1
	if r := f.block(place(Hash{0xa3}, sealed)); r[0].Code != 0 {
		t.Fatalf("96-byte sealed key refused: %s", r[0].Log)
	}
	var got File
	if err := f.query(QueryFile+(Hash{0xa3}).String(), &got); err != nil || !bytes.Equal(got.SealedKey, sealed) {
		t.Fatalf("/file: sealed key %x, %v; want %x", got.SealedKey, err, sealed)
	}
	var files []File
	if err := listAll(f.testLedger, QueryFiles+alice.String(), &files); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, fl := range files {
		switch fl.ID {
		case Hash{0xa3}:
			found = bytes.Equal(fl.SealedKey, sealed)
		case f.file:
			if fl.SealedKey != nil {
				t.Fatalf("the fixture's file was placed without a sealed key, the ledger has %x", fl.SealedKey)
			}
		}
	}
	if !found {
		t.Fatalf("/files of alice lacks file a3 with its sealed key: %+v", files)
	}

	// Records without a sealed key keep their pre-field encoding.
	var old File
	if err := f.query(QueryFile+f.file.String(), &old); err != nil {
		t.Fatal(err)
	}
	enc, err := encMode.Marshal(&old)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(enc, []byte("sealed_key")) {
		t.Fatal("a file record without a sealed key encodes the field")
	}
}
