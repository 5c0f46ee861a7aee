package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/storage"
)

// ownFiles is the ledger's files of n's account, by id.
func ownFiles(t *testing.T, ctx context.Context, n *Node) map[chain.Hash]chain.File {
	t.Helper()
	fs, err := n.lc.Files(ctx, n.account().Address)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[chain.Hash]chain.File, len(fs))
	for _, f := range fs {
		out[f.ID] = f
	}
	return out
}

// quotaUsed is the ledger's QuotaUsed of n's account.
func quotaUsed(t *testing.T, ctx context.Context, n *Node) uint64 {
	t.Helper()
	a, err := n.lc.Account(ctx, n.account().Address)
	if err != nil {
		t.Fatal(err)
	}
	return a.QuotaUsed
}

// readRange reads n bytes at off of the file at path through the API.
func readRange(ctx context.Context, c *api.Client, path string, version uint64, off, n int64) ([]byte, error) {
	rc, err := c.GetPathRange(ctx, path, version, off, n)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// TestPartedFileEdit: a 20 MiB file put at a path is stored as 20 parts
// of one segment (1 MiB in the test config); changing 1 MiB in its middle
// (straddling a part boundary) and putting it again stores two parts and
// keeps the other 18, which the ledger shows as two new placements of
// the parts and the account's quota growing by two parts' pieces (plus the
// new tree file). The file reads back bit-exact by path, whole and by
// ranges across part boundaries, on the account's node and on its other
// device, and the version before the edit still reads as it was.
func TestPartedFileEdit(t *testing.T) {
	if testing.Short() {
		t.Skip("starts CometBFT validators")
	}
	net := StartTestNetwork(t, 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	a, d := net.Nodes[0], net.Nodes[1]
	ca, cd := apiClient(t, a), apiClient(t, d)
	addDevice(t, ctx, a, d, "laptop")
	const seg = 1 << 20
	data := make([]byte, 20*seg)
	_, _ = rand.Read(data)

	first, err := ca.PutPath(ctx, bytes.NewReader(data), int64(len(data)), "/big.bin", api.PathPutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if first.Put.Parts != 20 || first.Put.PartsStored != 20 || first.Entry.Capability != "" || len(first.Entry.Parts) != 20 {
		t.Fatalf("first put: %d parts, %d stored, capability %q, %d entry parts", first.Put.Parts, first.Put.PartsStored, first.Entry.Capability, len(first.Entry.Parts))
	}
	beforeFiles, beforeQuota := ownFiles(t, ctx, a), quotaUsed(t, ctx, a)

	edited := bytes.Clone(data)
	editAt := int64(10*seg - 300<<10) // 1 MiB across the boundary of parts 9 and 10
	_, _ = rand.Read(edited[editAt : editAt+seg])
	second, err := ca.PutPath(ctx, bytes.NewReader(edited), int64(len(edited)), "/big.bin", api.PathPutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if second.Put.Parts != 20 || second.Put.PartsStored != 2 {
		t.Fatalf("the edit stored %d of %d parts, want 2 of 20", second.Put.PartsStored, second.Put.Parts)
	}
	afterFiles, afterQuota := ownFiles(t, ctx, a), quotaUsed(t, ctx, a)

	// The ledger: the two changed parts and the new tree are new; every
	// other part is the first version's.
	parts := map[chain.Hash]int{}
	for i, p := range second.Entry.Parts {
		c := mustCapability(t, p.Capability)
		parts[chain.Hash(c.FileID)] = i
		if _, old := beforeFiles[chain.Hash(c.FileID)]; old == (i == 9 || i == 10) {
			t.Fatalf("part %d: placed before the edit %v", i, old)
		}
	}
	var partBytes, treeBytes uint64
	newParts := 0
	for id, f := range afterFiles {
		if _, ok := beforeFiles[id]; ok {
			continue
		}
		if _, ok := parts[id]; ok {
			newParts++
			partBytes += f.Bytes
		} else {
			treeBytes += f.Bytes
		}
	}
	onePart := PieceBytes(seg, a.cfg.Storage)
	if ch := afterFiles[chain.Hash(mustCapability(t, second.Entry.Parts[9].Capability).FileID)]; ch.K != 0 {
		cfg := a.cfg.Storage
		cfg.K, cfg.M = int(ch.K), int(ch.M)
		onePart = PieceBytes(seg, cfg)
	}
	t.Logf("the 1 MiB edit of a 20 MiB file placed %d new parts, %d bytes of pieces (%.2f parts' worth, %.3f of the file's %d); quota +%d (the new tree file %d)",
		newParts, partBytes, float64(partBytes)/float64(onePart), float64(partBytes)/float64(20*onePart), 20*onePart, afterQuota-beforeQuota, treeBytes)
	if newParts != 2 || partBytes > 2*onePart {
		t.Fatalf("the edit placed %d new parts, %d bytes of pieces; want 2 parts, at most %d bytes", newParts, partBytes, 2*onePart)
	}
	if afterQuota-beforeQuota != partBytes+treeBytes || treeBytes > onePart {
		t.Fatalf("quota grew by %d, want the parts' %d and the tree's %d", afterQuota-beforeQuota, partBytes, treeBytes)
	}

	// Reads, on both devices: whole, and ranges across part boundaries.
	ranges := [][2]int64{{0, -1}, {5*seg - 1000, 5000}, {editAt - 10, seg + 20}, {19*seg + 5, -1}, {3 * seg, seg}, {int64(len(data)), -1}}
	for _, c := range []*api.Client{ca, cd} {
		waitFor(t, "the device to see the edit", func() error {
			e, err := c.Stat(ctx, "/big.bin", 0)
			if err != nil {
				return err
			}
			if e.FileID != second.Entry.FileID {
				return fmt.Errorf("content %s, want %s", e.FileID, second.Entry.FileID)
			}
			return nil
		})
		if got, err := readPath(ctx, c, "/big.bin", 0); err != nil || !bytes.Equal(got, edited) {
			t.Fatalf("whole file: %v, bit-exact %v", err, bytes.Equal(got, edited))
		}
		for _, r := range ranges {
			end := int64(len(edited))
			if r[1] >= 0 {
				end = r[0] + r[1]
			}
			got, err := readRange(ctx, c, "/big.bin", 0, r[0], r[1])
			if err != nil || !bytes.Equal(got, edited[r[0]:end]) {
				t.Fatalf("range %d+%d: %v, %d bytes, bit-exact %v", r[0], r[1], err, len(got), bytes.Equal(got, edited[r[0]:end]))
			}
		}
		if _, err := readRange(ctx, c, "/big.bin", 0, int64(len(data))+1, 1); !errors.Is(err, api.ErrRange) {
			t.Fatalf("a range past the end: %v, want ErrRange", err)
		}
	}
	// The version before the edit still reads as it was.
	if got, err := readPath(ctx, cd, "/big.bin", first.Version); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("version %d: %v, bit-exact %v", first.Version, err, bytes.Equal(got, data))
	}
	if got, err := readRange(ctx, ca, "/big.bin", first.Version, editAt-10, 20); err != nil || !bytes.Equal(got, data[editAt-10:editAt+10]) {
		t.Fatalf("a range of version %d: %v", first.Version, err)
	}

	// The same bytes again: nothing is stored.
	again, err := cd.PutPath(ctx, bytes.NewReader(edited), int64(len(edited)), "/big.bin", api.PathPutOptions{})
	if err != nil || again.Put.PartsStored != 0 || again.Entry.FileID != second.Entry.FileID {
		t.Fatalf("the same bytes again from the device: %v, %+v", err, again.Put)
	}

	// Another redundancy stores every part again, read across the old parts.
	ch, err := ca.SetRedundancy(ctx, "/big.bin", api.Redundancy{Copies: 2})
	if err != nil || ch.Replaced != 1 {
		t.Fatalf("redundancy: %+v, %v", ch, err)
	}
	e, err := ca.Stat(ctx, "/big.bin", 0)
	if err != nil || e.Redundancy.Copies != 2 || len(e.Parts) != 20 {
		t.Fatalf("after the redundancy change: %+v, %v", e, err)
	}
	for i, p := range e.Parts {
		if _, old := parts[chain.Hash(mustCapability(t, p.Capability).FileID)]; old {
			t.Fatalf("part %d kept at the old redundancy", i)
		}
	}
	if got, err := readPath(ctx, ca, "/big.bin", 0); err != nil || !bytes.Equal(got, edited) {
		t.Fatalf("after the redundancy change: %v, bit-exact %v", err, bytes.Equal(got, edited))
	}
}

func TestPartName(t *testing.T) {
	long := strings.Repeat("é", 127) // 254 bytes
	for _, c := range []struct {
		name string
		i    int
		want string
	}{
		{"video.mkv", 0, "video.mkv (part 1)"},
		{"", 41, "part 42"},
		{long, 9, strings.Repeat("é", 122) + " (part 10)"},
	} {
		got := partName(c.name, c.i)
		if got != c.want || api.CheckName(got) != nil || len(got) > api.MaxNameBytes {
			t.Errorf("partName(%q, %d) = %q, want %q", c.name, c.i, got, c.want)
		}
	}
}

// TestPartedPutFailureLeavesNothing: a put of a large file whose reader
// fails after several parts are stored removes them: the account's files
// and quota on the ledger are as before, and the path is unchanged; so
// does a put whose body is shorter than its announced size. A put of
// unknown size is stored whole if it fits in one part, else in parts.
func TestPartedPutFailureLeavesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts CometBFT validators")
	}
	net := StartTestNetwork(t, 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	a := net.Nodes[0]
	small := []byte("before")
	if _, err := a.PutPath(ctx, bytes.NewReader(small), int64(len(small)), "/f", api.PathPutOptions{}); err != nil {
		t.Fatal(err)
	}
	beforeFiles, beforeQuota := ownFiles(t, ctx, a), quotaUsed(t, ctx, a)
	broken := errors.New("the disk went away")
	data := make([]byte, 5<<20+1234)
	_, _ = rand.Read(data)
	// The reader fails once the ledger shows parts of this put placed.
	r := io.MultiReader(bytes.NewReader(data), &failingReader{err: broken, first: func() {
		waitFor(t, "parts placed before the reader fails", func() error {
			if n := len(ownFiles(t, ctx, a)); n <= len(beforeFiles) {
				return fmt.Errorf("%d files", n)
			}
			return nil
		})
	}})
	_, err := a.PutPath(ctx, r, 8<<20, "/f", api.PathPutOptions{})
	if !errors.Is(err, broken) {
		t.Fatalf("put with a failing reader: %v", err)
	}
	after := ownFiles(t, ctx, a)
	if len(after) != len(beforeFiles) {
		t.Fatalf("the failed put left %d files on the ledger, %d before", len(after), len(beforeFiles))
	}
	if q := quotaUsed(t, ctx, a); q != beforeQuota {
		t.Fatalf("quota used %d after the failed put, %d before", q, beforeQuota)
	}
	if got, err := readPath(ctx, apiClient(t, a), "/f", 0); err != nil || !bytes.Equal(got, small) {
		t.Fatalf("/f after the failed put: %q, %v", got, err)
	}
	if _, err := a.PutPath(ctx, bytes.NewReader(data), int64(len(data))+1, "/f", api.PathPutOptions{}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("a body shorter than announced: %v", err)
	}
	if n := len(ownFiles(t, ctx, a)); n != len(beforeFiles) {
		t.Fatalf("the short put left %d files on the ledger, %d before", n, len(beforeFiles))
	}

	// Unknown sizes.
	for _, c := range []struct {
		size  int
		parts int
	}{{700 << 10, 0}, {1 << 20, 1}, {3<<20 + 5, 4}} {
		ch, err := a.PutPath(ctx, bytes.NewReader(data[:c.size]), -1, "/u", api.PathPutOptions{})
		if err != nil || ch.Put.Parts != c.parts || (c.parts == 0) != (ch.Entry.Capability != "") {
			t.Fatalf("%d bytes of unknown size: %v, %d parts, want %d", c.size, err, ch.Put.Parts, c.parts)
		}
		if got, err := readPath(ctx, apiClient(t, a), "/u", 0); err != nil || !bytes.Equal(got, data[:c.size]) {
			t.Fatalf("%d bytes of unknown size read back: %v", c.size, err)
		}
	}
}

// failingReader fails every read with err, after calling first once.
type failingReader struct {
	err   error
	first func()
	once  sync.Once
}

func (f *failingReader) Read([]byte) (int, error) {
	f.once.Do(f.first)
	return 0, f.err
}

// mustCapability parses a capability or fails.
func mustCapability(t testing.TB, s string) storage.Capability {
	t.Helper()
	c, err := storage.ParseCapability(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestPartedFileThroughMount: the mount reads a file stored in parts
// bit-exact, whole and across a part boundary; an edit of 4 KiB written
// through the mount stores one new part, and both the API and the mount
// read the edited file.
func TestPartedFileThroughMount(t *testing.T) {
	if testing.Short() {
		t.Skip("starts CometBFT validators")
	}
	requireFUSE(t)
	net := StartTestNetwork(t, 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	a := net.Nodes[0]
	ca := apiClient(t, a)
	data := make([]byte, 6<<20+777)
	_, _ = rand.Read(data)
	put, err := ca.PutPath(ctx, bytes.NewReader(data), int64(len(data)), "/m/big.bin", api.PathPutOptions{Parents: true})
	if err != nil || put.Put.Parts != 7 {
		t.Fatalf("put: %v, %+v", err, put)
	}
	dir := mountNode(t, ctx, a)
	p := filepath.Join(dir, "m", "big.bin")
	if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("reading through the mount: %v, bit-exact %v", err, bytes.Equal(got, data))
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 300)
	if _, err := f.ReadAt(buf, 2<<20-100); err != nil || !bytes.Equal(buf, data[2<<20-100:2<<20+200]) {
		t.Fatalf("pread across a part boundary: %v", err)
	}
	f.Close()

	before := ownFiles(t, ctx, a)
	edited := bytes.Clone(data)
	patch := make([]byte, 4096)
	_, _ = rand.Read(patch)
	copy(edited[3<<20+10:], patch)
	w, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteAt(patch, 3<<20+10); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil { // the put at the path commits before close returns
		t.Fatal(err)
	}
	e, err := ca.Stat(ctx, "/m/big.bin", 0)
	if err != nil || e.FileID == put.Entry.FileID || len(e.Parts) != 7 {
		t.Fatalf("after the edit: %+v, %v", e, err)
	}
	added := 0
	for id := range ownFiles(t, ctx, a) {
		if _, ok := before[id]; !ok {
			added++
		}
	}
	if added != 2 { // the changed part and the new tree
		t.Fatalf("the edit through the mount placed %d files, want 2 (one part, the tree)", added)
	}
	if got, err := readPath(ctx, ca, "/m/big.bin", 0); err != nil || !bytes.Equal(got, edited) {
		t.Fatalf("the edit read by path: %v, bit-exact %v", err, bytes.Equal(got, edited))
	}
	waitFor(t, "the mount to read the edit", func() error {
		got, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if !bytes.Equal(got, edited) {
			return errors.New("old contents")
		}
		return nil
	})
}

func TestPartSpans(t *testing.T) {
	parts := []api.Part{{Capability: "a", Size: 10}, {Capability: "b", Size: 10}, {Capability: "c", Size: 5}}
	for _, c := range []struct {
		off, n int64
		want   []partSpan
	}{
		{0, 25, []partSpan{{"a", 0, 0, 10}, {"b", 10, 0, 10}, {"c", 20, 0, 5}}},
		{3, 4, []partSpan{{"a", 0, 3, 4}}},
		{10, 10, []partSpan{{"b", 10, 0, 10}}},
		{9, 2, []partSpan{{"a", 0, 9, 1}, {"b", 10, 0, 1}}},
		{19, 6, []partSpan{{"b", 10, 9, 1}, {"c", 20, 0, 5}}},
		{24, 1, []partSpan{{"c", 20, 4, 1}}},
		{25, 0, nil},
		{5, 0, nil},
	} {
		if got := partSpans(parts, c.off, c.n); !slices.Equal(got, c.want) {
			t.Errorf("[%d, +%d): %v, want %v", c.off, c.n, got, c.want)
		}
	}
}
