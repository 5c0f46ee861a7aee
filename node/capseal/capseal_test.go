package capseal

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/coop-network/coop/storage"
)

func newKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newCap(t testing.TB) storage.Capability {
	t.Helper()
	var c storage.Capability
	_, _ = rand.Read(c.FileID[:])
	_, _ = rand.Read(c.Key[:])
	return c
}

// A capability sealed to a node's public key opens with its private key,
// for the job and role it was sealed for, and comes back unchanged; two
// seals of it differ (fresh ephemeral key).
func TestSealOpenRoundTrip(t *testing.T) {
	k := newKey(t)
	c := newCap(t)
	job := [32]byte{1, 2, 3}
	for _, role := range []Role{RoleModule, RoleInput, RoleOutput} {
		s1, err := Seal(k.Public().(ed25519.PublicKey), job, role, c)
		if err != nil {
			t.Fatal(err)
		}
		if len(s1) != SealedSize {
			t.Fatalf("sealed %d bytes, want %d", len(s1), SealedSize)
		}
		got, err := Open(k, job, role, s1)
		if err != nil {
			t.Fatalf("%s: %v", role, err)
		}
		if got != c {
			t.Fatalf("%s: opened %v, sealed %v", role, got.String(), c.String())
		}
		s2, err := Seal(k.Public().(ed25519.PublicKey), job, role, c)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(s1, s2) || bytes.Equal(s1[1:33], s2[1:33]) {
			t.Fatalf("%s: two seals share their bytes or ephemeral key", role)
		}
		if bytes.Contains(s1, c.Key[:]) || bytes.Contains(s1, c.FileID[:]) {
			t.Fatalf("%s: the sealed form contains the plaintext", role)
		}
	}
}

// Only the recipient opens it, and only for its job and role.
func TestOpenWrongRecipientJobRole(t *testing.T) {
	k, other := newKey(t), newKey(t)
	c := newCap(t)
	job := [32]byte{9}
	s, err := Seal(k.Public().(ed25519.PublicKey), job, RoleInput, c)
	if err != nil {
		t.Fatal(err)
	}
	for name, open := range map[string]func() error{
		"another key":  func() error { _, err := Open(other, job, RoleInput, s); return err },
		"another job":  func() error { _, err := Open(k, [32]byte{8}, RoleInput, s); return err },
		"another role": func() error { _, err := Open(k, job, RoleModule, s); return err },
		"unknown role": func() error { _, err := Open(k, job, Role(9), s); return err },
	} {
		if err := open(); !errors.Is(err, ErrOpen) {
			t.Errorf("%s: %v, want ErrOpen", name, err)
		}
	}
}

// Any flipped bit, a truncation or an extension makes it fail to open.
func TestOpenTampered(t *testing.T) {
	k := newKey(t)
	job := [32]byte{4}
	s, err := Seal(k.Public().(ed25519.PublicKey), job, RoleOutput, newCap(t))
	if err != nil {
		t.Fatal(err)
	}
	for i := range s {
		for _, bit := range []byte{1, 0x80} {
			bad := bytes.Clone(s)
			bad[i] ^= bit
			if _, err := Open(k, job, RoleOutput, bad); !errors.Is(err, ErrOpen) {
				t.Fatalf("byte %d bit %#x flipped: %v, want ErrOpen", i, bit, err)
			}
		}
	}
	for _, bad := range [][]byte{nil, s[:len(s)-1], append(bytes.Clone(s), 0)} {
		if _, err := Open(k, job, RoleOutput, bad); !errors.Is(err, ErrOpen) {
			t.Fatalf("%d bytes: %v, want ErrOpen", len(bad), err)
		}
	}
}

// Recipient keys that are not usable are refused by Seal: wrong length,
// not a curve point, the identity and another point of small order (whose
// shared secret would be known to everyone).
func TestSealBadRecipient(t *testing.T) {
	identity := make([]byte, 32)
	identity[0] = 1
	// y = -1: the point of order 2.
	order2 := bytes.Repeat([]byte{0xff}, 32)
	order2[0], order2[31] = 0xec, 0x7f
	notOnCurve := make([]byte, 32)
	notOnCurve[0] = 2 // y = 2 has no x on edwards25519
	for name, pub := range map[string][]byte{
		"empty": nil, "31 bytes": make([]byte, 31), "identity": identity, "order 2": order2, "not on the curve": notOnCurve,
	} {
		if _, err := Seal(ed25519.PublicKey(pub), [32]byte{}, RoleModule, newCap(t)); !errors.Is(err, ErrRecipient) {
			t.Errorf("%s: %v, want ErrRecipient", name, err)
		}
	}
	if _, err := Seal(newKey(t).Public().(ed25519.PublicKey), [32]byte{}, Role(0), newCap(t)); err == nil {
		t.Error("sealed with role 0")
	}
}

// FuzzOpen feeds arbitrary bytes to Open: it never panics, and what opens
// is exactly what was sealed (only the seeds built by Seal can open).
func FuzzOpen(f *testing.F) {
	seed := make([]byte, ed25519.SeedSize)
	k := ed25519.NewKeyFromSeed(seed)
	job := [32]byte{7}
	var c storage.Capability
	c.FileID[0], c.Key[0] = 1, 2
	s, err := Seal(k.Public().(ed25519.PublicKey), job, RoleModule, c)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(s)
	f.Add(s[:SealedSize-1])
	f.Add(make([]byte, SealedSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := Open(k, job, RoleModule, b)
		if err != nil {
			if !errors.Is(err, ErrOpen) {
				t.Fatalf("error %v is not ErrOpen", err)
			}
			return
		}
		if got != c {
			t.Fatalf("opened a capability that was never sealed: %v", got.String())
		}
	})
}

// TestDeviceKeysBoundToAccount: keys sealed to a device for one account
// do not open as another account's, nor as a job's capability.
func TestDeviceKeysBoundToAccount(t *testing.T) {
	dev := newKey(t)
	var a, b [20]byte
	a[0], b[0] = 1, 2
	keys := storage.Capability{FileID: [32]byte{7}, Key: [32]byte{9}}
	sealed, err := Seal(dev.Public().(ed25519.PublicKey), DeviceJob(a), RoleDeviceKeys, keys)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Open(dev, DeviceJob(a), RoleDeviceKeys, sealed)
	if err != nil || got != keys {
		t.Fatalf("open: %v, %v", got, err)
	}
	if _, err := Open(dev, DeviceJob(b), RoleDeviceKeys, sealed); !errors.Is(err, ErrOpen) {
		t.Fatalf("opened for another account: %v", err)
	}
	if _, err := Open(dev, DeviceJob(a), RoleOutput, sealed); !errors.Is(err, ErrOpen) {
		t.Fatalf("opened as another role: %v", err)
	}
}
