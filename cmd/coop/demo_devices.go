package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/node/mount"
)

// deviceScene shows one account on two devices: node 1 becomes a device of
// node 0's account, a file written through node 0's mount (or, without
// FUSE here, put at its path) is listed and read on node 1 moments after
// the write's close() returned, and a concurrent edit of one path from
// both devices keeps both versions.
func (d *networkDemo) deviceScene(ctx context.Context) error {
	acct, err := d.clients[0].Status(ctx)
	if err != nil {
		return err
	}
	code, err := d.clients[1].DeviceRequest(ctx, acct.Account)
	if err != nil {
		return fmt.Errorf("device request on node 1: %w", err)
	}
	if _, err := d.clients[0].AddDevice(ctx, code, "laptop"); err != nil {
		return fmt.Errorf("adding node 1 as a device: %w", err)
	}
	if err := waitUntil(ctx, time.Minute, func() (bool, error) {
		ds, err := d.clients[1].Devices(ctx)
		return err == nil && ds.Account == acct.Account, nil
	}); err != nil {
		return fmt.Errorf("node 1 did not become a device of %s: %w", acct.Account, err)
	}
	d.say("devices: node 1 (\"laptop\") is now a device of node 0's account %s…: the account's keys reached it sealed on the ledger", acct.Account[:12])

	content := []byte(fmt.Sprintf("notes written on node 0 at %s\n", time.Now().Format(time.TimeOnly)))
	var closed time.Time
	how := "through node 0's FUSE mount"
	if why := fuseMissing(); why == "" {
		dir := filepath.Join(d.work, "mnt0")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		m, err := mount.Mount(ctx, dir, mount.NewAPIBackend(d.clients[0]), mount.Options{CacheDir: filepath.Join(d.work, "mnt0-cache")})
		if err != nil {
			return fmt.Errorf("mounting node 0's namespace: %w", err)
		}
		defer m.Unmount()
		if err := os.Mkdir(filepath.Join(dir, "notes"), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "notes", "hello.txt"), content, 0o644); err != nil {
			return err
		}
		closed = time.Now()
	} else {
		how = "with coop put (no FUSE here: " + why + ")"
		if _, err := d.clients[0].PutPath(ctx, bytes.NewReader(content), int64(len(content)), "/notes/hello.txt", api.PathPutOptions{Parents: true}); err != nil {
			return err
		}
		closed = time.Now()
	}
	var seen time.Duration
	if err := waitUntil(ctx, time.Minute, func() (bool, error) {
		rc, _, err := d.clients[1].OpenPath(ctx, "/notes/hello.txt", 0)
		if err != nil {
			return false, nil
		}
		defer rc.Close()
		var b bytes.Buffer
		if _, err := b.ReadFrom(rc); err != nil || !bytes.Equal(b.Bytes(), content) {
			return false, nil
		}
		seen = time.Since(closed)
		return true, nil
	}); err != nil {
		return fmt.Errorf("node 1 never saw /notes/hello.txt: %w", err)
	}
	d.say("devices: wrote /notes/hello.txt %s; node 1 read it, bit-exact, %v after close() returned", how, seen.Round(time.Millisecond))

	// Both devices edit the same file at once: nothing is lost.
	edits := [][]byte{[]byte("edit on node 0\n"), []byte("edit on the laptop\n")}
	errs := make(chan error, 2)
	for i, b := range edits {
		go func() {
			_, err := d.clients[i].PutPath(ctx, bytes.NewReader(b), int64(len(b)), "/notes/hello.txt", api.PathPutOptions{})
			errs <- err
		}()
	}
	for range edits {
		if err := <-errs; err != nil {
			return fmt.Errorf("concurrent edit: %w", err)
		}
	}
	l, err := d.clients[0].List(ctx, "/notes", 0)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(l.Entries))
	for _, e := range l.Entries {
		names = append(names, e.Name)
	}
	d.say("devices: both edited /notes/hello.txt at once; namespace version %d keeps both: %q", l.Version, names)
	return nil
}

// fuseMissing says why this process cannot mount, or "".
func fuseMissing() string {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return "no /dev/fuse"
	}
	if os.Getuid() != 0 {
		for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
			if _, err := os.Stat(filepath.Join(dir, "fusermount3")); err == nil {
				return ""
			}
		}
		return "not root and no fusermount3"
	}
	return ""
}

// waitUntil polls cond until it holds, fails, or timeout passes.
func waitUntil(ctx context.Context, timeout time.Duration, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		ok, err := cond()
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.New("timed out")
		case <-time.After(100 * time.Millisecond):
		}
	}
}
