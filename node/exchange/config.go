package exchange

import "time"

// Config holds the exchange's limits. Start from DefaultConfig.
type Config struct {
	// MaxPieceSize is the largest piece this node serves, accepts or
	// fetches, in bytes.
	MaxPieceSize int64
	// MaxRangeLeaves is the most leaves one range request may ask for.
	MaxRangeLeaves uint64
	// MaxStreamsPerPeer and MaxStreams bound concurrent inbound requests
	// from one peer and from all peers; more are answered StatusBusy.
	MaxStreamsPerPeer int
	MaxStreams        int
	// MaxOutboundPerPeer bounds the requests this node has open to one
	// peer at a time; more wait for one to end instead of being answered
	// StatusBusy by a peer that serves MaxStreamsPerPeer (half of the
	// default leaves room for a stream the peer has not yet released).
	MaxOutboundPerPeer int
	// DialTimeout bounds opening a stream to a peer (dialing it if needed).
	DialTimeout time.Duration
	// HeaderTimeout bounds the wait for a control message.
	HeaderTimeout time.Duration
	// IdleTimeout aborts a transfer that made no progress for this long.
	IdleTimeout time.Duration
	// UploadRate caps the bytes per second this node sends as piece data
	// (serving gets and pushing), emulating a home uplink; 0 means no cap.
	UploadRate int64
	// UploadBurst is the token bucket's size in bytes (at least 64 KiB).
	UploadBurst int
}

// DefaultConfig returns limits sized for 64 MiB segments split over k ≥ 1
// pieces, with room for encryption overhead.
func DefaultConfig() Config {
	return Config{
		MaxPieceSize:       80 << 20,
		MaxRangeLeaves:     4096,
		MaxStreamsPerPeer:  16,
		MaxOutboundPerPeer: 8,
		MaxStreams:         256,
		DialTimeout:        5 * time.Second,
		HeaderTimeout:      5 * time.Second,
		IdleTimeout:        30 * time.Second,
		UploadBurst:        256 << 10,
	}
}
