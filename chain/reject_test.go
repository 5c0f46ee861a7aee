package chain

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"math"
	"math/big"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/coop-network/coop/proofs"
)

// fixture is a ledger with a few accounts, two nodes and one placed file.
type fixture struct {
	*testLedger
	alice, bob, carol, dave, erin ed25519.PrivateKey
	file                          Hash
}

func piece(seg, idx uint32, holder Address, size uint64) Piece {
	root := Hash{byte(seg), byte(idx), 2} // a made-up commitment; the id binds it and the size
	return Piece{Segment: seg, Index: idx, Holder: holder, ID: Hash(proofs.ID(proofs.Hash(root), size)), Size: size, Root: root, Leaves: leafCount(size)}
}

func registerBody(t testing.TB, k ed25519.PrivateKey, pledge uint64) *RegisterNode {
	pid, err := PeerIDOf(k.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	return &RegisterNode{PeerID: pid, Addrs: []string{"/ip4/127.0.0.1/tcp/4001"}, Pledge: pledge, CPU: 1}
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{alice: testKey(0), bob: testKey(1), carol: testKey(2), dave: testKey(3), erin: testKey(4)}
	g := testGenesis(f.alice, f.bob)
	// erin is at the credit ceiling, to test overflow.
	g.Accounts = append(g.Accounts, GenesisAccount{Address: addrOf(f.erin), Credits: math.MaxUint64})
	f.testLedger = newTestLedgerGenesis(t, "", g)
	f.file = Hash{0xf1}
	res := f.block(
		f.sign(f.carol, registerBody(t, f.carol, 3000)),
		f.sign(f.dave, registerBody(t, f.dave, 100)),
	)
	res = append(res, f.block(f.sign(f.alice, f.receipted(f.alice, &PlaceFile{FileID: f.file, Size: 100, K: 1, M: 1, Pieces: []Piece{
		piece(0, 0, addrOf(f.carol), 60), piece(0, 1, addrOf(f.dave), 60)}})))...)
	for i, r := range res {
		if r.Code != 0 {
			t.Fatalf("fixture tx %d: %s", i, r.Log)
		}
	}
	return f
}

// dump returns every key/value of the committed state.
func dump(t *testing.T, a *App) map[string][]byte {
	t.Helper()
	it, err := a.tree.GetImmutable(a.version)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	if _, err := it.Iterate(func(k, v []byte) bool { out[string(k)] = append([]byte(nil), v...); return false }); err != nil {
		t.Fatal(err)
	}
	return out
}

// rawTx signs an envelope with arbitrary type and body bytes.
func rawTx(chainID, typ string, body []byte, k ed25519.PrivateKey, nonce uint64) []byte {
	tx := &Tx{ChainID: chainID, Type: typ, Body: body, PubKey: k.Public().(ed25519.PublicKey), Nonce: nonce}
	tx.Sig = ed25519.Sign(k, tx.SignBytes())
	return tx.Bytes()
}

func TestRejectedTxsSayWhyAndChangeNothing(t *testing.T) {
	cases := []struct {
		name string
		tx   func(f *fixture) []byte
		code Code
		msg  string
		// consumesNonce: the tx passes authentication and fails its rule, so
		// inside a block it spends its nonce (and changes nothing else).
		consumesNonce bool
	}{
		{"a tx with a flipped signature bit is refused", func(f *fixture) []byte {
			tx, _ := DecodeTx(f.sign(f.alice, &Transfer{To: addrOf(f.bob), Amount: 1}))
			tx.Sig[3] ^= 1
			return tx.Bytes()
		}, CodeBadSignature, "signature does not verify", false},
		{"a tx for another chain is refused", func(f *fixture) []byte {
			tx, _ := NewTx("other-chain", &Transfer{To: addrOf(f.bob), Amount: 1}, f.alice, f.nonces[addrOf(f.alice)])
			return tx.Bytes()
		}, CodeWrongChain, `tx is for "other-chain"`, false},
		{"a replayed nonce is refused", func(f *fixture) []byte {
			tx, _ := NewTx(testChainID, &Transfer{To: addrOf(f.bob), Amount: 1}, f.alice, 0)
			return tx.Bytes()
		}, CodeBadNonce, "expects nonce 1, tx has 0", false},
		{"a nonce from the future is refused", func(f *fixture) []byte {
			tx, _ := NewTx(testChainID, &Transfer{To: addrOf(f.bob), Amount: 1}, f.alice, 7)
			return tx.Bytes()
		}, CodeBadNonce, "expects nonce 1, tx has 7", false},
		{"an unknown tx type is refused", func(f *fixture) []byte {
			return rawTx(testChainID, "mint", []byte{0xa0}, f.alice, 1)
		}, CodeUnknownType, `unknown tx type "mint"`, false},
		{"truncated bytes are refused", func(f *fixture) []byte {
			b := f.sign(f.alice, &Transfer{To: addrOf(f.bob), Amount: 1})
			return b[:len(b)-7]
		}, CodeEncoding, "malformed encoding", false},
		{"garbage bytes are refused", func(f *fixture) []byte {
			return []byte("GET / HTTP/1.1\r\n\r\n")
		}, CodeEncoding, "malformed encoding", false},
		{"a non-canonical encoding is refused", func(f *fixture) []byte {
			tx, _ := DecodeTx(f.sign(f.alice, &Transfer{To: addrOf(f.bob), Amount: 1}))
			// Length-first key order instead of core deterministic order.
			b, _ := cbor.Marshal(map[string]any{"type": tx.Type, "body": tx.Body, "sig": tx.Sig, "nonce": tx.Nonce, "pubkey": tx.PubKey, "chain_id": tx.ChainID})
			if bytes.Equal(b, tx.Bytes()) {
				panic("encoding unexpectedly canonical")
			}
			return b
		}, CodeEncoding, "canonical", false},
		{"an oversized tx is refused", func(f *fixture) []byte {
			var ps []Piece
			for i := range 3000 {
				ps = append(ps, piece(uint32(i/2), uint32(i%2), addrOf(f.carol), 1))
			}
			return f.sign(f.alice, f.receipted(f.alice, &PlaceFile{FileID: Hash{9}, K: 1, M: 1, Pieces: ps}))
		}, CodeTooLarge, "limit 262144", false},
		{"a placement over quota is refused", func(f *fixture) []byte {
			return f.sign(f.alice, f.receipted(f.alice, &PlaceFile{FileID: Hash{2}, Size: 1, K: 1, M: 1, Pieces: []Piece{
				piece(0, 0, addrOf(f.carol), 900), piece(0, 1, addrOf(f.dave), 40)}}))
		}, CodeQuotaExceeded, "uses 120 of 1000 bytes, file needs 940", true},
		{"a placement on an unregistered holder is refused", func(f *fixture) []byte {
			return f.sign(f.alice, f.receipted(f.alice, &PlaceFile{FileID: Hash{2}, Size: 1, K: 1, M: 1, Pieces: []Piece{
				piece(0, 0, addrOf(f.carol), 10), piece(0, 1, addrOf(f.bob), 10)}}))
		}, CodeHolderNotRegistered, "names holder " + addrOf(testKey(1)).String(), true},
		{"a placement naming one holder twice in a segment is refused", func(f *fixture) []byte {
			return f.sign(f.alice, f.receipted(f.alice, &PlaceFile{FileID: Hash{2}, Size: 1, K: 1, M: 1, Pieces: []Piece{
				piece(0, 0, addrOf(f.carol), 10), piece(0, 1, addrOf(f.carol), 10)}}))
		}, CodeDuplicateHolder, "named twice in segment 0", true},
		{"a placement beyond a holder's free pledge is refused", func(f *fixture) []byte {
			return f.sign(f.alice, f.receipted(f.alice, &PlaceFile{FileID: Hash{2}, Size: 1, K: 1, M: 1, Pieces: []Piece{
				piece(0, 0, addrOf(f.carol), 50), piece(0, 1, addrOf(f.dave), 50)}}))
		}, CodeNoCapacity, "has 40 bytes free", true},
		{"a piece whose leaf count does not match its size is refused", func(f *fixture) []byte {
			p := piece(0, 0, addrOf(f.carol), 2049)
			p.Leaves = 2
			return f.sign(f.alice, f.receipted(f.alice, &PlaceFile{FileID: Hash{2}, Size: 1, K: 1, M: 0, Pieces: []Piece{p}}))
		}, CodeInvalid, "of 2049 bytes has 2 leaves, want 3", true},
		{"a piece whose id does not bind its Merkle root is refused", func(f *fixture) []byte {
			p := piece(0, 0, addrOf(f.carol), 10)
			p.Root[31] ^= 1
			return f.sign(f.alice, f.receipted(f.alice, &PlaceFile{FileID: Hash{2}, Size: 1, K: 1, M: 0, Pieces: []Piece{p}}))
		}, CodeInvalid, "but its root", true},
		{"a piece whose id does not bind its size is refused", func(f *fixture) []byte {
			p := piece(0, 0, addrOf(f.carol), 10)
			p.Size = 11
			return f.sign(f.alice, f.receipted(f.alice, &PlaceFile{FileID: Hash{2}, Size: 1, K: 1, M: 0, Pieces: []Piece{p}}))
		}, CodeInvalid, "and 11 bytes give id", true},
		{"a placement without its holders' receipts is refused", func(f *fixture) []byte {
			return f.sign(f.alice, &PlaceFile{FileID: Hash{2}, Size: 1, K: 1, M: 1, Pieces: []Piece{
				piece(0, 0, addrOf(f.carol), 10), piece(0, 1, addrOf(f.dave), 10)}})
		}, CodeBadReceipt, "0 receipts for 2 distinct holders", true},
		{"placing an existing file id is refused", func(f *fixture) []byte {
			return f.sign(f.bob, f.receipted(f.bob, &PlaceFile{FileID: f.file, Size: 1, K: 1, M: 0, Pieces: []Piece{piece(0, 0, addrOf(f.carol), 1)}}))
		}, CodeExists, "already placed", true},
		{"pieces out of segment order are refused", func(f *fixture) []byte {
			return f.sign(f.alice, f.receipted(f.alice, &PlaceFile{FileID: Hash{2}, Size: 1, K: 1, M: 1, Pieces: []Piece{
				piece(0, 1, addrOf(f.carol), 10), piece(0, 0, addrOf(f.dave), 10)}}))
		}, CodeInvalid, "want segment 0 index 0", true},
		{"removing someone else's file is refused", func(f *fixture) []byte {
			return f.sign(f.bob, &RemoveFile{FileID: f.file})
		}, CodeUnauthorized, "belongs to " + addrOf(testKey(0)).String(), true},
		{"removing a missing file is refused", func(f *fixture) []byte {
			return f.sign(f.alice, &RemoveFile{FileID: Hash{0xee}})
		}, CodeNotFound, "file ee00", true},
		{"a transfer beyond the balance is refused", func(f *fixture) []byte {
			return f.sign(f.alice, &Transfer{To: addrOf(f.bob), Amount: 1001})
		}, CodeInsufficientFunds, "has 1000 credits, transfer needs 1001", true},
		{"a transfer of zero is refused", func(f *fixture) []byte {
			return f.sign(f.alice, &Transfer{To: addrOf(f.bob), Amount: 0})
		}, CodeInvalid, "transfer of 0", true},
		{"a negative amount is refused", func(f *fixture) []byte {
			body, _ := encMode.Marshal(map[string]any{"to": addrOf(f.bob), "amount": -5})
			return rawTx(testChainID, TypeTransfer, body, f.alice, 1)
		}, CodeEncoding, "cannot unmarshal negative integer", false},
		{"an amount beyond 64 bits is refused", func(f *fixture) []byte {
			body, _ := encMode.Marshal(map[string]any{"to": addrOf(f.bob), "amount": new(big.Int).Lsh(big.NewInt(1), 70)})
			return rawTx(testChainID, TypeTransfer, body, f.alice, 1)
		}, CodeEncoding, "tag", false},
		{"a transfer that overflows the recipient is refused", func(f *fixture) []byte {
			return f.sign(f.bob, &Transfer{To: addrOf(f.erin), Amount: 1})
		}, CodeOverflow, "exceed 2^64-1", true},
		{"registering a node twice is refused", func(f *fixture) []byte {
			return f.sign(f.carol, registerBody(t, f.carol, 5))
		}, CodeExists, "already registered", true},
		{"registering someone else's peer id is refused", func(f *fixture) []byte {
			return f.sign(f.bob, registerBody(t, f.carol, 5))
		}, CodeInvalid, "not the peer id of the signer's key", true},
		{"a pledge below the bytes held is refused", func(f *fixture) []byte {
			p := uint64(10)
			return f.sign(f.dave, &UpdateNode{Pledge: &p})
		}, CodeInvalid, "below the 60 bytes the node holds", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			tx := c.tx(f)
			before := dump(t, f.app)
			res := f.check(tx)
			if Code(res.Code) != c.code || !strings.Contains(res.Log, c.msg) {
				t.Fatalf("CheckTx: code %d %q, want code %d containing %q", res.Code, res.Log, c.code, c.msg)
			}
			if res.Codespace != Codespace {
				t.Fatalf("CheckTx: codespace %q, want %q", res.Codespace, Codespace)
			}
			// The mempool view is unchanged: alice's next valid tx still passes.
			next, _ := NewTx(testChainID, &Transfer{To: addrOf(f.bob), Amount: 1}, f.alice, 1)
			if r := f.check(next.Bytes()); r.Code != 0 {
				t.Fatalf("after a rejected tx, a valid one fails: %s", r.Log)
			}
			// In a block the tx fails the same way and changes nothing (but
			// its nonce, if it got past authentication).
			out := f.block(tx)
			if Code(out[0].Code) != c.code || out[0].Log != res.Log || out[0].Codespace != Codespace || !bytes.Equal(out[0].Data, res.Data) {
				t.Fatalf("FinalizeBlock: code %d %q, CheckTx said %d %q", out[0].Code, out[0].Log, res.Code, res.Log)
			}
			after := dump(t, f.app)
			diff := stateDiff(before, after)
			var signer Address
			if d, err := DecodeTx(tx); err == nil {
				signer = d.Signer()
			}
			for _, k := range diff {
				if strings.HasPrefix(k, prefixEpoch) || k == keyCurrentEpoch {
					continue // a new block may start an epoch
				}
				if c.consumesNonce && k == string(accountKey(signer)) {
					var a, b Account
					Unmarshal(before[k], &a)
					Unmarshal(after[k], &b)
					if b.Nonce == a.Nonce+1 {
						// The nonce is spent, and a first tx records the key.
						a.Nonce, a.PubKey = b.Nonce, b.PubKey
						if fmt.Sprint(a) == fmt.Sprint(b) {
							continue
						}
					}
				}
				t.Errorf("state key %q changed", k)
			}
		})
	}
}

func stateDiff(a, b map[string][]byte) []string {
	var out []string
	for k, v := range a {
		if !bytes.Equal(v, b[k]) {
			out = append(out, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	return out
}
