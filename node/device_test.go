package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/api"
)

// waitFor polls cond (a state check) until it holds or a minute passes.
func waitFor(t testing.TB, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func readPath(ctx context.Context, c *api.Client, p string, version uint64) ([]byte, error) {
	rc, _, err := c.OpenPath(ctx, p, version)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var b bytes.Buffer
	_, err = b.ReadFrom(rc)
	return b.Bytes(), err
}

// addDevice makes node dev a device of node acct's account, through the
// API as the CLI does, and waits until dev acts for it.
func addDevice(t testing.TB, ctx context.Context, acct, dev *Node, label string) {
	t.Helper()
	code, err := apiClient(t, dev).DeviceRequest(ctx, acct.addr.String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := apiClient(t, acct).AddDevice(ctx, code, label); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the device to act for the account", func() error {
		if a := dev.account(); !a.Device || a.Address != acct.addr {
			return errors.New("not yet")
		}
		return nil
	})
}

// TestTwoDevicesShareANamespace: node 1 becomes a device of node 0's
// account; a file put at a path on one device is listed and read
// bit-exact on the other (and the other way round, the device's put
// charged to the account); concurrent edits of one path from both devices
// merge with a conflict copy and lose nothing; after the device is
// removed its transactions for the account are refused.
func TestTwoDevicesShareANamespace(t *testing.T) {
	if testing.Short() {
		t.Skip("starts CometBFT validators")
	}
	net := StartTestNetwork(t, 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	a, d := net.Nodes[0], net.Nodes[1]
	ca, cd := apiClient(t, a), apiClient(t, d)

	// A device code for another account does not add the device.
	wrong, err := cd.DeviceRequest(ctx, net.Nodes[2].addr.String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.AddDevice(ctx, wrong, "x"); !errors.Is(err, api.ErrInvalid) {
		t.Fatalf("adding a device with a code for another account: %v", err)
	}
	addDevice(t, ctx, a, d, "laptop")
	ds, err := ca.Devices(ctx)
	if err != nil || len(ds.Devices) != 1 || ds.Devices[0].Address != d.addr.String() || ds.Devices[0].Label != "laptop" {
		t.Fatalf("devices: %+v, %v", ds, err)
	}

	// Put on the account's node, read on the device.
	data := make([]byte, 1<<20+12345)
	_, _ = rand.Read(data)
	put, err := ca.PutPath(ctx, bytes.NewReader(data), int64(len(data)), "/docs/a.bin", api.PathPutOptions{PutOptions: api.PutOptions{Copies: 2}, Parents: true})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the device to list /docs", func() error {
		l, err := cd.List(ctx, "/docs", 0)
		if err != nil {
			return err
		}
		if l.Version < put.Version || len(l.Entries) != 1 || l.Entries[0].Name != "a.bin" {
			return errors.New("not listed yet")
		}
		return nil
	})
	if got, err := readPath(ctx, cd, "/docs/a.bin", 0); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("device reads /docs/a.bin: %v, bit-exact %v", err, bytes.Equal(got, data))
	}

	// Put on the device: the file is the account's, and the account's node
	// reads it.
	other := []byte("written on the laptop")
	dput, err := cd.PutPath(ctx, bytes.NewReader(other), int64(len(other)), "/docs/b.txt", api.PathPutOptions{PutOptions: api.PutOptions{Copies: 2}})
	if err != nil {
		t.Fatal(err)
	}
	f, err := a.lc.File(ctx, chain.Hash(mustID(t, dput.Put.FileID)))
	if err != nil || f.Owner != a.addr {
		t.Fatalf("the device's file is owned by %s (%v), want the account %s", f.Owner, err, a.addr)
	}
	waitFor(t, "the account's node to read /docs/b.txt", func() error {
		got, err := readPath(ctx, ca, "/docs/b.txt", 0)
		if err != nil {
			return err
		}
		if !bytes.Equal(got, other) {
			return errors.New("different bytes")
		}
		return nil
	})

	// Both devices edit /docs/b.txt and rename a.bin at once: both puts
	// read the tree before either commits (else the later one would be a
	// plain overwrite of what it read).
	var read sync.WaitGroup
	read.Add(2)
	testHookPutPathRead = func(p string) {
		if p == "/docs/b.txt" {
			read.Done()
			read.Wait()
		}
	}
	defer func() { testHookPutPathRead = nil }()
	var wg sync.WaitGroup
	edits := map[*api.Client][]byte{ca: []byte("edit from the desktop"), cd: []byte("edit from the laptop")}
	errs := make(chan error, 4)
	versions := make(chan uint64, 4)
	for c, b := range edits {
		wg.Add(2)
		go func() {
			defer wg.Done()
			ch, err := c.PutPath(ctx, bytes.NewReader(b), int64(len(b)), "/docs/b.txt", api.PathPutOptions{PutOptions: api.PutOptions{Copies: 2}})
			if err == nil {
				versions <- ch.Version
			}
			errs <- err
		}()
		go func() {
			defer wg.Done()
			to := "/docs/a-desktop.bin"
			if c == cd {
				to = "/docs/a-laptop.bin"
			}
			ch, err := c.Move(ctx, "/docs/a.bin", to, false)
			if err == nil {
				versions <- ch.Version
			}
			errs <- err
		}()
	}
	wg.Wait()
	testHookPutPathRead = nil
	close(errs)
	close(versions)
	last := uint64(0)
	for v := range versions {
		last = max(last, v)
	}
	failed := 0
	for err := range errs {
		if err != nil {
			// Only the second rename may fail: its source is gone.
			if !errors.Is(err, api.ErrNoPath) {
				t.Fatalf("concurrent change: %v", err)
			}
			failed++
		}
	}
	if failed > 1 {
		t.Fatalf("%d concurrent changes failed", failed)
	}
	// The account's node may be a block behind the device's last commit.
	var l *api.Listing
	waitFor(t, "the account's node to see the last change", func() error {
		var err error
		if l, err = ca.List(ctx, "/docs", 0); err == nil && l.Version < last {
			err = fmt.Errorf("at version %d, the last change made %d", l.Version, last)
		}
		return err
	})
	found := map[string]bool{}
	var conflictCopy string
	for _, e := range l.Entries {
		b, err := readPath(ctx, ca, e.Path, 0)
		if err != nil {
			t.Fatalf("reading %s: %v", e.Path, err)
		}
		found[string(b)] = true
		if strings.Contains(e.Name, "conflict") {
			conflictCopy = e.Path
		}
	}
	for _, b := range edits {
		if !found[string(b)] {
			t.Fatalf("an edit was lost: %q not in %+v", b, l.Entries)
		}
	}
	if !found[string(data)] {
		t.Fatalf("the renamed file was lost: %+v", l.Entries)
	}
	if conflictCopy == "" {
		t.Fatalf("no conflict copy among %+v", l.Entries)
	}

	// Removed, the device's changes for the account are refused.
	if err := ca.RemoveDevice(ctx, d.addr.String()); err != nil {
		t.Fatal(err)
	}
	_, err = d.lcc.BroadcastCommitFor(ctx, a.addr, &chain.SetRoot{Version: l.Version + 1, Root: []byte{1}})
	if !errors.Is(err, chain.ErrNotDevice) {
		t.Fatalf("a removed device's SetRoot for the account: %v, want ErrNotDevice", err)
	}
	waitFor(t, "the removed device to act for itself", func() error {
		if d.account().Device {
			return errors.New("still a device")
		}
		return nil
	})
}
