package chain

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"
)

// fuzzSeeds are valid txs of every type plus near misses. The checked-in
// corpus (testdata/fuzz/FuzzDecodeTx, FuzzCheckTx) holds them
// (TestFuzzCorpusHoldsTheSeeds).
func fuzzSeeds(t testing.TB) [][]byte {
	k, other := testKey(0), testKey(1)
	pid, _ := PeerIDOf(k.Public().(ed25519.PublicKey))
	p := uint64(5)
	addrs := []string{"/ip4/127.0.0.1/tcp/1"}
	bodies := []Body{
		&Transfer{To: addrOf(other), Amount: 10},
		&RegisterNode{PeerID: pid, Addrs: addrs, Pledge: 3000, CPU: 2},
		&UpdateNode{Pledge: &p, Addrs: &addrs},
		func() Body {
			pf := &PlaceFile{FileID: Hash{1}, Size: 10, K: 1, M: 1, Pieces: []Piece{piece(0, 0, addrOf(other), 5), piece(0, 1, addrOf(k), 5)}}
			signReceipts(pf, addrOf(k), 10)
			return pf
		}(),
		&RemoveFile{FileID: Hash{1}},
		&ReplacePieces{FileID: Hash{1}, Pieces: []Replacement{{Index: 1, Holder: addrOf(other)}},
			Receipts: []Receipt{SignReceipt(other, testChainID, Hash{1}, addrOf(k), 10, []ReceiptPiece{{ID: Hash{0, 1, 1}, Root: Hash{0, 1, 2}, Size: 5, Leaves: 1}})}},
		&ReportLost{Pieces: []PieceRef{{File: Hash{1}, Segment: 0, Index: 1}, {File: Hash{2}, Segment: 3, Index: 0}}},
		&ProveStorage{Epoch: 2, Challenges: Hash{7}, Proofs: [][]byte{{1, 2, 3}, {}}},
		func() Body {
			a := LeafAnswer{File: Hash{1}, Segment: 1, Piece: Hash{2}, Leaf: 3, Proof: []byte{1, 2, 3}}
			a.Sign(other, testChainID)
			return &ReportFault{Answer: a}
		}(),
		&SubmitJob{Module: Hash{1}, Input: Hash{2}, FuelLimit: 1000, MemoryLimit: 1 << 16, Replicas: 3, Quorum: 2, Price: 1},
		&SubmitJob{Module: Hash{1}, InlineInput: []byte("input"), FuelLimit: 1, MemoryLimit: 1 << 20},
		&CommitResult{Job: Hash{3}, Commitment: Hash{4}},
		&RevealResult{Job: Hash{3}, Result: JobResult{CostTable: 1, Status: ResultTrapped, Trap: "out_of_fuel", FuelUsed: 1000, OutputHash: Hash{5}}, Salt: make([]byte, MinSaltBytes), OutputFile: Hash{6}},
		&ValidatorVote{PubKey: other.Public().(ed25519.PublicKey), Power: 10, SetVersion: 1},
		func() Body {
			p := piece(0, 2, addrOf(other), 5)
			return &RaisePieces{FileID: Hash{1}, M: 2, Pieces: []Piece{p},
				Receipts: []Receipt{SignReceipt(other, testChainID, Hash{1}, addrOf(k), 10, receiptPieces([]Piece{p}, addrOf(other)))}}
		}(),
		&PlaceFile{FileID: Hash{2}, Size: 5, K: 1, M: 0, AskedM: 2, Pieces: []Piece{piece(0, 0, addrOf(k), 5)}},
		addDevice(k, other, "phone"),
		&RemoveDevice{Device: addrOf(other)},
		&SetRoot{Version: 1, Root: []byte("sealed root")},
		&RegisterName{Name: "ann"},
		&ReleaseName{},
		newShare(addrOf(k), addrOf(other), []byte("sealed key"), true),
		&SetShare{ShareID: Hash{9}, Version: 2, Pointer: []byte("p")},
		&Unshare{ShareID: Hash{9}},
		&SetInbox{Key: []byte("0123456789abcdef0123456789abcdef")},
		func() Body {
			a := PlaceFile{FileID: Hash{3}, Size: 5, K: 1, M: 1, Pieces: []Piece{piece(0, 0, addrOf(other), 5), piece(0, 1, addrOf(k), 5)}}
			b := PlaceFile{FileID: Hash{4}, Size: 5, K: 1, M: 0, Pieces: []Piece{piece(0, 0, addrOf(other), 5)}, SealedKey: []byte{1}}
			signReceipts(&a, addrOf(k), 10)
			signReceipts(&b, addrOf(k), 10)
			return &PlaceFiles{Files: []PlaceFile{a, b}}
		}(),
	}
	var out [][]byte
	for i, b := range bodies {
		tx, err := NewTx(testChainID, b, k, uint64(i))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tx.Bytes())
	}
	out = append(out, []byte{}, []byte{0xa0}, []byte{0xbf, 0xff}, out[0][:20])
	// A device acting for its account (Tx.Account).
	tx, err := NewTxFor(testChainID, &SetRoot{Version: 2, Root: []byte("from a device")}, other, addrOf(k), 0)
	if err != nil {
		t.Fatal(err)
	}
	return append(out, tx.Bytes())
}

func FuzzDecodeTx(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tx, err := DecodeTx(b)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to the same bytes (one encoding per tx).
		if string(tx.Bytes()) != string(b) {
			t.Fatalf("decoded tx re-encodes differently")
		}
		body, err := DecodeBody(tx)
		if err != nil {
			return
		}
		if body.TxType() != tx.Type {
			t.Fatalf("body type %q in a %q tx", body.TxType(), tx.Type)
		}
	})
}

// FuzzCheckTx runs arbitrary bytes through the whole CheckTx path of a
// ledger with accounts, nodes and a file: no panic, and every rejection has
// a known code and a message.
func FuzzCheckTx(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		l := newTestLedger(t, "", testKey(0), testKey(1))
		res, err := l.app.CheckTx(context.Background(), &abci.CheckTxRequest{Tx: b, Type: abci.CHECK_TX_TYPE_CHECK})
		if err != nil {
			t.Fatal(err)
		}
		if res.Code != 0 && (res.Log == "" || Code(res.Code) == CodeInternal) {
			t.Fatalf("rejection without a reason: %d %q", res.Code, res.Log)
		}
		out := l.block(b)
		if out[0].Code != res.Code {
			t.Fatalf("CheckTx said %d (%s), FinalizeBlock %d (%s)", res.Code, res.Log, out[0].Code, out[0].Log)
		}
	})
}

// FuzzVerifySignature checks that the fast verifier accepts exactly what
// crypto/ed25519 accepts (the ledger's rule is crypto/ed25519's).
func FuzzVerifySignature(f *testing.F) {
	k := testKey(3)
	msg := []byte("coop")
	sig := ed25519.Sign(k, msg)
	f.Add(msg, sig, uint16(0))
	f.Add(msg, sig, uint16(17))
	f.Add([]byte{}, make([]byte, 64), uint16(3))
	pub := k.Public().(ed25519.PublicKey)
	f.Fuzz(func(t *testing.T, m, s []byte, flip uint16) {
		if len(s) != ed25519.SignatureSize {
			return
		}
		s = append([]byte(nil), s...)
		if flip != 0 {
			s[int(flip)%len(s)] ^= byte(flip >> 8)
		}
		if got, want := verifySignature(pub, m, s), ed25519.Verify(pub, m, s); got != want {
			t.Fatalf("verifier says %v, crypto/ed25519 says %v", got, want)
		}
	})
}

// TestFuzzCorpusHoldsTheSeeds checks that every seed of fuzzSeeds is in the
// checked-in corpora of FuzzDecodeTx and FuzzCheckTx, so a plain go test
// runs them all (and -fuzz starts from them).
func TestFuzzCorpusHoldsTheSeeds(t *testing.T) {
	for _, dir := range []string{"FuzzDecodeTx", "FuzzCheckTx"} {
		entries, err := os.ReadDir(filepath.Join("testdata", "fuzz", dir))
		if err != nil {
			t.Fatal(err)
		}
		have := map[string]bool{}
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join("testdata", "fuzz", dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			have[string(b)] = true
		}
		for i, s := range fuzzSeeds(t) {
			if enc := corpusEntry(s); !have[enc] {
				if *update {
					name := filepath.Join("testdata", "fuzz", dir, fmt.Sprintf("seed%02d", len(entries)))
					entries = append(entries, nil)
					if err := os.WriteFile(name, []byte(enc), 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				t.Errorf("%s: seed %d is not in the corpus (add it with go test ./chain -run TestFuzzCorpusHoldsTheSeeds -update)", dir, i)
			}
		}
	}
}

// corpusEntry is a []byte seed in the go test fuzz v1 encoding.
func corpusEntry(b []byte) string {
	return "go test fuzz v1\n[]byte(" + strconv.Quote(string(b)) + ")\n"
}
