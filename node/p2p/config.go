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

	// Reachability is whether others can dial this node: "auto" (AutoNAT
	// finds out by asking peers to dial back), "public" or "private" (a
	// node that knows it is behind a NAT).
	Reachability string
	// NATService answers other peers' AutoNAT dial-back requests (rate
	// limited by go-libp2p).
	NATService bool
	// RelayService offers Circuit Relay v2 to peers behind NATs, within the
	// Relay* limits; go-libp2p runs it only while this node is reachable
	// (public).
	RelayService bool
	// RelayMaxReservations bounds the peers holding a slot on this relay;
	// RelayMaxCircuits the relayed connections per peer; RelayConnBytes and
	// RelayConnDuration each relayed connection (per direction; after them
	// it is reset). A relayed connection serves to set up a direct one (hole
	// punching) and small messages, not bulk transfers.
	RelayMaxReservations int
	RelayMaxCircuits     int
	RelayConnBytes       int64
	RelayConnDuration    time.Duration
	// Relays are the relays a node that is not reachable reserves a slot
	// with, as multiaddrs ending in /p2p/<peer id>; empty: its Bootstrap
	// peers.
	Relays []string
	// HolePunching turns on DCUtR: a relayed connection is upgraded to a
	// direct one by dialing from both sides at once.
	HolePunching bool

	// MDNS announces this host on the local network by multicast DNS and
	// connects to the hosts of the same network it hears (mdns.go), so
	// nodes on one LAN or community mesh find each other without a
	// bootstrap address. It multicasts on every up interface of the
	// machine (network namespace) and is not started when ListenIP is a
	// loopback address (nobody on the LAN could dial the host).
	MDNS bool
	// MDNSNetwork names the network the host belongs to, the ledger's
	// chain id: it announces and looks for MDNSServiceName(MDNSNetwork)
	// only, so two coop networks on one LAN do not mix. Required with
	// MDNS; node.Start fills in the ledger's chain id when it is empty.
	MDNSNetwork string
}

// Reachability values.
const (
	ReachabilityAuto    = "auto"
	ReachabilityPublic  = "public"
	ReachabilityPrivate = "private"
)

// DefaultConfig returns the configuration of a node reachable on all
// interfaces at the default ports. It leaves MDNS off: the daemon turns it
// on (coop node --mdns) with the chain id as MDNSNetwork.
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

		Reachability:         ReachabilityAuto,
		NATService:           true,
		RelayService:         true,
		RelayMaxReservations: 64,
		RelayMaxCircuits:     8,
		RelayConnBytes:       1 << 20,
		RelayConnDuration:    2 * time.Minute,
		HolePunching:         true,
	}
}
