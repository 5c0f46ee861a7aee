package chain

import (
	"crypto/sha256"
	"fmt"
	"testing"
)

// batchOf is a PlaceFiles of the given placements.
func batchOf(files ...*PlaceFile) *PlaceFiles {
	b := &PlaceFiles{}
	for _, f := range files {
		b.Files = append(b.Files, *f)
	}
	return b
}

// TestPlaceFilesIsTheSameAsPlacingEachFile: a batch of three placements
// leaves the state exactly as three place_file txs in one block do (files,
// their indexes, the holders' used and held_for_others, the owner's
// quota), but for the owner's nonce: one tx instead of three.
func TestPlaceFilesIsTheSameAsPlacingEachFile(t *testing.T) {
	single, batched := newAttackLedger(t), newAttackLedger(t)
	alice, hank, henry := addrOf(single.alice), addrOf(single.hank), addrOf(single.henry)
	files := func(l *attackLedger) []*PlaceFile {
		fs := []*PlaceFile{
			file(Hash{0xb1}, 100, hank, henry),
			file(Hash{0xb2}, 50, henry),
			file(Hash{0xb3}, 70, alice, hank),
		}
		for _, f := range fs {
			signReceipts(f, alice, l.height+2)
		}
		return fs
	}
	var txs [][]byte
	for _, f := range files(single) {
		txs = append(txs, single.sign(single.alice, f))
	}
	for i, r := range single.block(txs...) {
		if r.Code != 0 {
			t.Fatalf("single place_file %d: %s", i, r.Log)
		}
	}
	batched.mustPass(t, batched.sign(batched.alice, batchOf(files(batched)...)))

	a, b := dump(t, single.app), dump(t, batched.app)
	for _, k := range stateDiff(a, b) {
		if k != string(accountKey(alice)) {
			t.Errorf("state key %q differs between single txs and the batch", k)
		}
	}
	sa, ba := single.account(alice), batched.account(alice)
	if sa.QuotaUsed != 390 || ba.QuotaUsed != sa.QuotaUsed {
		t.Fatalf("quota used: single txs %d, batch %d, want 390 both", sa.QuotaUsed, ba.QuotaUsed)
	}
	if sa.Nonce != 4 || ba.Nonce != 2 {
		t.Fatalf("nonces: single txs %d, batch %d; want 4 (register + 3) and 2 (register + 1)", sa.Nonce, ba.Nonce)
	}
	for _, h := range []Address{hank, henry} {
		if n := batched.node(h); n.HeldForOthers == 0 || n.Used != n.HeldForOthers {
			t.Errorf("holder %s after the batch: used %d, held for others %d", h, n.Used, n.HeldForOthers)
		}
	}
}

// TestPlaceFilesAttacks: a batch gains nothing a sequence of place_file
// txs would not: each attack is refused, in CheckTx and in a block, and
// changes nothing but the signer's nonce — no entry of a refused batch is
// recorded.
func TestPlaceFilesAttacks(t *testing.T) {
	a := newAttackLedger(t)
	alice, hank, henry, mallory := addrOf(a.alice), addrOf(a.hank), addrOf(a.henry), addrOf(a.mallory)
	ok := func(id byte, owner Address, size uint64, holders ...Address) *PlaceFile {
		f := file(Hash{0xc0, id}, size, holders...)
		signReceipts(f, owner, a.height+3)
		return f
	}

	t.Run("more entries than the bound", func(t *testing.T) {
		var fs []*PlaceFile
		for i := range MaxPlaceFilesEntries + 1 {
			fs = append(fs, ok(byte(i), mallory, 1, hank))
		}
		a.mustFail(t, a.mallory, a.sign(a.mallory, batchOf(fs...)), CodeInvalid, fmt.Sprintf("a batch of %d files, want 2 to %d", MaxPlaceFilesEntries+1, MaxPlaceFilesEntries))
		a.mustFail(t, a.mallory, a.sign(a.mallory, batchOf(fs[0])), CodeInvalid, "a batch of 1 files")
		a.mustFail(t, a.mallory, a.sign(a.mallory, &PlaceFiles{}), CodeInvalid, "a batch of 0 files")
	})

	t.Run("more bytes than max_tx_bytes", func(t *testing.T) {
		// 64 entries of 40 one-byte pieces each: ≈ 64 × 40 × 145 bytes.
		var fs []*PlaceFile
		for i := range MaxPlaceFilesEntries {
			hs := make([]Address, 40)
			for j := range hs {
				hs[j] = []Address{hank, henry}[j%2]
			}
			fs = append(fs, ok(byte(i), mallory, 1, hs...))
		}
		tx := a.sign(a.mallory, batchOf(fs...))
		a.nonces[mallory]-- // refused before its nonce
		if len(tx) <= 256<<10 {
			t.Fatalf("the oversized batch is only %d bytes", len(tx))
		}
		a.mustFail(t, a.mallory, tx, CodeTooLarge, "limit 262144")
	})

	t.Run("an empty file in a batch", func(t *testing.T) {
		empty := &PlaceFile{FileID: Hash{0xc1}, K: 1}
		a.mustFail(t, a.mallory, a.sign(a.mallory, batchOf(ok(1, mallory, 10, hank), empty)), CodeInvalid, "is empty")
	})

	t.Run("the same file twice", func(t *testing.T) {
		f := ok(2, mallory, 10, hank)
		g := file(f.FileID, 20, henry) // same id, other pieces
		signReceipts(g, mallory, a.height+3)
		a.mustFail(t, a.mallory, a.sign(a.mallory, batchOf(f, g)), CodeExists, "file 1 of the batch")
	})

	t.Run("a bad receipt in one entry", func(t *testing.T) {
		good, bad := ok(3, mallory, 10, hank), ok(4, mallory, 10, henry)
		// henry's receipt over another file's pieces: it binds the file id.
		bad.Receipts = []Receipt{SignReceipt(a.henry, testChainID, good.FileID, mallory, a.height+3, receiptPieces(bad.Pieces, henry))}
		tx := a.sign(a.mallory, batchOf(good, bad))
		a.mustFail(t, a.mallory, tx, CodeBadReceipt, "file 1 of the batch")
		// The good entry's verified receipts are not noted for the batch.
		if v := a.app.sigs.get(sha256.Sum256(tx)); v == nil || v.receiptsOK.Load() {
			t.Fatal("a batch whose second entry's receipt failed was noted as verified")
		}
		// A receipt of another entry of the same batch (same holder,
		// same pieces) does not verify either.
		twin := ok(5, mallory, 10, hank)
		twin.Receipts = good.Receipts
		a.mustFail(t, a.mallory, a.sign(a.mallory, batchOf(good, twin)), CodeBadReceipt, "file 1 of the batch")
	})

	t.Run("someone else's file", func(t *testing.T) {
		// alice's placement, with receipts naming her, copied from the
		// mempool into mallory's batch: the receipts bind the owner.
		alices := ok(6, alice, 10, hank)
		a.mustFail(t, a.mallory, a.sign(a.mallory, batchOf(ok(7, mallory, 10, henry), alices)), CodeBadReceipt, "does not verify")
		// Once placed, its id is taken for anyone's batch.
		a.mustPass(t, a.sign(a.alice, alices))
		again := ok(6, mallory, 10, henry)
		a.mustFail(t, a.mallory, a.sign(a.mallory, batchOf(ok(8, mallory, 10, hank), again)), CodeExists, "already placed")
		if f := a.file(t, alices.FileID); f.Owner != alice {
			t.Fatalf("alice's file is now %s's", f.Owner)
		}
	})

	t.Run("quota adds up across entries", func(t *testing.T) {
		// mallory, a fresh key, has the allowance (1000 bytes): each file
		// fits alone, the two do not, as two place_file txs would not.
		f, g := ok(9, mallory, 600, hank), ok(10, mallory, 600, henry)
		a.mustFail(t, a.mallory, a.sign(a.mallory, batchOf(f, g)), CodeQuotaExceeded, "file 1 of the batch")
		if v := a.account(mallory); v.QuotaUsed != 0 {
			t.Fatalf("a refused batch charged %d bytes", v.QuotaUsed)
		}
		a.mustPass(t, a.sign(a.mallory, f))
		a.mustFail(t, a.mallory, a.sign(a.mallory, g), CodeQuotaExceeded, "file needs 600")
	})

	t.Run("a holder's capacity counts the entries before", func(t *testing.T) {
		// mike's node pledges 100 bytes; each file fits it, the two do not.
		mike := addrOf(a.mike)
		a.mustPass(t, a.sign(a.mike, registerBody(t, a.mike, 100)))
		f, g := ok(11, alice, 60, mike), ok(12, alice, 60, mike)
		a.mustFail(t, a.alice, a.sign(a.alice, batchOf(f, g)), CodeNoCapacity, "file 1 of the batch")
	})
}

func (a *attackLedger) file(t *testing.T, id Hash) File {
	t.Helper()
	var f File
	if err := a.query(QueryFile+id.String(), &f); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestPlaceFilesByADevice: a device places a batch for its account, as it
// may a place_file: the files are the account's, its quota is charged, and
// the receipts name the device (the key that pushed and signs); receipts
// naming the account do not verify.
func TestPlaceFilesByADevice(t *testing.T) {
	a := newAttackLedger(t)
	alice, hank, henry := addrOf(a.alice), addrOf(a.hank), addrOf(a.henry)
	laptop := testKey(30)
	a.mustPass(t, a.sign(a.alice, addDevice(a.alice, laptop, "laptop")))
	f, g := file(Hash{0xd1}, 10, hank), file(Hash{0xd2}, 20, henry)
	signReceipts(f, alice, a.height+3)
	signReceipts(g, alice, a.height+3)
	a.mustFail(t, laptop, a.signFor(laptop, alice, batchOf(f, g)), CodeBadReceipt, "file 0 of the batch")
	signReceipts(f, addrOf(laptop), a.height+3)
	signReceipts(g, addrOf(laptop), a.height+3)
	before := a.account(alice).QuotaUsed
	a.mustPass(t, a.signFor(laptop, alice, batchOf(f, g)))
	if v := a.account(alice); v.QuotaUsed != before+30 {
		t.Fatalf("alice's quota used %d after her device's batch, want %d", v.QuotaUsed, before+30)
	}
	for _, id := range []Hash{f.FileID, g.FileID} {
		if rec := a.file(t, id); rec.Owner != alice {
			t.Fatalf("file %s is %s's, want the account's", id, rec.Owner)
		}
	}
}
