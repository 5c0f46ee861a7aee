package mount

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"
)

// Defaults of Options.
const (
	// DefaultTimeout is how long the kernel trusts an entry or its
	// attributes before asking again: another device's change shows up
	// within about this long.
	DefaultTimeout = time.Second
	// DefaultBlockSize is the unit of reads from the Backend and of the
	// read cache (aligned blocks of the file).
	DefaultBlockSize = 1 << 20
	// DefaultCacheBytes bounds the read cache on disk.
	DefaultCacheBytes = 1 << 30
	// minBlockSize and maxBlockSize bound Options.BlockSize.
	minBlockSize, maxBlockSize = 4 << 10, 64 << 20
)

// Options configure a mount. CacheDir is required; zero fields take the
// defaults above.
type Options struct {
	// CacheDir holds the read cache (blocks/), the last known listing of
	// every directory read (dirs/), spool files of writes in progress
	// (spool/) and writes that could not be sent (unsent/). It is created
	// if missing; keep one per mount.
	CacheDir string
	// CacheBytes bounds the read cache; the least recently used blocks go
	// first. Default DefaultCacheBytes.
	CacheBytes int64
	// BlockSize is the unit of Backend reads and of the cache, a power of
	// two from 4 KiB to 64 MiB. Default DefaultBlockSize.
	BlockSize int
	// Timeout is the kernel's entry and attribute cache time. Default
	// DefaultTimeout.
	Timeout time.Duration
	// UID and GID own every entry. Default: this process's.
	UID, GID uint32
	// Log receives the mount's log lines. Default slog.Default().
	Log *slog.Logger
	// Debug logs every FUSE request (go-fuse's debug output).
	Debug bool
}

// validate checks o and fills in the defaults.
func (o *Options) validate() error {
	if o.CacheDir == "" {
		return errors.New("mount: Options.CacheDir is required")
	}
	if o.CacheBytes < 0 {
		return fmt.Errorf("mount: negative CacheBytes %d", o.CacheBytes)
	}
	if o.CacheBytes == 0 {
		o.CacheBytes = DefaultCacheBytes
	}
	if o.BlockSize == 0 {
		o.BlockSize = DefaultBlockSize
	}
	if o.BlockSize < minBlockSize || o.BlockSize > maxBlockSize || o.BlockSize&(o.BlockSize-1) != 0 {
		return fmt.Errorf("mount: BlockSize %d is not a power of two from %d to %d", o.BlockSize, minBlockSize, maxBlockSize)
	}
	if o.Timeout < 0 {
		return fmt.Errorf("mount: negative Timeout %v", o.Timeout)
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.UID == 0 && o.GID == 0 {
		o.UID, o.GID = uint32(os.Getuid()), uint32(os.Getgid())
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return nil
}
