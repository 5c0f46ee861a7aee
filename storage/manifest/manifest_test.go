package manifest

import (
	"bytes"
	"errors"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/coop-network/coop/proofs"
)

// sample returns a valid manifest of size bytes with k data and m parity pieces.
func sample(size uint64, k, m uint64) *Manifest {
	man := &Manifest{Version: Version, Size: size, SegmentSize: 4096, K: k, M: m, StripeUnit: 256, LeafSize: LeafSize}
	for s := uint64(0); s*man.SegmentSize < size; s++ {
		var seg Segment
		ps := man.PieceSize(int(s))
		for i := uint64(0); i < k+m; i++ {
			p := Piece{Size: ps, Leaves: (ps + LeafSize - 1) / LeafSize}
			p.Root[0], p.Root[1] = byte(s), byte(i) // a made-up commitment
			p.ID = proofs.ID(p.Root, p.Size)
			seg.Pieces = append(seg.Pieces, p)
		}
		man.Segments = append(man.Segments, seg)
	}
	return man
}

func TestManifestsRoundTripCanonically(t *testing.T) {
	for _, size := range []uint64{0, 1, 4095, 4096, 4097, 3*4096 + 5} {
		m := sample(size, 4, 2)
		b, err := Encode(m)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		again, _ := Encode(got)
		if !bytes.Equal(again, b) {
			t.Fatalf("size %d: re-encoding differs", size)
		}
	}
}

func TestLayoutSizes(t *testing.T) {
	cases := []struct{ plain, enc uint64 }{{0, 0}, {1, 33}, {65536, 65568}, {65537, 65568 + 33}}
	for _, c := range cases {
		if got := EncryptedSize(c.plain); got != c.enc {
			t.Errorf("EncryptedSize(%d) = %d, want %d", c.plain, got, c.enc)
		}
	}
	// 10 bytes in stripes of 4×3: one full stripe (3 each) and 0 left; 13 bytes: 3 + ⌈1/4⌉.
	if PieceSize(12, 4, 3) != 3 || PieceSize(13, 4, 3) != 4 || PieceSize(1, 4, 3) != 1 || PieceSize(0, 4, 3) != 0 {
		t.Error("PieceSize")
	}
}

func TestInvalidManifestsAreRejected(t *testing.T) {
	good, _ := Encode(sample(3*4096+5, 4, 2))
	mutate := func(f func(m *Manifest)) []byte {
		m := sample(3*4096+5, 4, 2)
		f(m)
		b, err := encMode.Marshal(m) // bypass Encode's validation
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	type extra struct {
		Manifest
		X uint64 `cbor:"9,keyasint"`
	}
	withExtra, _ := encMode.Marshal(extra{Manifest: *sample(10, 1, 0), X: 1})
	nonCanonical, _ := cbor.EncOptions{Sort: cbor.SortNone}.EncMode()
	type reordered struct {
		Segments    []Segment `cbor:"8,keyasint"`
		Version     uint64    `cbor:"1,keyasint"`
		Size        uint64    `cbor:"2,keyasint"`
		SegmentSize uint64    `cbor:"3,keyasint"`
		K           uint64    `cbor:"4,keyasint"`
		M           uint64    `cbor:"5,keyasint"`
		StripeUnit  uint64    `cbor:"6,keyasint"`
		LeafSize    uint64    `cbor:"7,keyasint"`
	}
	s := sample(10, 1, 0)
	unsorted, _ := nonCanonical.Marshal(reordered{s.Segments, s.Version, s.Size, s.SegmentSize, s.K, s.M, s.StripeUnit, s.LeafSize})
	cases := map[string][]byte{
		"empty input":                  nil,
		"a truncated manifest":         good[:len(good)-1],
		"trailing bytes":               append(bytes.Clone(good), 0),
		"an unknown field":             withExtra,
		"keys out of canonical order":  unsorted,
		"another version":              mutate(func(m *Manifest) { m.Version = Version + 1 }),
		"version 1 (SHA-256 ids)":      mutate(func(m *Manifest) { m.Version = 1 }),
		"an id that is not its root's": mutate(func(m *Manifest) { m.Segments[2].Pieces[1].Root[31] ^= 1 }),
		"k of zero":                    mutate(func(m *Manifest) { m.K = 0 }),
		"too many shards":              mutate(func(m *Manifest) { m.M = MaxShards }),
		"a tiny segment size":          mutate(func(m *Manifest) { m.SegmentSize = 10 }),
		"a zero stripe unit":           mutate(func(m *Manifest) { m.StripeUnit = 0 }),
		"another leaf size":            mutate(func(m *Manifest) { m.LeafSize = 512 }),
		"a missing segment":            mutate(func(m *Manifest) { m.Segments = m.Segments[1:] }),
		"a size needing more":          mutate(func(m *Manifest) { m.Size += 4096 }),
		"a missing piece":              mutate(func(m *Manifest) { m.Segments[1].Pieces = m.Segments[1].Pieces[1:] }),
		"a wrong piece size":           mutate(func(m *Manifest) { m.Segments[0].Pieces[2].Size++ }),
		"a wrong leaf count":           mutate(func(m *Manifest) { m.Segments[3].Pieces[0].Leaves++ }),
		"a short root":                 bytes.Replace(good, append([]byte{0x58, 0x20, 0, 0}, make([]byte, 30)...), append([]byte{0x58, 0x1f, 0, 0}, make([]byte, 29)...), 1),
		"a huge array header":          {0xa1, 0x08, 0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
	}
	for name, b := range cases {
		if _, err := Decode(b); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}

func FuzzDecodeManifest(f *testing.F) {
	for _, size := range []uint64{0, 1, 5000, 3*4096 + 5} {
		b, _ := Encode(sample(size, 4, 2))
		f.Add(b)
	}
	b, _ := Encode(sample(9000, 1, 2))
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		again, err := Encode(m)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("accepted manifest does not re-encode identically: %v", err)
		}
	})
}
