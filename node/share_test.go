package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/node/sharing"
)

// putBytes puts b at p through c (two copies, parents made).
func putBytes(t *testing.T, ctx context.Context, c *api.Client, p string, b []byte) *api.Change {
	t.Helper()
	ch, err := c.PutPath(ctx, bytes.NewReader(b), int64(len(b)), p, api.PathPutOptions{PutOptions: api.PutOptions{Copies: 2}, Parents: true})
	if err != nil {
		t.Fatalf("put %s: %v", p, err)
	}
	return ch
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// waitInbox waits until viewer's ledger has the inbox key of n's account.
func waitInbox(t *testing.T, ctx context.Context, viewer, n *Node) {
	t.Helper()
	waitFor(t, "the inbox key of "+n.addr.String(), func() error {
		_, err := viewer.lcc.Inbox(ctx, n.account().Address)
		return err
	})
}

// wantBytes waits until p reads as want through c.
func wantBytes(t *testing.T, ctx context.Context, c *api.Client, p string, want []byte) {
	t.Helper()
	waitFor(t, "reading "+p, func() error {
		got, err := readPath(ctx, c, p, 0)
		if err != nil {
			return err
		}
		if !bytes.Equal(got, want) {
			return fmt.Errorf("%d bytes, not the %d shared", len(got), len(want))
		}
		return nil
	})
}

// TestShareWithAUser: alice shares a directory with bob by username; bob
// lists it under /shared-with-me and reads it bit-exact on his node and on
// his device, and sees alice's later change; eve, a third account, cannot
// read it: nothing is shared to her, the sealed share key does not open
// with her inbox key, and her node gives no entry or capability. A
// writable share: bob writes from his device, alice's node merges it, her
// next change reaches bob with his file kept. A share eve sends bob shows
// under her address, not alice's. After alice unshares, bob no longer
// lists it and a file alice changes afterwards does not reach him (what he
// already read stays read: the old capability still opens the old
// version).
func TestShareWithAUser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts CometBFT validators")
	}
	net := StartTestNetwork(t, 4, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	a, b, bd, e := net.Nodes[0], net.Nodes[1], net.Nodes[2], net.Nodes[3]
	ca, cb, cbd, ce := apiClient(t, a), apiClient(t, b), apiClient(t, bd), apiClient(t, e)
	addDevice(t, ctx, b, bd, "bob's phone")

	for c, name := range map[*api.Client]string{ca: "alice", cb: "bob"} {
		if _, err := c.RegisterName(ctx, name); err != nil {
			t.Fatalf("register %s: %v", name, err)
		}
	}
	if _, err := cbd.RegisterName(ctx, "bobs-phone"); !errors.Is(err, api.ErrForbidden) {
		t.Fatalf("a device registers a name: %v, want forbidden", err)
	}
	for _, c := range []*api.Client{ca, ce} {
		waitFor(t, "bob's name to resolve", func() error {
			n, err := c.LookupName(ctx, "bob")
			if err == nil && n.Account != b.addr.String() {
				t.Fatalf("bob resolves to %+v", n)
			}
			return err
		})
	}
	waitInbox(t, ctx, a, b)
	waitInbox(t, ctx, a, e)

	data := randomBytes(300_000)
	note := []byte("a note in a subdirectory")
	putBytes(t, ctx, ca, "/docs/a.bin", data)
	putBytes(t, ctx, ca, "/docs/sub/note.txt", note)
	putBytes(t, ctx, ca, "/private/secret.txt", []byte("not shared"))

	if _, err := ca.Share(ctx, "/docs", "nobody-here", false); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("sharing with an unknown name: %v", err)
	}
	if _, err := ca.Share(ctx, "/nothing", "bob", false); !errors.Is(err, api.ErrNoPath) {
		t.Fatalf("sharing a missing path: %v", err)
	}
	sh, err := ca.Share(ctx, "/docs", "bob", false)
	if err != nil {
		t.Fatal(err)
	}
	if sh.Recipient != b.addr.String() || sh.RecipientName != "bob" || sh.Path != "/docs" {
		t.Fatalf("share %+v", sh)
	}
	if _, err := ca.Share(ctx, "/docs", b.addr.String(), false); !errors.Is(err, api.ErrConflict) {
		t.Fatalf("sharing /docs with bob twice: %v", err)
	}
	// Bob's phone's address is bob.
	if _, err := ca.Share(ctx, "/docs", bd.addr.String(), false); !errors.Is(err, api.ErrConflict) {
		t.Fatalf("sharing /docs with bob's phone: %v, want already shared with bob", err)
	}

	// Bob, on his node and on his device.
	for _, c := range []*api.Client{cb, cbd} {
		// Each node reads the ledger through its own validator, which may
		// be a block behind.
		waitFor(t, "bob to list the share", func() error {
			l, err := c.List(ctx, "/shared-with-me/alice/docs", 0)
			if err != nil {
				return err
			}
			if len(l.Entries) != 2 || l.Entries[0].Name != "a.bin" || l.Entries[1].Name != "sub" || !l.Entries[1].Dir {
				t.Fatalf("bob lists %+v", l.Entries)
			}
			return nil
		})
		wantBytes(t, ctx, c, "/shared-with-me/alice/docs/a.bin", data)
		wantBytes(t, ctx, c, "/shared-with-me/alice/docs/sub/note.txt", note)
		if _, err := c.Stat(ctx, "/shared-with-me/alice/private", 0); !errors.Is(err, api.ErrNoPath) {
			t.Fatalf("bob sees alice's unshared /private: %v", err)
		}
	}
	got, err := cb.Shares(ctx)
	if err != nil || len(got.Received) != 1 || got.Received[0].At != "/shared-with-me/alice/docs" || got.Received[0].Path != "" {
		t.Fatalf("bob's shares %+v, %v", got, err)
	}
	if _, err := cb.PutPath(ctx, bytes.NewReader(note), int64(len(note)), "/shared-with-me/alice/docs/x", api.PathPutOptions{Parents: true}); !errors.Is(err, api.ErrForbidden) {
		t.Fatalf("bob writes into a read-only share: %v", err)
	}
	if _, err := cb.Mkdir(ctx, "/shared-with-me/mine", false); !errors.Is(err, api.ErrInvalid) {
		t.Fatalf("bob makes a directory in /shared-with-me: %v", err)
	}

	// Alice's change reaches bob.
	data2 := randomBytes(200_000)
	putBytes(t, ctx, ca, "/docs/a.bin", data2)
	wantBytes(t, ctx, cb, "/shared-with-me/alice/docs/a.bin", data2)
	old, err := cb.Stat(ctx, "/shared-with-me/alice/docs/a.bin", 0)
	if err != nil {
		t.Fatal(err)
	}

	// Eve: nothing shared to her; the share does not open for her.
	eshares, err := ce.Shares(ctx)
	if err != nil || len(eshares.Received) != 0 {
		t.Fatalf("eve's shares %+v, %v", eshares, err)
	}
	if l, err := ce.List(ctx, "/shared-with-me", 0); err != nil || len(l.Entries) != 0 {
		t.Fatalf("eve lists /shared-with-me: %+v, %v", l, err)
	}
	if _, err := readPath(ctx, ce, "/shared-with-me/alice/docs/a.bin", 0); !errors.Is(err, api.ErrNoPath) {
		t.Fatalf("eve reads bob's share: %v", err)
	}
	rec, err := e.lcc.Share(ctx, chain.Hash(mustID(t, sh.ID)))
	if err != nil {
		t.Fatal(err)
	}
	eveInbox, err := e.inbox()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sharing.OpenKey(eveInbox, rec.Owner, rec.Recipient, rec.Key); !errors.Is(err, sharing.ErrSealed) {
		t.Fatalf("the share key opens with eve's inbox: %v", err)
	}
	if _, err := sharing.OpenKey(eveInbox, rec.Owner, e.addr, rec.Key); !errors.Is(err, sharing.ErrSealed) {
		t.Fatalf("the share key opens for eve as recipient: %v", err)
	}
	// Eve cannot take the share over: the ledger refuses her update.
	if _, err := e.lcc.BroadcastCommit(ctx, &chain.SetShare{ShareID: rec.ID, Version: rec.Version + 1, Pointer: []byte("x")}); !errors.Is(err, chain.ErrUnauthorized) {
		t.Fatalf("eve updates alice's share: %v", err)
	}

	// A writable share: bob writes from his device; alice's node merges it
	// into her namespace; her later change reaches bob with his file kept.
	plan := []byte("plan v1")
	putBytes(t, ctx, ca, "/team/plan.txt", plan)
	if _, err := ca.Share(ctx, "/team", "bob", true); err != nil {
		t.Fatal(err)
	}
	wantBytes(t, ctx, cbd, "/shared-with-me/alice/team/plan.txt", plan)
	fromBob := []byte("written by bob on his phone")
	putBytes(t, ctx, cbd, "/shared-with-me/alice/team/from-bob.txt", fromBob)
	wantBytes(t, ctx, ca, "/team/from-bob.txt", fromBob)
	plan2 := []byte("plan v2, by alice")
	putBytes(t, ctx, ca, "/team/plan.txt", plan2)
	wantBytes(t, ctx, cb, "/shared-with-me/alice/team/plan.txt", plan2)
	wantBytes(t, ctx, cb, "/shared-with-me/alice/team/from-bob.txt", fromBob)
	// Both write at once: neither change is lost.
	var wg sync.WaitGroup
	both := map[string]*api.Client{"/team/by-alice.txt": ca, "/shared-with-me/alice/team/by-bob.txt": cb}
	for p, c := range both {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.PutPath(ctx, strings.NewReader(p), int64(len(p)), p, api.PathPutOptions{PutOptions: api.PutOptions{Copies: 2}}); err != nil {
				t.Errorf("concurrent put %s: %v", p, err)
			}
		}()
	}
	wg.Wait()
	for _, c := range []*api.Client{ca, cb} {
		prefix := "/team/"
		if c == cb {
			prefix = "/shared-with-me/alice/team/"
		}
		for p := range both {
			q := prefix + path.Base(p)
			wantBytes(t, ctx, c, q, []byte(p))
		}
	}
	if _, err := cb.RemovePath(ctx, "/shared-with-me/alice/team", true); !errors.Is(err, api.ErrInvalid) {
		t.Fatalf("bob removes the top of a share: %v", err)
	}
	if _, err := cb.Move(ctx, "/shared-with-me/alice/team/from-bob.txt", "/mine.txt", false); !errors.Is(err, api.ErrInvalid) {
		t.Fatalf("bob moves a file out of a share: %v", err)
	}
	if _, err := ce.PutPath(ctx, bytes.NewReader(note), int64(len(note)), "/shared-with-me/alice/team/eve.txt", api.PathPutOptions{}); err == nil {
		t.Fatal("eve writes into bob's share")
	}

	// Anyone may send bob a share, but it shows under the sender's own
	// name or address (the ledger's owner is the signer): eve cannot pass
	// for alice.
	putBytes(t, ctx, ce, "/notes/hello.txt", []byte("from eve"))
	if _, err := ce.Share(ctx, "/notes", "bob", false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "bob to list eve's share", func() error {
		l, err := cb.List(ctx, "/shared-with-me", 0)
		if err != nil {
			return err
		}
		if len(l.Entries) != 2 {
			return fmt.Errorf("bob lists %+v", l.Entries)
		}
		if l.Entries[0].Name != e.addr.String() && l.Entries[1].Name != e.addr.String() {
			t.Fatalf("eve's share is not under her address: %+v", l.Entries)
		}
		return nil
	})
	if l, err := cb.List(ctx, "/shared-with-me/alice", 0); err != nil || len(l.Entries) != 2 {
		t.Fatalf("alice's shares to bob: %+v, %v; want docs and team only", l, err)
	}

	// Unshare: bob no longer lists it; alice's next change does not reach him.
	if gone, err := ca.Unshare(ctx, "/docs", "bob"); err != nil || len(gone) != 1 {
		t.Fatalf("unshare: %+v, %v", gone, err)
	}
	if _, err := ca.Unshare(ctx, "/docs", "bob"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("unsharing again: %v", err)
	}
	for _, c := range []*api.Client{cb, cbd} {
		waitFor(t, "bob to lose the share", func() error {
			if _, err := c.Stat(ctx, "/shared-with-me/alice/docs", 0); !errors.Is(err, api.ErrNoPath) {
				return fmt.Errorf("bob still has the share: %v", err)
			}
			return nil
		})
	}
	data3 := randomBytes(100_000)
	after := putBytes(t, ctx, ca, "/docs/a.bin", data3)
	if _, err := readPath(ctx, cb, "/shared-with-me/alice/docs/a.bin", 0); !errors.Is(err, api.ErrNoPath) {
		t.Fatalf("bob reads after unshare: %v", err)
	}
	bs, err := cb.Shares(ctx)
	if err != nil || len(bs.Received) != 2 {
		t.Fatalf("bob's shares after unsharing /docs: %+v, %v; want team and eve's notes", bs, err)
	}
	for _, r := range bs.Received {
		if r.Name == "docs" {
			t.Fatalf("bob still receives /docs: %+v", bs.Received)
		}
	}
	// What bob read stays read: the capability he saw still opens the old
	// version (alice's namespace keeps it); the new one he never saw.
	if old.Capability == after.Entry.Capability {
		t.Fatal("the changed file kept its capability")
	}
	rc, _, err := cb.Open(ctx, old.Capability)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	_, err = buf.ReadFrom(rc)
	rc.Close()
	if err != nil || !bytes.Equal(buf.Bytes(), data2) {
		t.Fatalf("the old capability: %v", err)
	}
}

// TestSharePublicFolder: what alice puts under /public is readable by her
// name from a stranger's node (coop://alice/...), kept up to date as she
// changes it (also from her device, which derives the share's keys from
// the account's root key), and withdrawn when she removes /public.
func TestSharePublicFolder(t *testing.T) {
	if testing.Short() {
		t.Skip("starts CometBFT validators")
	}
	net := StartTestNetwork(t, 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	ca, cd, cs := apiClient(t, net.Nodes[0]), apiClient(t, net.Nodes[1]), apiClient(t, net.Nodes[2])
	addDevice(t, ctx, net.Nodes[0], net.Nodes[1], "laptop")
	if _, err := ca.RegisterName(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "alice's name to resolve", func() error {
		_, err := cs.LookupName(ctx, "alice")
		return err
	})
	if _, err := cs.Stat(ctx, "coop://alice/", 0); !errors.Is(err, api.ErrNoPath) {
		t.Fatalf("a public folder before any: %v", err)
	}
	page := []byte("<h1>alice</h1>")
	putBytes(t, ctx, ca, "/public/index.html", page)
	putBytes(t, ctx, ca, "/private.txt", []byte("not public"))
	waitFor(t, "the stranger to list alice's public folder", func() error {
		l, err := cs.List(ctx, "coop://alice/", 0)
		if err == nil && (len(l.Entries) != 1 || l.Entries[0].Path != "coop://alice/index.html") {
			t.Fatalf("the stranger lists %+v", l)
		}
		return err
	})
	wantBytes(t, ctx, cs, "coop://alice/index.html", page)
	wantBytes(t, ctx, cs, "coop://"+net.Nodes[0].addr.String()+"/index.html", page)
	if _, err := cs.Stat(ctx, "coop://alice/../private.txt", 0); err == nil {
		t.Fatal("the stranger reached outside /public")
	}

	page2 := []byte("<h1>alice, updated</h1>")
	putBytes(t, ctx, ca, "/public/index.html", page2)
	wantBytes(t, ctx, cs, "coop://alice/index.html", page2)
	page3 := []byte("<h1>alice, from her laptop</h1>")
	waitFor(t, "the device to see /public", func() error {
		_, err := cd.Stat(ctx, "/public/index.html", 0)
		return err
	})
	putBytes(t, ctx, cd, "/public/index.html", page3)
	wantBytes(t, ctx, cs, "coop://alice/index.html", page3)
	pubs, err := net.Nodes[0].lcc.PublicShares(ctx, net.Nodes[0].addr)
	if err != nil || len(pubs) != 1 || pubs[0].By != net.Nodes[1].addr || pubs[0].Version != 3 {
		t.Fatalf("alice's public shares: %+v, %v; want one, at version 3 by her laptop", pubs, err)
	}

	if _, err := ca.Unshare(ctx, "/public", ""); !errors.Is(err, api.ErrInvalid) {
		t.Fatalf("unsharing /public: %v, want invalid (remove it instead)", err)
	}
	if _, err := ca.RemovePath(ctx, "/public", true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the public folder to go", func() error {
		if _, err := cs.Stat(ctx, "coop://alice/index.html", 0); !errors.Is(err, api.ErrNoPath) {
			return fmt.Errorf("after /public is removed: %v", err)
		}
		return nil
	})
}
