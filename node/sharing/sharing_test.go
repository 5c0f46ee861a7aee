package sharing

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/coop-network/coop/storage/namespace"
)

func rootKey(b byte) [32]byte { return [32]byte{b, 1, 2, 3} }

// TestSealKey: a share key sealed to an inbox opens with that inbox's
// private key for the owner and recipient it was sealed for, and not with
// another account's inbox, for other accounts, or altered in any byte.
func TestSealKey(t *testing.T) {
	bob, eve := must(InboxKey(rootKey(2))), must(InboxKey(rootKey(3)))
	owner, recip := [20]byte{1}, [20]byte{2}
	key := [32]byte{9, 9, 9}
	s, err := SealKey(bob.PublicKey().Bytes(), owner, recip, key)
	if err != nil || len(s) != KeySealedSize {
		t.Fatalf("seal: %d bytes, %v", len(s), err)
	}
	if got, err := OpenKey(bob, owner, recip, s); err != nil || got != key {
		t.Fatalf("open: %v", err)
	}
	if _, err := OpenKey(eve, owner, recip, s); !errors.Is(err, ErrSealed) {
		t.Fatalf("another inbox opened it: %v", err)
	}
	if _, err := OpenKey(bob, owner, [20]byte{3}, s); !errors.Is(err, ErrSealed) {
		t.Fatalf("opened for another recipient: %v", err)
	}
	for i := range s {
		c := bytes.Clone(s)
		c[i] ^= 1
		if _, err := OpenKey(bob, owner, recip, c); !errors.Is(err, ErrSealed) {
			t.Fatalf("byte %d altered: %v", i, err)
		}
	}
	if _, err := SealKey(make([]byte, 31), owner, recip, key); err == nil {
		t.Fatal("sealed to a 31-byte inbox key")
	}
}

// TestPointer: a pointer opens its tree with the share key and its path
// only with the owner's path key; a long path is refused; the size stays
// within the ledger's limit.
func TestPointer(t *testing.T) {
	owner, id := [20]byte{1}, [32]byte{7}
	seed := NewSeed()
	sk := must(ShareKey(rootKey(1), seed))
	pk := must(PathKey(rootKey(1)))
	p := Pointer{Seed: seed, Tree: namespace.Pointer{FileID: [32]byte{4}, Key: [32]byte{5}, Size: 99}, Path: "/docs/" + strings.Repeat("x", MaxPathBytes-6)}
	b, err := Seal(sk, pk, owner, id, p)
	if err != nil || len(b) != MaxPointerBytes {
		t.Fatalf("seal: %d bytes, %v", len(b), err)
	}
	got, err := Open(sk, owner, id, b)
	if err != nil || got.Tree != p.Tree || got.Seed != seed || got.Path != "" {
		t.Fatalf("open: %+v %v", got, err)
	}
	if path, err := OpenPath(pk, owner, b); err != nil || path != p.Path {
		t.Fatalf("path: %q %v", path, err)
	}
	if _, err := OpenPath(sk, owner, b); !errors.Is(err, ErrSealed) {
		t.Fatalf("the share key opened the path: %v", err)
	}
	if _, err := Open(sk, owner, [32]byte{8}, b); !errors.Is(err, ErrSealed) {
		t.Fatalf("opened as another share: %v", err)
	}
	if s, err := SeedOf(b); err != nil || s != seed {
		t.Fatal("seed")
	}
	// The recipient of a writable share replaces the tree and keeps the
	// owner's path.
	nt := namespace.Pointer{FileID: [32]byte{6}, Size: 5}
	rb, err := Reseal(sk, owner, id, b, nt)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Open(sk, owner, id, rb); err != nil || got.Tree != nt || got.Seed != seed {
		t.Fatalf("resealed: %+v %v", got, err)
	}
	if path, err := OpenPath(pk, owner, rb); err != nil || path != p.Path {
		t.Fatalf("resealed path: %q %v", path, err)
	}
	if _, err := Reseal(must(ShareKey(rootKey(2), seed)), owner, id, b, nt); !errors.Is(err, ErrSealed) {
		t.Fatalf("resealed with another key: %v", err)
	}
	p.Path += "y"
	if _, err := Seal(sk, pk, owner, id, p); !errors.Is(err, ErrPathTooLong) {
		t.Fatalf("a path of %d bytes: %v", len(p.Path), err)
	}
}

// FuzzOpen: neither opener panics or accepts bytes they did not seal.
func FuzzOpen(f *testing.F) {
	owner, recip, id := [20]byte{1}, [20]byte{2}, [32]byte{7}
	inbox := must(InboxKey(rootKey(2)))
	sk, pk := must(ShareKey(rootKey(1), [SeedSize]byte{})), must(PathKey(rootKey(1)))
	f.Add(must(SealKey(inbox.PublicKey().Bytes(), owner, recip, sk)))
	f.Add(must(Seal(sk, pk, owner, id, Pointer{Path: "/public"})))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if k, err := OpenKey(inbox, owner, recip, b); err == nil && k != sk {
			t.Fatal("opened a key that was not sealed")
		}
		if _, err := Open(sk, owner, id, b); err == nil && len(b) > MaxPointerBytes {
			t.Fatal("opened an oversized pointer")
		}
		if p, err := OpenPath(pk, owner, b); err == nil && len(p) > MaxPathBytes {
			t.Fatal("a path over the limit")
		}
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
