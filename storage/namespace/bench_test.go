package namespace

import (
	"fmt"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

// benchTree returns a tree of dirs×files files, names like a real home
// directory's, each file with distinct random-looking ids and keys.
func benchTree(b *testing.B, dirs, files int) *Tree {
	tr := New()
	n := uint64(0)
	for d := range dirs {
		for f := range files {
			n++
			fl := fileN(n)
			fl.FileID[20], fl.Key[20] = byte(n*7), byte(n*13)
			if _, err := tr.PutFile(fmt.Sprintf("/projects/dir-%04d/file-%05d.dat", d, f), fl, true); err != nil {
				b.Fatal(err)
			}
		}
	}
	return tr
}

// flatEntry is the baseline: the same data as a flat list of plain CBOR
// structs with string keys, encoded by cbor.Marshal (no canonical check).
type flatEntry struct {
	Path   string
	FileID [32]byte
	Key    [32]byte
	Size   uint64
	MTime  int64
	Mode   uint32
}

func BenchmarkEncode1000x100(b *testing.B) {
	tr := benchTree(b, 1000, 100)
	enc := encoded(b, tr)
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := Encode(tr); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100_000, "ns/file")
}

func BenchmarkDecode1000x100(b *testing.B) {
	enc := encoded(b, benchTree(b, 1000, 100))
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := Decode(enc); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100_000, "ns/file")
}

// BenchmarkPlainCBOR1000x100 is the baseline for the two above: marshal and
// unmarshal of the same 100,000 files as a flat list (no tree, no checks).
func BenchmarkPlainCBOR1000x100(b *testing.B) {
	tr := benchTree(b, 1000, 100)
	var flat []flatEntry
	tr.Walk(func(p string, e *Entry) error {
		if !e.Dir {
			f := e.File
			flat = append(flat, flatEntry{p, f.FileID, f.Key, f.Size, f.MTime, f.Mode})
		}
		return nil
	})
	enc, _ := cbor.Marshal(flat)
	b.Run("marshal", func(b *testing.B) {
		b.SetBytes(int64(len(enc)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := cbor.Marshal(flat); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100_000, "ns/file")
	})
	b.Run("unmarshal", func(b *testing.B) {
		b.SetBytes(int64(len(enc)))
		b.ReportAllocs()
		for b.Loop() {
			var out []flatEntry
			if err := cbor.Unmarshal(enc, &out); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100_000, "ns/file")
	})
}

func BenchmarkMerge1000x100(b *testing.B) {
	base := benchTree(b, 1000, 100)
	w, l := base.Clone(), base.Clone()
	for i := range 100 {
		mustPut(b, w, fmt.Sprintf("/projects/dir-%04d/file-%05d.dat", i, i), uint64(1e6+i))
		mustPut(b, l, fmt.Sprintf("/projects/dir-%04d/new-%05d.dat", i*3, i), uint64(2e6+i))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		Merge(base, w, l, "bench")
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100_000, "ns/file")
}
