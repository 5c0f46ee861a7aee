package compute

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestCacheSkipsCompilationAndSurvivesCorruption: a repeated job loads its
// compiled module from the cache; a corrupted cache file is ignored and
// rewritten, never handed to the deserializer.
func TestCacheSkipsCompilationAndSurvivesCorruption(t *testing.T) {
	r := testRunner(t, func(c *Config) { c.CacheDir = t.TempDir() })
	mod := wat(t, `(module `+watPrelude+`(func (export "_start") (call $proc_exit (i32.const 3))))`)
	job := &Job{Spec: testSpec(mod, nil), Module: mod}
	run := func() *Report {
		t.Helper()
		rep, err := r.Run(context.Background(), job)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Result.Status != StatusExited || rep.Result.ExitCode != 3 {
			t.Fatalf("got %s", describe(rep.Result))
		}
		return rep
	}
	if run().CacheHit {
		t.Fatal("first run hit an empty cache")
	}
	if !run().CacheHit {
		t.Fatal("second run missed the cache")
	}
	files, _ := filepath.Glob(filepath.Join(r.cfg.CacheDir, "*.bin"))
	if len(files) != 1 {
		t.Fatalf("%d cache files", len(files))
	}
	b, _ := os.ReadFile(files[0])
	b[len(b)-10] ^= 0xff
	if err := os.WriteFile(files[0], b, 0o600); err != nil {
		t.Fatal(err)
	}
	if run().CacheHit {
		t.Fatal("a corrupted cache file was used")
	}
	if !run().CacheHit {
		t.Fatal("the cache was not rewritten after corruption")
	}
	if err := os.WriteFile(files[0], []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if run().CacheHit {
		t.Fatal("a truncated cache file was used")
	}
}
