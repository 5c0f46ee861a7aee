package compute

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"

	"github.com/coop-network/coop/compute/instrument"
)

// wasmerModule is the module path of the runtime; its version is part of
// cache keys because serialized modules are native code for one runtime.
const wasmerModule = "github.com/wasmerio/wasmer-go"

var wasmerVersion = sync.OnceValue(func() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == wasmerModule {
				return d.Version
			}
		}
	}
	return "unknown"
})

// cacheKey names a compiled module: the module hash, the instrumentation
// settings, the runtime version and the target.
func cacheKey(module Hash, cfg instrument.Config) string {
	fp := cfg.Fingerprint()
	h := sha256.New()
	h.Write(module[:])
	h.Write(fp[:])
	fmt.Fprintf(h, "\x00%s\x00%s/%s", wasmerVersion(), runtime.GOOS, runtime.GOARCH)
	return fmt.Sprintf("%x", h.Sum(nil))
}

// cacheMagic starts every cache file; the SHA-256 of the payload follows,
// so a torn or corrupted file is never handed to the deserializer (which
// trusts its input: it is native code).
var cacheMagic = []byte("coop-wasmer-module\x00v1\x00")

// diskCache stores serialized compiled modules in a directory.
type diskCache struct{ dir string }

func (c diskCache) path(key string) string { return filepath.Join(c.dir, key+".bin") }

// load returns the payload stored under key, or nil.
func (c diskCache) load(key string) []byte {
	if c.dir == "" {
		return nil
	}
	b, err := os.ReadFile(c.path(key))
	if err != nil || len(b) < len(cacheMagic)+40 || !bytes.HasPrefix(b, cacheMagic) {
		return nil
	}
	b = b[len(cacheMagic):]
	n := binary.BigEndian.Uint64(b[32:40])
	payload := b[40:]
	if uint64(len(payload)) != n || sha256.Sum256(payload) != [32]byte(b[:32]) {
		return nil
	}
	return payload
}

// store writes payload under key atomically (temp file, fsync, rename).
func (c diskCache) store(key string, payload []byte) error {
	if c.dir == "" {
		return nil
	}
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(c.dir, key+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	sum := sha256.Sum256(payload)
	hdr := append(append([]byte(nil), cacheMagic...), sum[:]...)
	hdr = binary.BigEndian.AppendUint64(hdr, uint64(len(payload)))
	if _, err := f.Write(hdr); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(payload); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), c.path(key))
}
