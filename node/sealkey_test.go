package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/proofs"
	"github.com/coop-network/coop/storage"
)

// testSealKey is the seal key of the account whose ed25519 seed is b
// repeated.
func testSealKey(t testing.TB, b byte) [32]byte {
	t.Helper()
	ak, err := DeriveAccountKeys(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, ed25519.SeedSize)))
	if err != nil {
		t.Fatal(err)
	}
	return ak.SealKey
}

// TestSealedKeyOpensOnlyWithTheAccountKeyAndFileID seals a file key and
// checks that only the same account key and file id open it, and that any
// tampering, truncation or unknown version is ErrSealedKey, never a panic.
func TestSealedKeyOpensOnlyWithTheAccountKeyAndFileID(t *testing.T) {
	key, other := testSealKey(t, 1), testSealKey(t, 2)
	var id [32]byte
	var fk [storage.KeySize]byte
	_, _ = rand.Read(id[:])
	_, _ = rand.Read(fk[:])
	sealed, err := sealFileKey(key, id, fk)
	if err != nil {
		t.Fatal(err)
	}
	if len(sealed) != sealedKeySize || len(sealed) > chain.MaxSealedKeyBytes {
		t.Fatalf("sealed key is %d bytes, want %d ≤ %d", len(sealed), sealedKeySize, chain.MaxSealedKeyBytes)
	}
	again, _ := sealFileKey(key, id, fk)
	if bytes.Equal(again, sealed) {
		t.Fatal("two seals of one key are equal: the nonce is not random")
	}
	c, err := openFileKey(key, id, sealed)
	if err != nil || c.Key != fk || c.FileID != id {
		t.Fatalf("open with the account key: %v, key ok %v", err, c.Key == fk)
	}
	if _, err := openFileKey(other, id, sealed); !errors.Is(err, ErrSealedKey) {
		t.Fatalf("open with another account's key: %v, want ErrSealedKey", err)
	}
	otherID := id
	otherID[0] ^= 1
	if _, err := openFileKey(key, otherID, sealed); !errors.Is(err, ErrSealedKey) {
		t.Fatalf("open under another file id: %v, want ErrSealedKey", err)
	}
	for i := range sealed {
		bad := bytes.Clone(sealed)
		bad[i] ^= 0x40
		if _, err := openFileKey(key, id, bad); !errors.Is(err, ErrSealedKey) {
			t.Fatalf("byte %d flipped: %v, want ErrSealedKey", i, err)
		}
	}
	for _, n := range []int{1, sealedKeySize - 1, sealedKeySize + 1, chain.MaxSealedKeyBytes} {
		b := make([]byte, n)
		copy(b, sealed)
		if _, err := openFileKey(key, id, b); !errors.Is(err, ErrSealedKey) {
			t.Fatalf("%d bytes: %v, want ErrSealedKey", n, err)
		}
	}
	if _, err := openFileKey(key, id, nil); !errors.Is(err, ErrNoSealedKey) {
		t.Fatalf("no sealed key: %v, want ErrNoSealedKey", err)
	}
}

// FuzzOpenFileKey opens arbitrary ledger bytes as a sealed key: an error
// or the one key that was sealed, never a panic.
func FuzzOpenFileKey(f *testing.F) {
	key := testSealKey(f, 1)
	id := [32]byte{7}
	sealed, err := sealFileKey(key, id, [storage.KeySize]byte{9})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sealed)
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Add(make([]byte, chain.MaxSealedKeyBytes))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := openFileKey(key, id, b)
		// Only seals made with key (of file key 9, like the corpus's) open.
		if err == nil && (c.Key != [storage.KeySize]byte{9} || len(b) != sealedKeySize) {
			t.Fatalf("%x opened to %x", b, c.Key)
		}
	})
}

// TestOwnFilesReadableFromTheLedgerAlone puts a file, restarts the
// uploader with its keyring (files.json) deleted, as a second device of
// the account would be, and reads the file back bit-exact with the
// capability ls shows and by file id; a record whose sealed key was
// tampered with, one without a sealed key and another account's file are
// refused with clear errors.
func TestOwnFilesReadableFromTheLedgerAlone(t *testing.T) {
	if testing.Short() {
		t.Skip("starts CometBFT validators")
	}
	net := StartTestNetwork(t, 2, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	data := make([]byte, 1<<20+300<<10)
	_, _ = rand.Read(data)
	res, err := apiClient(t, net.Nodes[0]).Put(ctx, bytes.NewReader(data), int64(len(data)), api.PutOptions{Copies: 2, Name: "photo.jpg"})
	if err != nil {
		t.Fatal(err)
	}
	f, err := net.Nodes[0].lc.File(ctx, chain.Hash(mustID(t, res.FileID)))
	if err != nil || len(f.SealedKey) != sealedKeySize {
		t.Fatalf("the placement has a %d-byte sealed key (%v), want %d", len(f.SealedKey), err, sealedKeySize)
	}

	net.Stop(0)
	if err := os.Remove(filepath.Join(net.Configs[0].Home, keyringFile)); err != nil {
		t.Fatal(err)
	}
	a := net.Restart(0)
	b := net.Nodes[1]
	ca := apiClient(t, a)
	files, err := ca.Files(ctx)
	if err != nil || len(files) != 1 {
		t.Fatalf("files after losing the keyring: %+v %v", files, err)
	}
	if files[0].Capability != res.Capability || files[0].KeyError != "" {
		t.Fatalf("ls gives capability %q (key error %q), the put gave %q", files[0].Capability, files[0].KeyError, res.Capability)
	}
	if got, err := getAll(ctx, ca, files[0].Capability); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read with the capability from the ledger: %v, bit-exact %v", err, bytes.Equal(got, data))
	}
	dropCache(t, a)
	if got, err := getAll(ctx, ca, res.FileID); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read by file id: %v, bit-exact %v", err, bytes.Equal(got, data))
	}

	// Records the account key cannot open, placed directly on the ledger
	// (a piece's id binds its root and size).
	pid := chain.Hash(proofs.ID(proofs.Hash{2}, 1))
	place := func(id chain.Hash, sealed []byte) {
		t.Helper()
		tx := &chain.PlaceFile{FileID: id, Size: 1, K: 1, M: 0, SealedKey: sealed,
			Pieces: []chain.Piece{{Holder: b.addr, ID: pid, Size: 1, Root: chain.Hash{2}, Leaves: 1}}}
		h, _, err := a.lc.Height(ctx)
		if err != nil {
			t.Fatal(err)
		}
		tx.Receipts = []chain.Receipt{chain.SignReceipt(net.Ledger.Key(1), a.lc.ChainID(), id, a.addr, h+50,
			[]chain.ReceiptPiece{{ID: pid, Root: chain.Hash{2}, Size: 1, Leaves: 1}})}
		if _, err := a.lc.BroadcastCommit(ctx, tx); err != nil {
			t.Fatal(err)
		}
	}
	tampered := bytes.Clone(f.SealedKey)
	tampered[len(tampered)-1] ^= 1
	tamperedID, bareID := chain.Hash{0xee, 1}, chain.Hash{0xee, 2}
	place(tamperedID, tampered)
	place(bareID, nil)
	if files, err = ca.Files(ctx); err != nil || len(files) != 3 {
		t.Fatalf("files: %+v %v", files, err)
	}
	for _, fi := range files {
		switch fi.FileID {
		case tamperedID.String():
			if fi.Capability != "" || !strings.Contains(fi.KeyError, "does not open") {
				t.Fatalf("tampered sealed key listed as %+v", fi)
			}
		case bareID.String():
			if fi.Capability != "" || !strings.Contains(fi.KeyError, "without a sealed key") {
				t.Fatalf("file without a sealed key listed as %+v", fi)
			}
		}
	}
	for id, want := range map[chain.Hash]string{tamperedID: "does not open with this account's key", bareID: "placed without a sealed key"} {
		if _, err := getAll(ctx, ca, id.String()); err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("get by file id %s: %v, want an error saying %q", id, err, want)
		}
	}
	if _, err := getAll(ctx, apiClient(t, b), res.FileID); err == nil || !strings.Contains(err.Error(), "belongs to account "+a.addr.String()) {
		t.Fatalf("another account's get by file id: %v, want an error naming the owner", err)
	}
}
