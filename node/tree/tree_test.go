package tree

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/coop-network/coop/storage/namespace"
)

// memLedger is one account's root records, with the ledger's CAS rule and
// its history bound (fault injection: a hook runs before each SetRoot).
type memLedger struct {
	mu     sync.Mutex
	roots  []Root // oldest first
	keep   int
	before func(version uint64)
}

func (l *memLedger) Root(context.Context) (Root, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.roots) == 0 {
		return Root{}, ErrNoRoot
	}
	return l.roots[len(l.roots)-1], nil
}

func (l *memLedger) Roots(context.Context) ([]Root, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Root, 0, len(l.roots))
	for i := len(l.roots) - 1; i >= 0; i-- {
		out = append(out, l.roots[i])
	}
	return out, nil
}

func (l *memLedger) SetRoot(_ context.Context, version uint64, sealed []byte) error {
	if l.before != nil {
		l.before(version)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	cur := uint64(0)
	if len(l.roots) > 0 {
		cur = l.roots[len(l.roots)-1].Version
	}
	if version != cur+1 {
		return fmt.Errorf("%w: version %d, current %d", ErrStale, version, cur)
	}
	l.roots = append(l.roots, Root{Version: version, Sealed: append([]byte(nil), sealed...), Height: int64(version)})
	if l.keep > 0 && len(l.roots) > l.keep {
		l.roots = l.roots[len(l.roots)-l.keep:]
	}
	return nil
}

// memBlobs stores blobs by file id and counts releases.
type memBlobs struct {
	mu       sync.Mutex
	blobs    map[[32]byte][]byte
	released int
	files    map[byte]bool     // file ids (by first byte) released
	ids      map[[32]byte]bool // file ids released, whole
}

func (b *memBlobs) PutBlob(_ context.Context, data []byte) (namespace.Pointer, error) {
	var p namespace.Pointer
	_, _ = rand.Read(p.FileID[:])
	_, _ = rand.Read(p.Key[:])
	p.Size = uint64(len(data))
	b.mu.Lock()
	defer b.mu.Unlock()
	b.blobs[p.FileID] = append([]byte(nil), data...)
	return p, nil
}

func (b *memBlobs) GetBlob(_ context.Context, p namespace.Pointer) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	d, ok := b.blobs[p.FileID]
	if !ok {
		return nil, errors.New("no such blob")
	}
	return d, nil
}

func (b *memBlobs) ReleaseBlob(_ context.Context, p namespace.Pointer) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.blobs[p.FileID]; !ok {
		// A file of the tree (not a blob): record its release.
		if b.files == nil {
			b.files = map[byte]bool{}
		}
		b.files[p.FileID[0]] = true
		if b.ids == nil {
			b.ids = map[[32]byte]bool{}
		}
		b.ids[p.FileID] = true
		return nil
	}
	delete(b.blobs, p.FileID)
	b.released++
	return nil
}

func account(t *testing.T) (Config, *memLedger, *memBlobs) {
	t.Helper()
	cfg := Config{Account: []byte("account-address-20b!")}
	_, _ = rand.Read(cfg.Key[:])
	return cfg, &memLedger{keep: 32}, &memBlobs{blobs: map[[32]byte][]byte{}}
}

func file(b byte) namespace.File {
	var f namespace.File
	f.FileID[0], f.Key[0], f.Size = b, b, uint64(b)
	return f
}

func TestUpdateCommitsVersions(t *testing.T) {
	ctx := context.Background()
	cfg, led, blobs := account(t)
	a := New(cfg, led, blobs)
	if _, v, err := a.Current(ctx); err != nil || v != 0 {
		t.Fatalf("fresh account: version %d, %v", v, err)
	}
	res, err := a.Update(ctx, func(tr *namespace.Tree) error {
		_, err := tr.PutFile("/docs/a.pdf", file(1), true)
		return err
	})
	if err != nil || res.Version != 1 || !res.Changed || res.Attempts != 1 {
		t.Fatalf("first update: %+v, %v", res, err)
	}
	// Another device of the account (a fresh Service: no cache) sees it.
	b := New(cfg, led, blobs)
	tr, v, err := b.Current(ctx)
	if err != nil || v != 1 {
		t.Fatalf("second device: version %d, %v", v, err)
	}
	if e, err := tr.Lookup("/docs/a.pdf"); err != nil || e.File.FileID != file(1).FileID {
		t.Fatalf("second device reads /docs/a.pdf: %+v, %v", e, err)
	}
	// A change that changes nothing commits nothing.
	res, err = b.Update(ctx, func(tr *namespace.Tree) error { return tr.Mkdir("/docs", true) })
	if err != nil || res.Changed || res.Version != 1 {
		t.Fatalf("no-op update: %+v, %v", res, err)
	}
	// An error from the change aborts it.
	boom := errors.New("boom")
	if _, err := b.Update(ctx, func(*namespace.Tree) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("aborted update: %v", err)
	}
	// Old versions stay readable while kept.
	if _, err := a.Update(ctx, func(tr *namespace.Tree) error { return tr.Remove("/docs/a.pdf", false) }); err != nil {
		t.Fatal(err)
	}
	old, err := b.At(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Lookup("/docs/a.pdf"); err != nil {
		t.Fatalf("version 1 lost /docs/a.pdf: %v", err)
	}
	if _, err := b.At(ctx, 9); !errors.Is(err, ErrNoVersion) {
		t.Fatalf("At(9) = %v, want ErrNoVersion", err)
	}
}

// TestConcurrentEditsMerge: device b reads, device a commits first, then
// b's commit loses the compare-and-swap, merges by path and commits after;
// both edits of one path survive, b's as a conflict copy.
func TestConcurrentEditsMerge(t *testing.T) {
	ctx := context.Background()
	cfg, led, blobs := account(t)
	setup := New(cfg, led, blobs)
	if _, err := setup.Update(ctx, func(tr *namespace.Tree) error {
		_, err := tr.PutFile("/r.txt", file(1), false)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	acfg, bcfg := cfg, cfg
	acfg.Label, bcfg.Label = "laptop", "desktop"
	a, b := New(acfg, led, blobs), New(bcfg, led, blobs)
	// Device a commits its edit just before b's SetRoot lands.
	fired := false
	led.before = func(uint64) {
		if fired {
			return
		}
		fired = true
		if _, err := a.Update(ctx, func(tr *namespace.Tree) error {
			if _, err := tr.PutFile("/r.txt", file(2), false); err != nil {
				return err
			}
			_, err := tr.PutFile("/a-only.txt", file(3), false)
			return err
		}); err != nil {
			t.Errorf("device a: %v", err)
		}
	}
	res, err := b.Update(ctx, func(tr *namespace.Tree) error {
		_, err := tr.PutFile("/r.txt", file(4), false)
		return err
	})
	if err != nil {
		t.Fatalf("device b: %v", err)
	}
	if res.Attempts != 2 || res.Version != 3 || len(res.Conflicts) != 1 {
		t.Fatalf("device b: %+v, want 2 attempts, version 3, one conflict", res)
	}
	tr, v, err := New(cfg, led, blobs).Current(ctx)
	if err != nil || v != 3 {
		t.Fatalf("current: %d, %v", v, err)
	}
	got := map[byte]string{}
	_ = tr.Walk(func(p string, e *namespace.Entry) error {
		if !e.Dir {
			got[e.File.FileID[0]] = p
		}
		return nil
	})
	if got[2] != "/r.txt" || got[3] != "/a-only.txt" || !strings.Contains(got[4], "conflict") {
		t.Fatalf("merged tree: %v; want a's edit at /r.txt, a's new file, b's edit as a conflict copy", got)
	}
	if c := res.Conflicts[0]; c.Path != "/r.txt" || c.CopyPath != got[4] {
		t.Fatalf("conflict %+v, copy at %s", c, got[4])
	}
	// b's tree of the lost attempt was released, not left stored.
	if blobs.released != 1 {
		t.Fatalf("%d blobs released, want the 1 tree of b's lost attempt", blobs.released)
	}
}

// TestRootsBoundToAccountAndVersion: a sealed root of another account or
// moved to another version does not open.
func TestRootsBoundToAccountAndVersion(t *testing.T) {
	ctx := context.Background()
	cfg, led, blobs := account(t)
	a := New(cfg, led, blobs)
	if _, err := a.Update(ctx, func(tr *namespace.Tree) error { return tr.Mkdir("/x", false) }); err != nil {
		t.Fatal(err)
	}
	// The same sealed bytes replayed as version 2.
	r, _ := led.Root(ctx)
	if err := led.SetRoot(ctx, 2, r.Sealed); err != nil {
		t.Fatal(err)
	}
	if _, _, err := New(cfg, led, blobs).Current(ctx); !errors.Is(err, namespace.ErrSealed) {
		t.Fatalf("replayed root opened: %v", err)
	}
	other := cfg
	other.Account = []byte("another-account-addr")
	led2 := &memLedger{roots: []Root{{Version: 1, Sealed: r.Sealed}}}
	if _, _, err := New(other, led2, blobs).Current(ctx); !errors.Is(err, namespace.ErrSealed) {
		t.Fatalf("another account's root opened: %v", err)
	}
}

// TestOldTreesReleased: trees of roots the ledger no longer keeps are
// released.
func TestOldTreesReleased(t *testing.T) {
	ctx := context.Background()
	cfg, led, blobs := account(t)
	led.keep = 3
	a := New(cfg, led, blobs)
	for i := range 5 {
		if _, err := a.Update(ctx, func(tr *namespace.Tree) error { return tr.Mkdir(fmt.Sprintf("/d%d", i), false) }); err != nil {
			t.Fatal(err)
		}
	}
	if blobs.released != 2 || len(blobs.blobs) != 3 {
		t.Fatalf("released %d, stored %d; want 2 released and the 3 kept trees stored", blobs.released, len(blobs.blobs))
	}
	// Files: 1 is replaced by 2 (version 6), then removed (version 7); 3 stays.
	for i, change := range []func(*namespace.Tree) error{
		func(tr *namespace.Tree) error { _, err := tr.PutFile("/f", file(1), false); return err },
		func(tr *namespace.Tree) error { _, err := tr.PutFile("/g", file(3), false); return err },
		func(tr *namespace.Tree) error { _, err := tr.PutFile("/f", file(2), false); return err },
		func(tr *namespace.Tree) error { return tr.Remove("/f", false) },
	} {
		if _, err := a.Update(ctx, change); err != nil {
			t.Fatalf("change %d: %v", i, err)
		}
	}
	if len(blobs.files) != 0 {
		t.Fatalf("released files %v while kept versions name them", blobs.files)
	}
	for i := range 3 {
		if _, err := a.Update(ctx, func(tr *namespace.Tree) error { return tr.Mkdir(fmt.Sprintf("/e%d", i), false) }); err != nil {
			t.Fatal(err)
		}
	}
	if !blobs.files[1] || !blobs.files[2] || blobs.files[3] {
		t.Fatalf("released files %v; want 1 and 2 (no kept version names them), not 3", blobs.files)
	}
}

// parted is a parted file of parts whose ids start with the bytes given.
func parted(bs ...byte) namespace.File {
	parts := make([]namespace.Part, len(bs))
	for i, b := range bs {
		parts[i].FileID[0], parts[i].Key[0], parts[i].Hash[0], parts[i].Size = b, b, b, 10
	}
	return namespace.Parted(parts)
}

// TestOldPartsReleased: when an edited parted file's old version is pushed
// out of the kept roots, only the parts the edit replaced are released
// (never the parts the new version kept, nor the content id, which names
// no stored file); removing the file releases the rest once no kept
// version names them.
func TestOldPartsReleased(t *testing.T) {
	ctx := context.Background()
	cfg, led, blobs := account(t)
	led.keep = 2
	a := New(cfg, led, blobs)
	v1, v2 := parted(10, 11, 12), parted(10, 13, 12)
	for i, change := range []func(*namespace.Tree) error{
		func(tr *namespace.Tree) error { _, err := tr.PutFile("/f", v1, false); return err },
		func(tr *namespace.Tree) error { _, err := tr.PutFile("/f", v2, false); return err },
		func(tr *namespace.Tree) error { return tr.Mkdir("/d", false) }, // pushes v1 out
	} {
		if _, err := a.Update(ctx, change); err != nil {
			t.Fatalf("change %d: %v", i, err)
		}
	}
	if len(blobs.ids) != 1 || !blobs.files[11] {
		t.Fatalf("released %v after the edit's version was kept alone; want part 11 only", blobs.files)
	}
	for i, change := range []func(*namespace.Tree) error{
		func(tr *namespace.Tree) error { return tr.Remove("/f", false) },
		func(tr *namespace.Tree) error { return tr.Mkdir("/e", false) },
		func(tr *namespace.Tree) error { return tr.Mkdir("/g", false) },
	} {
		if _, err := a.Update(ctx, change); err != nil {
			t.Fatalf("change %d: %v", i, err)
		}
	}
	if len(blobs.ids) != 4 || !blobs.files[10] || !blobs.files[12] || !blobs.files[13] {
		t.Fatalf("released %v after the file was removed; want parts 10 to 13", blobs.files)
	}
	if blobs.ids[v1.FileID] || blobs.ids[v2.FileID] {
		t.Fatal("released a parted file's content id")
	}
}

// TestUpdateFromAnOlderVersion: a change prepared on version 1 (a file
// uploaded for a path) while another device put the same path keeps that
// device's file at the path and this one as a conflict copy, also for the
// very first version (from the empty tree).
func TestUpdateFromAnOlderVersion(t *testing.T) {
	ctx := context.Background()
	cfg, led, blobs := account(t)
	a, b := New(cfg, led, blobs), New(cfg, led, blobs)
	put := func(s *Service, from uint64, id byte) Result {
		t.Helper()
		res, err := s.UpdateFrom(ctx, from, func(tr *namespace.Tree) error {
			_, err := tr.PutFile("/x", file(id), false)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	put(a, 0, 1) // version 1
	res := put(b, 0, 2)
	if res.Version != 2 || len(res.Conflicts) != 1 || res.Attempts != 1 {
		t.Fatalf("put from the empty tree after another device's: %+v", res)
	}
	put(a, Latest, 3) // a plain overwrite: version 3
	res = put(b, 2, 4)
	if len(res.Conflicts) != 1 {
		t.Fatalf("put from version 2 after version 3 overwrote /x: %+v", res)
	}
	tr, _, _ := a.Current(ctx)
	if e, err := tr.Lookup("/x"); err != nil || e.File.FileID[0] != 3 {
		t.Fatalf("/x is %+v, %v; want the later device's file 3", e, err)
	}
}

// TestRacingEditsAcrossTwoRetries: device b's edit of /b (made on version
// 2) loses the compare-and-swap twice, first to device a's rename of
// another file, then to a's edit of /b made on version 2 too: both edits
// of /b survive, b's as a conflict copy.
func TestRacingEditsAcrossTwoRetries(t *testing.T) {
	ctx := context.Background()
	cfg, led, blobs := account(t)
	a := New(cfg, led, blobs)
	for _, c := range []func(*namespace.Tree) error{
		func(tr *namespace.Tree) error { _, err := tr.PutFile("/a.bin", file(1), false); return err },
		func(tr *namespace.Tree) error { _, err := tr.PutFile("/b", file(2), false); return err },
	} {
		if _, err := a.Update(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	bcfg := cfg
	bcfg.Label = "laptop"
	b := New(bcfg, led, blobs)
	// Each of b's commits finds one of a's commits just before it.
	busy, calls := false, 0
	led.before = func(uint64) {
		if busy {
			return // a's own commits
		}
		busy = true
		defer func() { busy = false }()
		switch calls {
		case 0:
			if _, err := a.Update(ctx, func(tr *namespace.Tree) error { return tr.Move("/a.bin", "/a-desktop.bin") }); err != nil {
				t.Error(err)
			}
		case 1:
			if _, err := a.UpdateFrom(ctx, 2, func(tr *namespace.Tree) error { _, err := tr.PutFile("/b", file(3), false); return err }); err != nil {
				t.Error(err)
			}
		}
		calls++
	}
	res, err := b.UpdateFrom(ctx, 2, func(tr *namespace.Tree) error { _, err := tr.PutFile("/b", file(4), false); return err })
	if err != nil {
		t.Fatal(err)
	}
	tr, _, _ := a.Current(ctx)
	got := map[byte]string{}
	_ = tr.Walk(func(p string, e *namespace.Entry) error {
		if !e.Dir {
			got[e.File.FileID[0]] = p
		}
		return nil
	})
	if got[3] == "" || got[4] == "" || len(res.Conflicts) != 1 {
		t.Fatalf("files %v, conflicts %+v: an edit of /b was lost", got, res.Conflicts)
	}
}
