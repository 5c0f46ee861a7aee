package p2p

import "time"

// Config configures a Host. The zero value is not useful; start from
// DefaultConfig.
type Config struct {
	// ListenIP is the IPv4 address both transports bind to ("0.0.0.0" for
	// all interfaces, "127.0.0.1" in tests).
	ListenIP string
	// TCPPort and QUICPort are the listening ports; 0 picks a free port.
	TCPPort  int
	QUICPort int
	// DisableQUIC turns the QUIC transport off (TCP only).
	DisableQUIC bool
	// PreferTCP dials a peer's TCP addresses first and its QUIC addresses
	// only if TCP has not connected within a quarter second. Bulk piece
	// transfers run several times faster over TCP+Noise+yamux than over
	// quic-go on the same link (BenchmarkStreamRaw vs BenchmarkNetwork's
	// ceiling); QUIC stays the fallback.
	PreferTCP bool
	// Bootstrap lists peers to connect to at start, as multiaddrs ending in
	// /p2p/<peer id>.
	Bootstrap []string
	// ConnLow and ConnHigh are the connection manager's water marks: above
	// ConnHigh connections it trims down to ConnLow, sparing connections
	// younger than ConnGrace.
	ConnLow   int
	ConnHigh  int
	ConnGrace time.Duration
	// DHTPrefix is the DHT protocol prefix. It must not be /ipfs.
	DHTPrefix string
	// DialTimeout bounds each connection attempt during bootstrap.
	DialTimeout time.Duration
}

// DefaultConfig returns the configuration of a node reachable on all
// interfaces at the default ports.
func DefaultConfig() Config {
	return Config{
		ListenIP:    "0.0.0.0",
		TCPPort:     4101,
		QUICPort:    4101,
		ConnLow:     64,
		ConnHigh:    256,
		ConnGrace:   time.Minute,
		PreferTCP:   true,
		DHTPrefix:   "/coop",
		DialTimeout: 10 * time.Second,
	}
}
