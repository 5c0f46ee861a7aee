package storage

import (
	"fmt"

	"github.com/coop-network/coop/storage/manifest"
)

// Config chooses how Put cuts and codes a file. The values are recorded in
// the manifest, so Get needs no Config.
type Config struct {
	// K data pieces and M parity pieces per segment; any K of the K+M
	// rebuild it. K = 1 stores M+1 identical copies.
	K, M int
	// SegmentSize is the plaintext size of a segment (the last may be shorter).
	SegmentSize int64
	// StripeUnit is how many bytes each piece receives per stripe; Put holds
	// a few stripes of (K+M)×StripeUnit bytes in memory.
	StripeUnit int
}

// DefaultConfig returns K=4, M=2, 64 MiB segments and 256 KiB stripe units.
func DefaultConfig() Config {
	return Config{K: 4, M: 2, SegmentSize: 64 << 20, StripeUnit: 256 << 10}
}

// Validate reports whether the manifest format can record c.
func (c Config) Validate() error {
	switch {
	case c.K < 1 || c.M < 0 || c.K+c.M > manifest.MaxShards:
		return fmt.Errorf("storage: k=%d m=%d: need k ≥ 1, m ≥ 0, k+m ≤ %d", c.K, c.M, manifest.MaxShards)
	case c.SegmentSize < manifest.MinSegmentSize || c.SegmentSize > manifest.MaxSegmentSize:
		return fmt.Errorf("storage: segment size %d outside [%d, %d]", c.SegmentSize, manifest.MinSegmentSize, manifest.MaxSegmentSize)
	case c.StripeUnit < manifest.MinStripeUnit || c.StripeUnit > manifest.MaxStripeUnit:
		return fmt.Errorf("storage: stripe unit %d outside [%d, %d]", c.StripeUnit, manifest.MinStripeUnit, manifest.MaxStripeUnit)
	case stripesInFlight*(c.K+c.M)*c.StripeUnit > maxStripeMemory:
		return fmt.Errorf("storage: k+m=%d with stripe unit %d needs %d MiB of stripe buffers, more than %d MiB", c.K+c.M, c.StripeUnit, stripesInFlight*(c.K+c.M)*c.StripeUnit>>20, maxStripeMemory>>20)
	}
	return nil
}

// maxStripeMemory bounds Put's stripe buffers, so memory stays bounded
// whatever the file size and configuration.
const maxStripeMemory = 32 << 20

// Option adjusts one Put or Get call.
type Option func(*options)

type options struct {
	progress func(done int64)
	key      *[KeySize]byte
	tempDir  string
	get      getOptions // Get's fetch schedule (see get.go)
}

// WithProgress calls f with the plaintext bytes processed so far, from the
// calling goroutine, after every chunk (at most every 64 KiB or so).
func WithProgress(f func(done int64)) Option { return func(o *options) { o.progress = f } }

// WithFileKey makes Put use key instead of a random file key. The key must be
// secret and used for one file only.
func WithFileKey(key [KeySize]byte) Option { return func(o *options) { o.key = &key } }

// WithTempDir makes Get spool pieces that arrive as plain streams into dir
// (default os.TempDir()). At most K pieces are spooled at a time.
func WithTempDir(dir string) Option { return func(o *options) { o.tempDir = dir } }

func collect(opts []Option) options {
	var o options
	for _, f := range opts {
		f(&o)
	}
	return o
}
