package mount

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

const benchFile = 16 << 20

// BenchmarkRead16MiB reads a file never read before (a fresh file id each
// time: every block comes from the backend and goes into the cache)
// through the mount, and straight from the backend in blocks of the same
// size; the ratio is the mount's cost.
func BenchmarkRead16MiB(b *testing.B) {
	data := randomData(benchFile, 1)
	b.Run("mount", func(b *testing.B) {
		be := newMemBackend()
		dir, _ := mountTest(b, be, "")
		be.put("/warm", data)
		if _, err := os.ReadFile(filepath.Join(dir, "warm")); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(benchFile)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			b.StopTimer()
			data[0] = byte(i) // a new file id
			name := fmt.Sprintf("f%d", i)
			be.put("/"+name, data)
			b.StartTimer()
			if _, err := os.ReadFile(filepath.Join(dir, name)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("direct", func(b *testing.B) {
		be := newMemBackend()
		info := be.put("/f", data)
		buf := make([]byte, DefaultBlockSize)
		b.SetBytes(benchFile)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			for off := int64(0); off < benchFile; off += DefaultBlockSize {
				if _, err := be.ReadAt(context.Background(), "/f", info.FileID, buf, off); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// BenchmarkWrite16MiB writes a file through the mount (spool, then
// WriteFile on close) and hands the same bytes to the backend's WriteFile
// from a file directly.
func BenchmarkWrite16MiB(b *testing.B) {
	data := randomData(benchFile, 2)
	b.Run("mount", func(b *testing.B) {
		be := newMemBackend()
		dir, _ := mountTest(b, be, "")
		b.SetBytes(benchFile)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%d", i%4)), data, 0o644); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("direct", func(b *testing.B) {
		be := newMemBackend()
		src := filepath.Join(b.TempDir(), "src")
		b.SetBytes(benchFile)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if err := os.WriteFile(src, data, 0o644); err != nil {
				b.Fatal(err)
			}
			f, err := os.Open(src)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := be.WriteFile(context.Background(), fmt.Sprintf("/f%d", i%4), f, benchFile); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	})
}
