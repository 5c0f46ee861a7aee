package p2p

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
)

// ErrConfig reports an unusable Config.
var ErrConfig = errors.New("p2p: invalid config")

// Host is a running libp2p host with its DHT. Close stops both.
type Host struct {
	host host.Host
	dht  *dht.IpfsDHT
	cfg  Config
	log  *slog.Logger

	seen seenBook // last contact per peer (liveness.go)

	relayed    *relayBook // relay reservations (nat.go)
	stopRelays context.CancelFunc
	relaysDone chan struct{}

	mdns *mdnsFinder // nil unless Config.MDNS (mdns.go)

	stopPunch context.CancelFunc // the hole-punch retrier (punch.go)
	punchDone chan struct{}

	closeOnce sync.Once
	closeErr  error
}

// New starts a libp2p host whose identity is key, listening as cfg says, and
// a DHT in server mode under cfg.DHTPrefix. It connects to cfg.Bootstrap
// peers before returning; peers that cannot be reached are logged, not fatal,
// so a node can start before its bootstrap peers do.
func New(ctx context.Context, key ed25519.PrivateKey, cfg Config) (*Host, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: ed25519 private key has %d bytes, want %d", ErrConfig, len(key), ed25519.PrivateKeySize)
	}
	if cfg.DHTPrefix == "" || !strings.HasPrefix(cfg.DHTPrefix, "/") || cfg.DHTPrefix == "/ipfs" {
		return nil, fmt.Errorf("%w: DHT prefix %q must be a private /prefix", ErrConfig, cfg.DHTPrefix)
	}
	if cfg.MDNS && cfg.MDNSNetwork == "" {
		return nil, fmt.Errorf("%w: mDNS needs the network's name (its chain id)", ErrConfig)
	}
	if cfg.ConnLow <= 0 || cfg.ConnHigh < cfg.ConnLow {
		return nil, fmt.Errorf("%w: connection limits low=%d high=%d", ErrConfig, cfg.ConnLow, cfg.ConnHigh)
	}
	bootstrap, err := ParseAddrInfos(cfg.Bootstrap)
	if err != nil {
		return nil, fmt.Errorf("%w: bootstrap: %w", ErrConfig, err)
	}
	sk, err := crypto.UnmarshalEd25519PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("%w: identity key: %w", ErrConfig, err)
	}
	cm, err := connmgr.NewConnManager(cfg.ConnLow, cfg.ConnHigh, connmgr.WithGracePeriod(cfg.ConnGrace))
	if err != nil {
		return nil, fmt.Errorf("%w: connection manager: %w", ErrConfig, err)
	}
	listen := []string{fmt.Sprintf("/ip4/%s/tcp/%d", cfg.ListenIP, cfg.TCPPort)}
	opts := []libp2p.Option{
		libp2p.Identity(sk),
		// TLS 1.3 first: its AES-GCM runs on the CPU's AES instructions,
		// about 0.55–0.6× Noise's ChaCha20-Poly1305 CPU per byte
		// (BenchmarkSecureStream); Noise stays for peers that offer only it.
		libp2p.Security(libp2ptls.ID, libp2ptls.New),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.ConnectionManager(cm),
		libp2p.DisableMetrics(),
		libp2p.UserAgent("coop"),
	}
	nat, err := natOptions(cfg)
	if err != nil {
		return nil, err
	}
	opts = append(opts, nat...)
	relays := bootstrap
	if len(cfg.Relays) > 0 {
		if relays, err = ParseAddrInfos(cfg.Relays); err != nil {
			return nil, fmt.Errorf("%w: relays: %w", ErrConfig, err)
		}
	}
	// The host advertises its relay addresses (identify, the ledger's
	// node record) beside its own.
	book := &relayBook{}
	opts = append(opts, libp2p.AddrsFactory(func(addrs []ma.Multiaddr) []ma.Multiaddr {
		return append(addrs, book.all()...)
	}))
	if !cfg.DisableQUIC {
		listen = append(listen, fmt.Sprintf("/ip4/%s/udp/%d/quic-v1", cfg.ListenIP, cfg.QUICPort))
		opts = append(opts, libp2p.Transport(quic.NewTransport))
		if cfg.PreferTCP {
			opts = append(opts, libp2p.DialRanker(tcpFirst))
		}
	}
	opts = append(opts, libp2p.ListenAddrStrings(listen...))
	h, err := libp2p.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("p2p: starting libp2p host on %v: %w", listen, err)
	}
	d, err := dht.New(h,
		dht.Mode(dht.ModeServer),
		dht.ProtocolPrefix(protocol.ID(cfg.DHTPrefix)),
		dht.DisableValues(),
		dht.BootstrapPeers(bootstrap...),
	)
	if err != nil {
		_ = h.Close()
		return nil, fmt.Errorf("p2p: starting DHT: %w", err)
	}
	hh := &Host{host: h, dht: d, cfg: cfg, log: slog.Default().With("peer", h.ID().ShortString()), relayed: book}
	hh.watchContact()
	if len(relays) > 0 && cfg.Reachability != ReachabilityPublic {
		rctx, cancel := context.WithCancel(context.Background())
		hh.stopRelays = cancel
		hh.relaysDone = make(chan struct{})
		go func() {
			defer close(hh.relaysDone)
			hh.reserveRelays(rctx, relays)
		}()
	}
	if cfg.HolePunching {
		pctx, cancel := context.WithCancel(context.Background())
		hh.stopPunch = cancel
		hh.punchDone = make(chan struct{})
		go func() {
			defer close(hh.punchDone)
			hh.retryPunches(pctx)
		}()
	}
	switch off := mdnsOff(cfg); {
	case !cfg.MDNS:
	case off != "":
		hh.log.Info("mDNS off", "why", off)
	default:
		// A host that cannot multicast (no multicast interface) runs on
		// without LAN discovery.
		if hh.mdns, err = startMDNS(hh, cfg.MDNSNetwork); err != nil {
			hh.log.Warn("no LAN discovery", "err", err)
		} else {
			hh.log.Info("mDNS: announcing on the local network", "service", MDNSServiceName(cfg.MDNSNetwork))
		}
	}
	if len(bootstrap) > 0 {
		if err := hh.Bootstrap(ctx, bootstrap); err != nil {
			hh.log.Warn("bootstrap incomplete", "err", err)
		}
	}
	return hh, nil
}

// ID is the host's peer id.
func (h *Host) ID() peer.ID { return h.host.ID() }

// Libp2p is the underlying libp2p host, for protocols that register stream
// handlers on it (the block exchange).
func (h *Host) Libp2p() host.Host { return h.host }

// Addrs are the host's listen addresses, each ending in /p2p/<peer id>, as
// other nodes (and the ledger's node record) should dial them.
func (h *Host) Addrs() []ma.Multiaddr {
	info := peer.AddrInfo{ID: h.host.ID(), Addrs: h.host.Addrs()}
	out, err := peer.AddrInfoToP2pAddrs(&info)
	if err != nil {
		return nil
	}
	return out
}

// AddrInfo is the host's id and listen addresses.
func (h *Host) AddrInfo() peer.AddrInfo {
	return peer.AddrInfo{ID: h.host.ID(), Addrs: h.host.Addrs()}
}

// Connect dials a peer (a no-op if already connected) and remembers its
// addresses.
func (h *Host) Connect(ctx context.Context, ai peer.AddrInfo) error {
	if ai.ID == h.host.ID() {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.DialTimeout)
	defer cancel()
	if err := h.host.Connect(ctx, ai); err != nil {
		return fmt.Errorf("p2p: connecting to %s: %w", ai.ID.ShortString(), err)
	}
	return nil
}

// Bootstrap connects to peers in parallel and refreshes the DHT routing
// table. It returns an error joining every failed dial, but keeps the
// connections that succeeded.
func (h *Host) Bootstrap(ctx context.Context, peers []peer.AddrInfo) error {
	var wg sync.WaitGroup
	errs := make([]error, len(peers))
	for i, ai := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = h.Connect(ctx, ai)
		}()
	}
	wg.Wait()
	err := errors.Join(errs...)
	select {
	case rerr := <-h.dht.RefreshRoutingTable():
		if rerr != nil && err == nil && len(h.dht.RoutingTable().ListPeers()) == 0 {
			err = fmt.Errorf("p2p: refreshing routing table: %w", rerr)
		}
	case <-ctx.Done():
		return errors.Join(err, ctx.Err())
	}
	return err
}

// Provide announces in the DHT that this host holds the piece.
func (h *Host) Provide(ctx context.Context, piece [32]byte) error {
	if err := h.dht.Provide(ctx, PieceCID(piece), true); err != nil {
		return fmt.Errorf("p2p: providing piece %x: %w", piece[:4], err)
	}
	return nil
}

// FindProviders asks the DHT for up to max peers that announced the piece,
// excluding this host.
func (h *Host) FindProviders(ctx context.Context, piece [32]byte, max int) ([]peer.AddrInfo, error) {
	var out []peer.AddrInfo
	for ai := range h.dht.FindProvidersAsync(ctx, PieceCID(piece), max+1) {
		if ai.ID == h.host.ID() {
			continue
		}
		out = append(out, ai)
		if len(out) == max {
			break
		}
	}
	if len(out) == 0 && ctx.Err() != nil {
		return nil, fmt.Errorf("p2p: finding providers of piece %x: %w", piece[:4], ctx.Err())
	}
	return out, nil
}

// Peers are the peers this host is connected to right now.
func (h *Host) Peers() []peer.ID { return h.host.Network().Peers() }

// RoutingTableSize is the number of peers in the DHT routing table.
func (h *Host) RoutingTableSize() int { return h.dht.RoutingTable().Size() }

// Close stops the DHT and the host. It is safe to call more than once.
func (h *Host) Close() error {
	h.closeOnce.Do(func() {
		var merr error
		if h.mdns != nil {
			merr = h.mdns.close()
		}
		if h.stopRelays != nil {
			h.stopRelays()
			<-h.relaysDone
		}
		if h.stopPunch != nil {
			h.stopPunch()
			<-h.punchDone
		}
		h.closeErr = errors.Join(merr, h.dht.Close(), h.host.Close())
	})
	return h.closeErr
}

// ParseAddrInfos parses multiaddrs ending in /p2p/<peer id>, merging
// addresses of the same peer.
func ParseAddrInfos(addrs []string) ([]peer.AddrInfo, error) {
	mas := make([]ma.Multiaddr, 0, len(addrs))
	for _, s := range addrs {
		a, err := ma.NewMultiaddr(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("multiaddr %q: %w", s, err)
		}
		mas = append(mas, a)
	}
	infos, err := peer.AddrInfosFromP2pAddrs(mas...)
	if err != nil {
		return nil, fmt.Errorf("multiaddrs %v: %w", addrs, err)
	}
	return infos, nil
}

// PeerIDFromPublicKey is the libp2p peer id of an account's ed25519 key.
func PeerIDFromPublicKey(pub ed25519.PublicKey) (peer.ID, error) {
	pk, err := crypto.UnmarshalEd25519PublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("p2p: account key: %w", err)
	}
	id, err := peer.IDFromPublicKey(pk)
	if err != nil {
		return "", fmt.Errorf("p2p: peer id from account key: %w", err)
	}
	return id, nil
}

// PublicKeyFromPeerID recovers the account's ed25519 key from a peer id
// (ed25519 peer ids embed the key).
func PublicKeyFromPeerID(id peer.ID) (ed25519.PublicKey, error) {
	pk, err := id.ExtractPublicKey()
	if err != nil {
		return nil, fmt.Errorf("p2p: peer %s: %w", id, err)
	}
	if pk.Type() != crypto.Ed25519 {
		return nil, fmt.Errorf("p2p: peer %s: key type %v is not ed25519", id, pk.Type())
	}
	raw, err := pk.Raw()
	if err != nil {
		return nil, fmt.Errorf("p2p: peer %s: %w", id, err)
	}
	return ed25519.PublicKey(raw), nil
}

// quicDialDelay is how long a dial waits for TCP before trying QUIC.
const quicDialDelay = 250 * time.Millisecond

// tcpFirst ranks a peer's addresses for dialing: TCP at once, the others
// (QUIC) after quicDialDelay; the first connection that succeeds wins.
func tcpFirst(addrs []ma.Multiaddr) []network.AddrDelay {
	out := make([]network.AddrDelay, 0, len(addrs))
	for _, a := range addrs {
		d := quicDialDelay
		if _, err := a.ValueForProtocol(ma.P_TCP); err == nil {
			d = 0
		}
		out = append(out, network.AddrDelay{Addr: a, Delay: d})
	}
	return out
}
