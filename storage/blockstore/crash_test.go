package blockstore

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// crashEnv names the store directory when the test binary runs as the
// writer child of TestKilledWriterLeavesNoPartialBlock.
const crashEnv = "COOP_BLOCKSTORE_CRASH_CHILD_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashEnv); dir != "" {
		crashChild(dir)
		return
	}
	os.Exit(m.Run())
}

// crashChild writes 1 MiB blocks in 16 KiB writes forever, printing each
// committed id, until it is killed.
func crashChild(dir string) {
	s, err := Open(dir, Config{CacheBytes: 8 << 20, MaxBlockSize: 1 << 30})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	r := rand.New(rand.NewPCG(uint64(os.Getpid()), uint64(time.Now().UnixNano())))
	buf := make([]byte, 16<<10)
	for i := 0; ; i++ {
		a := Pinned
		if i%2 == 1 {
			a = Cache
		}
		w, err := s.Create(ctx, a)
		if err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		for range 64 {
			for j := range buf {
				buf[j] = byte(r.Uint32())
			}
			w.Write(buf)
		}
		id, err := w.Commit()
		if err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		fmt.Println("committed", id)
	}
}

// TestKilledWriterLeavesNoPartialBlock kills a child process writing blocks
// at random moments and checks, after each kill, that every visible block is
// whole, every block reported committed survived, and no temporary is left
// once the store is reopened.
func TestKilledWriterLeavesNoPartialBlock(t *testing.T) {
	dir := t.TempDir()
	committed := map[ID]bool{}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 6 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashEnv+"="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		want := 1 + rng.IntN(3)
		for n := 0; n < want && sc.Scan(); {
			line := sc.Text()
			if id, ok := strings.CutPrefix(line, "committed "); ok {
				v, err := ParseID(id)
				if err != nil {
					t.Fatal(err)
				}
				committed[v] = true
				n++
			} else {
				t.Fatalf("child: %s", line)
			}
		}
		// Kill somewhere inside the next block's write, commit or rename.
		time.Sleep(time.Duration(rng.IntN(15000)) * time.Microsecond)
		cmd.Process.Kill()
		for sc.Scan() { // a commit that raced the kill counts as committed
			if id, ok := strings.CutPrefix(sc.Text(), "committed "); ok {
				v, _ := ParseID(id)
				committed[v] = true
			}
		}
		cmd.Wait()

		leftovers := 0
		filepath.WalkDir(filepath.Join(dir, "tmp"), func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				leftovers++
			}
			return nil
		})
		s, err := Open(dir, Config{CacheBytes: 1 << 30, MaxBlockSize: 1 << 30})
		if err != nil {
			t.Fatalf("round %d: reopening: %v", round, err)
		}
		for _, a := range []Area{Pinned, Cache} {
			for _, id := range s.List(a) {
				if err := s.Verify(ctx, id); err != nil {
					t.Fatalf("round %d: visible block %s is not whole: %v", round, id, err)
				}
			}
		}
		for id := range committed {
			if _, ok := s.Has(id); !ok {
				t.Fatalf("round %d: committed block %s lost", round, id)
			}
		}
		assertTmpEmpty(t, s)
		t.Logf("round %d: %d blocks committed so far, %d partial writes cleaned", round, len(committed), leftovers)
		s.Close()
	}
}

// TestFailureAroundRenameLeavesNoVisibleBlock injects a failure just before
// the rename that publishes a block.
func TestFailureAroundRenameLeavesNoVisibleBlock(t *testing.T) {
	s := openTest(t, t.TempDir(), DefaultConfig())
	boom := errors.New("injected failure")
	testHookBeforeRename = func(tmp string) error {
		if _, err := os.Stat(tmp); err != nil {
			t.Errorf("temporary missing before rename: %v", err)
		}
		return boom
	}
	t.Cleanup(func() { testHookBeforeRename = nil })
	data := block(1, 100000)
	if _, err := s.PutBytes(ctx, Pinned, data); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the injected failure", err)
	}
	if _, ok := s.Has(Sum(data)); ok {
		t.Fatal("block visible after a failed commit")
	}
	if _, err := os.Stat(s.path(Pinned, Sum(data))); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("block file exists after a failed commit")
	}
	assertTmpEmpty(t, s)
	testHookBeforeRename = nil
	if _, err := s.PutBytes(ctx, Pinned, data); err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(ctx, Sum(data)); err != nil {
		t.Fatal(err)
	}
}
