package chain

import (
	"crypto/sha256"
	"strings"
	"testing"
)

// TestVerifiedCacheIsBoundedByBytes floods CheckTx with large, correctly
// signed transactions that fail on their nonce (each one is cached, since
// it decoded and its signature verified) and checks that the cache holds at
// most two generations' worth of bytes, keeps the newest entries, and that
// valid transactions still go through.
func TestVerifiedCacheIsBoundedByBytes(t *testing.T) {
	alice, carol := testKey(0), testKey(2)
	l := newTestLedger(t, "", alice)
	const budget = 1 << 20
	l.app.sigs.maxBytes = budget
	var pieces []Piece
	for i := range 600 {
		pieces = append(pieces, piece(uint32(i/2), uint32(i%2), addrOf(carol), 1))
	}
	var last []byte
	total := 0
	for i := range 40 {
		tx, err := NewTx(testChainID, &PlaceFile{FileID: Hash{byte(i), 1}, K: 1, M: 1, Pieces: pieces}, alice, uint64(1000+i))
		if err != nil {
			t.Fatal(err)
		}
		last = tx.Bytes()
		total += len(last)
		res := l.check(last)
		if Code(res.Code) != CodeBadNonce || !strings.Contains(res.Log, "expects nonce 0") {
			t.Fatalf("tx %d: code %d %q, want a nonce rejection", i, res.Code, res.Log)
		}
	}
	n, bytes := l.app.sigs.len()
	if bytes > 2*budget || n == 0 {
		t.Fatalf("cache holds %d txs, %d bytes after %d bytes of txs; want ≤ %d bytes", n, bytes, total, 2*budget)
	}
	if total <= 2*budget {
		t.Fatalf("test sent only %d bytes, not enough to turn the cache over", total)
	}
	if l.app.sigs.get(sha256.Sum256(last)) == nil {
		t.Fatal("the newest tx is not cached")
	}
	if r := l.block(l.sign(alice, &Transfer{To: addrOf(carol), Amount: 5})); r[0].Code != 0 {
		t.Fatalf("valid transfer after the flood: %s", r[0].Log)
	}
}

// TestReceiptSignaturesAreVerifiedOnce: CheckTx notes in the verified-tx
// cache that a PlaceFile's receipts verified (so FinalizeBlock and rechecks
// skip them), and notes nothing for receipts that did not; the expiry is
// still checked at every height.
func TestReceiptSignaturesAreVerifiedOnce(t *testing.T) {
	f := newFixture(t)
	carol := addrOf(f.carol)
	good := f.sign(f.alice, f.receipted(f.alice, &PlaceFile{FileID: Hash{0x0c}, Size: 1, K: 1, M: 0, Pieces: []Piece{piece(0, 0, carol, 5)}}))
	if r := f.check(good); r.Code != 0 {
		t.Fatal(r.Log)
	}
	if v := f.app.sigs.get(sha256.Sum256(good)); v == nil || !v.receiptsOK.Load() {
		t.Fatal("verified receipts not noted in the cache")
	}
	bad := &PlaceFile{FileID: Hash{0x0d}, Size: 1, K: 1, M: 0, Pieces: []Piece{piece(0, 0, carol, 5)}}
	bad.Receipts = []Receipt{SignReceipt(f.alice, testChainID, bad.FileID, addrOf(f.alice), f.height+1, receiptPieces(bad.Pieces, carol))}
	badTx := f.sign(f.alice, bad)
	if r := f.check(badTx); Code(r.Code) != CodeBadReceipt {
		t.Fatalf("forged receipt: %d %s", r.Code, r.Log)
	}
	if v := f.app.sigs.get(sha256.Sum256(badTx)); v == nil || v.receiptsOK.Load() {
		t.Fatal("a failed receipt check was noted as verified")
	}
	// The verified tx, kept past its receipts' expiry, fails on the expiry.
	f.nonces[addrOf(f.alice)]--
	for range receiptTestLife + 1 {
		f.block()
	}
	if r := f.block(good)[0]; Code(r.Code) != CodeReceiptExpired {
		t.Fatalf("cached tx after its receipts expired: %d %s", r.Code, r.Log)
	}
}
