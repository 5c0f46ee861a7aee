package namespace

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"testing"
)

// fileN returns a distinct file for every n.
func fileN(n uint64) File {
	var f File
	binary.BigEndian.PutUint64(f.FileID[:], n)
	f.FileID[31] = 0xf1
	binary.BigEndian.PutUint64(f.Key[:], n)
	f.Key[31] = 0x4e
	f.Size = n * 100
	f.MTime = int64(n) * 1e9
	f.Mode = DefaultMode
	return f
}

// mustPut puts fileN(n) at p, making parents.
func mustPut(t testing.TB, tr *Tree, p string, n uint64) {
	t.Helper()
	if _, err := tr.PutFile(p, fileN(n), true); err != nil {
		t.Fatalf("put %s: %v", p, err)
	}
}

// paths returns every path of tr in Walk order, with "/" for dirs' suffix.
func paths(tr *Tree) []string {
	var out []string
	tr.Walk(func(p string, e *Entry) error {
		if e.Dir && p != "/" {
			p += "/"
		}
		out = append(out, p)
		return nil
	})
	return out
}

// wantErr fails unless err matches target.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error %v, want %v", what, err, target)
	}
	var pe *fs.PathError
	if target != ErrBadPath && !errors.As(err, &pe) {
		t.Fatalf("%s: error %v is not an *fs.PathError", what, err)
	}
}

// encoded encodes tr or fails.
func encoded(t testing.TB, tr *Tree) []byte {
	t.Helper()
	b, err := Encode(tr)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	return b
}

// partN returns a distinct part of size bytes for every n.
func partN(n, size uint64) Part {
	var p Part
	binary.BigEndian.PutUint64(p.FileID[:], n)
	p.FileID[31] = 0xa1
	binary.BigEndian.PutUint64(p.Key[:], n)
	p.Key[31] = 0xe4
	binary.BigEndian.PutUint64(p.Hash[:], n)
	p.Hash[31] = 0x5a
	p.Size = size
	return p
}

// partedN returns a parted file of the parts numbered ns, each of 1000
// bytes but the last (500).
func partedN(ns ...uint64) File {
	parts := make([]Part, len(ns))
	for i, n := range ns {
		parts[i] = partN(n, 1000)
	}
	parts[len(parts)-1].Size = 500
	f := Parted(parts)
	f.MTime, f.Mode = 5e9, DefaultMode
	return f
}
