package namespace

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func samplePointer() (key [32]byte, p Pointer) {
	key[0], key[31] = 7, 9
	p.FileID[0], p.Key[0], p.Size = 1, 2, 123456789
	return key, p
}

func TestSealOpen(t *testing.T) {
	key, p := samplePointer()
	ad := []byte("account 1234 chain coop-test")
	s, err := Seal(key, ad, p)
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != sealedSize || len(s) > MaxSealed || s[0] != sealVersion {
		t.Fatalf("sealed %d bytes, version %d", len(s), s[0])
	}
	got, err := Open(key, ad, s)
	if err != nil || got != p {
		t.Fatalf("Open = %#v, %v", got, err)
	}
	s2, _ := Seal(key, ad, p)
	if bytes.Equal(s, s2) {
		t.Fatal("two seals of one pointer are equal: nonce not random")
	}
	if bytes.Contains(s, append(p.FileID[:], p.Key[:]...)) {
		t.Fatal("the pointer appears in the clear")
	}
	other := key
	other[5] ^= 1
	fails := map[string]func() (Pointer, error){
		"wrong key": func() (Pointer, error) { return Open(other, ad, s) },
		"wrong ad":  func() (Pointer, error) { return Open(key, []byte("account 9999"), s) },
		"no ad":     func() (Pointer, error) { return Open(key, nil, s) },
	}
	for i := range s {
		if i == 0 {
			continue
		}
		c := bytes.Clone(s)
		c[i] ^= 0x10
		if _, err := Open(key, ad, c); !errors.Is(err, ErrSealed) || !strings.Contains(err.Error(), "tampered") {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
	}
	for name, f := range fails {
		if _, err := f(); !errors.Is(err, ErrSealed) || !strings.Contains(err.Error(), "wrong key, associated data or tampered") {
			t.Errorf("%s: %v", name, err)
		}
	}
	bad := map[string][]byte{
		"empty":     nil,
		"version 2": append([]byte{2}, s[1:]...),
		"short":     s[:len(s)-1],
		"long":      append(bytes.Clone(s), 0),
	}
	whys := map[string]string{"empty": "empty", "version 2": "unknown version 2", "short": "100 bytes, want 101", "long": "102 bytes"}
	for name, b := range bad {
		if _, err := Open(key, ad, b); !errors.Is(err, ErrSealed) || !strings.Contains(err.Error(), whys[name]) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestPointerGoStringHidesKey(t *testing.T) {
	_, p := samplePointer()
	p.Key = [32]byte{0xde, 0xad, 0xbe, 0xef}
	f := fileN(1)
	f.Key = p.Key
	for _, s := range []string{p.GoString(), f.GoString()} {
		if strings.Contains(s, "deadbeef") || !strings.Contains(s, "<secret>") {
			t.Fatalf("%s shows the key", s)
		}
	}
}

func FuzzOpen(f *testing.F) {
	key, p := samplePointer()
	s, _ := Seal(key, []byte("ad"), p)
	f.Add(s, []byte("ad"))
	f.Add([]byte{1}, []byte(nil))
	f.Add(make([]byte, sealedSize), []byte("ad"))
	f.Fuzz(func(t *testing.T, b, ad []byte) {
		got, err := Open(key, ad, b)
		if err != nil {
			if !errors.Is(err, ErrSealed) {
				t.Fatalf("error %v is not ErrSealed", err)
			}
			return
		}
		// Only a sealed pointer opens (forgery would need the key). The
		// seed is sealed anew, with another nonce, in each fuzz worker, so
		// compare what opened rather than the bytes.
		if string(ad) != "ad" || got != p {
			t.Fatalf("opened forged input %x", b)
		}
	})
}
