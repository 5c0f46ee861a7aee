package p2p

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// LAN discovery by multicast DNS, with go-libp2p's p2p/discovery/mdns: the
// host announces its direct addresses as DNS-SD TXT records under a
// service name of its network, browses for the same name, and gets a
// HandlePeerFound call, on a goroutine of its own, per sighting of another
// host. The finder connects to it; the connection's identify exchange puts
// it in the DHT's routing table like any other peer.
//
// A sighting is unauthenticated (anyone on the LAN can send one): the dial
// checks the peer id (Noise), and the finder bounds what a flood of
// sightings can cost (mdnsMaxDials, mdnsDialTimeout).

const (
	// mdnsDialTimeout bounds the dial to a host found by mDNS.
	mdnsDialTimeout = 5 * time.Second
	// mdnsMaxDials bounds the dials to found hosts in flight at once;
	// sightings beyond it are dropped (mDNS repeats them: the browser
	// queries again at growing intervals up to a minute).
	mdnsMaxDials = 8
	// mdnsAddrTTL is how long the LAN addresses of a found host stay in
	// the peerstore, so that the block exchange can dial it again after
	// its connection closed; a new sighting renews them.
	mdnsAddrTTL = 10 * time.Minute
	// mdnsMaxFound bounds the hosts MDNSPeers remembers; later ones are
	// still dialed.
	mdnsMaxFound = 1024
	// mdnsYield is how long the host with the greater peer id of two that
	// found each other waits for the other's dial before dialing itself,
	// so that the pair does not open two connections at once.
	mdnsYield = time.Second
)

// MDNSServiceName is the DNS-SD service name hosts of network (the chain
// id) announce and browse on the LAN: "_coop-" and the first 4 bytes of
// SHA-256(network) in hex, over UDP ("_coop-1a2b3c4d._udp"). A hash keeps
// the name a valid service label of at most 15 characters (RFC 6763 §7.2)
// whatever the chain id.
func MDNSServiceName(network string) string {
	sum := sha256.Sum256([]byte(network))
	return "_coop-" + hex.EncodeToString(sum[:4]) + "._udp"
}

// mdnsFinder is the mdns.Notifee of a Host: it connects to each host of
// its network found on the LAN. HandlePeerFound is idempotent: while a
// dial to a host is in flight, further sightings of it are ignored, and a
// host already connected is not dialed again.
type mdnsFinder struct {
	h   *Host
	svc mdns.Service
	// usable says which announced addresses are dialed: not loopback or
	// unspecified ones (a LAN host's loopback address is our own).
	usable func(ma.Multiaddr) bool

	ctx    context.Context // ends at close; bounds the dials
	cancel context.CancelFunc

	mu      sync.Mutex
	closed  bool
	dialing map[peer.ID]bool
	found   map[peer.ID]time.Time // last sighting of each host
	wg      sync.WaitGroup        // HandlePeerFound calls at work
}

var _ mdns.Notifee = (*mdnsFinder)(nil)

func newMDNSFinder(h *Host) *mdnsFinder {
	ctx, cancel := context.WithCancel(context.Background())
	return &mdnsFinder{
		h:       h,
		usable:  lanAddr,
		ctx:     ctx,
		cancel:  cancel,
		dialing: make(map[peer.ID]bool),
		found:   make(map[peer.ID]time.Time),
	}
}

// lanAddr reports whether a is an address a host on the LAN could be
// dialed at.
func lanAddr(a ma.Multiaddr) bool {
	return !manet.IsIPLoopback(a) && !manet.IsIPUnspecified(a)
}

// startMDNS announces h on the LAN under MDNSServiceName(network) and
// starts browsing for its network's other hosts.
func startMDNS(h *Host, network string) (*mdnsFinder, error) {
	f := newMDNSFinder(h)
	f.svc = mdns.NewMdnsService(h.host, MDNSServiceName(network), f)
	if err := f.svc.Start(); err != nil {
		f.cancel()
		_ = f.svc.Close()
		return nil, fmt.Errorf("p2p: starting mDNS: %w", err)
	}
	return f, nil
}

// HandlePeerFound connects to a host found on the LAN, within
// mdnsDialTimeout, after adding its LAN addresses to the peerstore; of two
// hosts that find each other, the one with the lower peer id dials first
// (the other waits mdnsYield). It returns at once for this host itself, a
// host without a usable address, one being dialed already, or when
// mdnsMaxDials are in flight.
func (f *mdnsFinder) HandlePeerFound(ai peer.AddrInfo) {
	if ai.ID == "" || ai.ID == f.h.host.ID() {
		return
	}
	addrs := slices.DeleteFunc(slices.Clone(ai.Addrs), func(a ma.Multiaddr) bool { return !f.usable(a) })
	if len(addrs) == 0 {
		return
	}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return
	}
	_, seen := f.found[ai.ID]
	if seen || len(f.found) < mdnsMaxFound {
		f.found[ai.ID] = time.Now()
	}
	if f.dialing[ai.ID] || len(f.dialing) >= mdnsMaxDials {
		f.mu.Unlock()
		return
	}
	f.dialing[ai.ID] = true
	f.wg.Add(1)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.dialing, ai.ID)
		f.mu.Unlock()
		f.wg.Done()
	}()

	f.h.host.Peerstore().AddAddrs(ai.ID, addrs, mdnsAddrTTL)
	if !seen {
		f.h.log.Info("found a peer on the local network (mDNS)", "found", ai.ID.ShortString(), "addrs", addrs)
	}
	if ai.ID < f.h.host.ID() {
		select {
		case <-f.ctx.Done():
			return
		case <-time.After(mdnsYield):
		}
	}
	if f.h.host.Network().Connectedness(ai.ID) == network.Connected {
		return
	}
	ctx, cancel := context.WithTimeout(f.ctx, mdnsDialTimeout)
	defer cancel()
	if err := f.h.host.Connect(ctx, peer.AddrInfo{ID: ai.ID, Addrs: addrs}); err != nil {
		f.h.log.Debug("connecting to a peer found by mDNS", "found", ai.ID.ShortString(), "err", err)
	}
}

// peers are the hosts found on the LAN since the start, with when each was
// last sighted.
func (f *mdnsFinder) peers() map[peer.ID]time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[peer.ID]time.Time, len(f.found))
	for id, t := range f.found {
		out[id] = t
	}
	return out
}

// close stops announcing and browsing, ends the dials in flight and waits
// for them.
func (f *mdnsFinder) close() error {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	f.cancel()
	var err error
	if f.svc != nil {
		err = f.svc.Close()
	}
	f.wg.Wait()
	return err
}

// MDNS reports whether the host runs mDNS discovery.
func (h *Host) MDNS() bool { return h.mdns != nil }

// MDNSPeers are the hosts of this host's network found on the LAN by mDNS
// since it started, with when each was last sighted (a sighting is the
// host's own claim: the connection to it checks the peer id). Empty when
// mDNS is off.
func (h *Host) MDNSPeers() map[peer.ID]time.Time {
	if h.mdns == nil {
		return map[peer.ID]time.Time{}
	}
	return h.mdns.peers()
}

// mdnsOff says why a host with cfg.MDNS set does not run mDNS, or "".
// A host listening on loopback only does not: nobody on the LAN could
// dial it, and its announcements would still go out on every interface.
func mdnsOff(cfg Config) string {
	if ip := net.ParseIP(cfg.ListenIP); ip != nil && ip.IsLoopback() {
		return "the host listens on loopback only (" + cfg.ListenIP + ")"
	}
	return ""
}
