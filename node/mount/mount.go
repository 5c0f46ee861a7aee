package mount

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// Mounted is a running mount.
type Mounted struct {
	dir    string
	server *fuse.Server
	log    *slog.Logger
	done   chan struct{} // closed when the server has stopped
	stop   context.CancelFunc

	once sync.Once
	err  error
}

// Mount shows b's namespace at dir, which must be an existing directory.
// A stale mount left at dir by a crashed mount process is cleared first
// (see Recover). The mount lasts until Unmount, ctx's end (the caller's
// SIGINT), or an unmount from outside (fusermount3 -u); Wait waits for it.
func Mount(ctx context.Context, dir string, b Backend, opts Options) (*Mounted, error) {
	if b == nil {
		return nil, errors.New("mount: nil Backend")
	}
	if err := opts.validate(); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("mount: %w", err)
	}
	if recovered, err := Recover(abs); err != nil {
		return nil, err
	} else if recovered {
		opts.Log.Warn("mount: cleared a stale mount left by a crashed mount process", "dir", abs)
	}
	if st, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("mount: mount point: %w", err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("mount: mount point %s is not a directory", abs)
	}
	if isMountPoint(abs) {
		return nil, fmt.Errorf("mount: %s is already a mount point (another `coop mount`?); unmount it first: fusermount3 -u %s", abs, abs)
	}
	f := &fsys{b: safeBackend{b}, o: opts, log: opts.Log, inos: map[string]uint64{}, nextIno: rootIno}
	if st, ok := b.(Streamer); ok {
		f.st = safeStreamer{st}
	}
	if f.blocks, err = openBlockCache(filepath.Join(opts.CacheDir, "blocks"), opts.CacheBytes, opts.Log); err != nil {
		return nil, err
	}
	if f.dirs, err = openDirCache(filepath.Join(opts.CacheDir, "dirs"), opts.Log); err != nil {
		return nil, err
	}
	f.spool, f.unsent = filepath.Join(opts.CacheDir, "spool"), filepath.Join(opts.CacheDir, "unsent")
	for _, d := range []string{f.spool, f.unsent} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("mount: cache: %w", err)
		}
	}
	f.keepCrashedSpools()
	life, stop := context.WithCancel(context.WithoutCancel(ctx))
	f.life = life
	f.blocks.life = life
	root := &dirNode{node: node{f: f, info: Info{Path: "/", Dir: true}}}
	timeout := opts.Timeout
	fo := &gofs.Options{
		MountOptions: fuse.MountOptions{
			FsName:       "coop",
			Name:         "coop",
			DirectMount:  true, // as root, mount(2) itself; else fusermount3
			MaxWrite:     1 << 20,
			MaxReadAhead: 1 << 20,
			Debug:        opts.Debug,
		},
		EntryTimeout:    &timeout,
		AttrTimeout:     &timeout,
		NegativeTimeout: &timeout,
		UID:             opts.UID,
		GID:             opts.GID,
		Logger:          log.New(slogWriter{opts.Log}, "", 0),
	}
	server, err := gofs.Mount(abs, root, fo)
	if err != nil {
		stop()
		return nil, fmt.Errorf("mount: mounting at %s: %w", abs, err)
	}
	m := &Mounted{dir: abs, server: server, log: opts.Log, done: make(chan struct{}), stop: stop}
	go func() {
		server.Wait()
		stop()
		f.closeStreams()
		f.blocks.wg.Wait()
		m.log.Info("unmounted", "dir", abs)
		close(m.done)
	}()
	go func() {
		select {
		case <-ctx.Done():
			if err := m.Unmount(); err != nil {
				m.log.Warn("mount: unmount failed", "dir", abs, "err", err)
			}
		case <-m.done:
		}
	}()
	opts.Log.Info("mounted", "dir", abs, "cache", opts.CacheDir)
	return m, nil
}

// Dir is the mount point.
func (m *Mounted) Dir() string { return m.dir }

// Unmount unmounts and waits until the server has stopped. A busy mount
// point (a program still has a file open there or is inside it) is
// detached lazily: it disappears from the tree at once and the server
// stops when the last user lets go. Calling it again returns the first
// result.
func (m *Mounted) Unmount() error {
	m.once.Do(func() {
		if err := m.server.Unmount(); err != nil {
			select {
			case <-m.done: // unmounted from outside meanwhile
				return
			default:
			}
			m.log.Warn("mount: unmount failed, detaching lazily", "dir", m.dir, "err", err)
			if err2 := lazyUnmount(m.dir); err2 != nil {
				m.err = fmt.Errorf("mount: unmounting %s: %w; lazily: %w", m.dir, err, err2)
				return
			}
		}
		<-m.done
	})
	return m.err
}

// Wait blocks until the mount is gone (Unmount, ctx's end, or an unmount
// from outside).
func (m *Mounted) Wait() { <-m.done }

// Recover clears a stale mount at dir: one whose FUSE server died without
// unmounting (kill -9), so that every access fails with "transport
// endpoint is not connected". It detaches it lazily (umount2 MNT_DETACH as
// root, else fusermount3 -u -z) and reports whether there was one. A
// healthy mount, or no mount, is left alone.
func Recover(dir string) (bool, error) {
	var st syscall.Stat_t
	err := syscall.Stat(dir, &st)
	if !errors.Is(err, syscall.ENOTCONN) && !errors.Is(err, syscall.ECONNABORTED) {
		return false, nil
	}
	if lazyUnmount(dir) != nil {
		return false, fmt.Errorf("mount: %s is a stale mount (%v) and could not be unmounted: run `fusermount3 -u -z %s`", dir, err, dir)
	}
	return true, nil
}

// isMountPoint reports whether dir is a mount point of this process's
// mount namespace (field 5 of /proc/self/mountinfo, octal escapes undone).
func isMountPoint(dir string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && unescapeMountinfo(f[4]) == dir {
			return true
		}
	}
	return false
}

// unescapeMountinfo undoes mountinfo's \ooo escapes (space, tab, newline,
// backslash).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, "\\") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// lazyUnmount detaches the mount at dir.
func lazyUnmount(dir string) error {
	err := syscall.Unmount(dir, syscall.MNT_DETACH)
	if err == nil {
		return nil
	}
	for _, prog := range []string{"fusermount3", "fusermount"} {
		if p, lerr := exec.LookPath(prog); lerr == nil {
			out, xerr := exec.Command(p, "-u", "-z", dir).CombinedOutput()
			if xerr == nil {
				return nil
			}
			err = fmt.Errorf("%s: %w: %s", prog, xerr, out)
		}
	}
	return err
}

// keepCrashedSpools moves spool files a crashed mount left (writes never
// closed, so never committed) to unsent/, with a log line each.
func (f *fsys) keepCrashedSpools() {
	ents, _ := os.ReadDir(f.spool)
	for _, e := range ents {
		src := filepath.Join(f.spool, e.Name())
		dst := filepath.Join(f.unsent, "crashed-"+e.Name())
		if err := os.Rename(src, dst); err != nil {
			os.Remove(src)
			continue
		}
		f.log.Warn("mount: a write left unfinished by a crashed mount was never committed; its bytes are kept", "kept", dst)
	}
}

// slogWriter sends go-fuse's log lines to slog.
type slogWriter struct{ l *slog.Logger }

// Write logs one line at debug level.
func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Debug("fuse: " + string(p))
	return len(p), nil
}
