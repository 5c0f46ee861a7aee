package p2p

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// natOptions are the go-libp2p options for nodes behind NATs: AutoNAT
// (reachability, and the service for others), Circuit Relay v2 (the
// transport always, and the service with limits while public) and DCUtR
// hole punching. Reservations are the Host's own (reserveRelays).
func natOptions(cfg Config) ([]libp2p.Option, error) {
	var opts []libp2p.Option
	switch cfg.Reachability {
	case ReachabilityAuto, "":
	case ReachabilityPublic:
		opts = append(opts, libp2p.ForceReachabilityPublic())
	case ReachabilityPrivate:
		opts = append(opts, libp2p.ForceReachabilityPrivate())
	default:
		return nil, fmt.Errorf("%w: reachability %q: want auto, public or private", ErrConfig, cfg.Reachability)
	}
	if cfg.NATService {
		opts = append(opts, libp2p.EnableNATService())
	}
	opts = append(opts, libp2p.EnableRelay())
	if cfg.RelayService {
		if cfg.RelayMaxReservations <= 0 || cfg.RelayMaxCircuits <= 0 || cfg.RelayConnBytes <= 0 || cfg.RelayConnDuration <= 0 {
			return nil, fmt.Errorf("%w: relay limits must be positive (reservations %d, circuits %d, bytes %d, duration %s)",
				ErrConfig, cfg.RelayMaxReservations, cfg.RelayMaxCircuits, cfg.RelayConnBytes, cfg.RelayConnDuration)
		}
		res := relayv2.DefaultResources()
		res.MaxReservations = cfg.RelayMaxReservations
		res.MaxCircuits = cfg.RelayMaxCircuits
		res.Limit = &relayv2.RelayLimit{Data: cfg.RelayConnBytes, Duration: cfg.RelayConnDuration}
		opts = append(opts, libp2p.EnableRelayService(relayv2.WithResources(res),
			// Vouch for every routable address, private ones included: a
			// community mesh or a LAN is a network too (go-libp2p's default
			// vouches only for public addresses).
			relayv2.WithReservationAddressFilter(func(a ma.Multiaddr) bool {
				return !manet.IsIPLoopback(a) && !manet.IsIPUnspecified(a)
			})))
	}
	if cfg.HolePunching {
		opts = append(opts, libp2p.EnableHolePunching())
	}
	return opts, nil
}

// relayBook holds the circuit addresses of this host's relay reservations.
type relayBook struct {
	mu    sync.Mutex
	addrs map[peer.ID][]ma.Multiaddr // per relay: <relay addr>/p2p/<relay>/p2p-circuit
}

func (b *relayBook) set(relay peer.ID, addrs []ma.Multiaddr) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.addrs == nil {
		b.addrs = make(map[peer.ID][]ma.Multiaddr)
	}
	if len(addrs) == 0 {
		delete(b.addrs, relay)
		return
	}
	b.addrs[relay] = addrs
}

func (b *relayBook) all() []ma.Multiaddr {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []ma.Multiaddr
	for _, a := range b.addrs {
		out = append(out, a...)
	}
	return out
}

// RelayAddrs are this host's addresses through relays it holds a
// reservation with (<relay addr>/p2p/<relay>/p2p-circuit), empty while it
// needs none.
func (h *Host) RelayAddrs() []ma.Multiaddr { return h.relayed.all() }

// reserveRelays keeps a reservation with each relay while this host is not
// reachable (Reachability private, or auto and AutoNAT found it private),
// renewing each before it expires and retrying failures with backoff; it
// returns when ctx ends.
func (h *Host) reserveRelays(ctx context.Context, relays []peer.AddrInfo) {
	private := h.cfg.Reachability == ReachabilityPrivate
	var reach <-chan any
	if h.cfg.Reachability == ReachabilityAuto || h.cfg.Reachability == "" {
		sub, err := h.host.EventBus().Subscribe(new(event.EvtLocalReachabilityChanged))
		if err != nil {
			h.log.Warn("relays: cannot watch reachability", "err", err)
			return
		}
		defer sub.Close()
		reach = sub.Out()
	}
	next := make(map[peer.ID]time.Time) // when to (re)reserve with each relay
	backoff := make(map[peer.ID]time.Duration)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-reach:
			if !ok {
				return
			}
			private = e.(event.EvtLocalReachabilityChanged).Reachability == network.ReachabilityPrivate
			if !private {
				for _, r := range relays {
					h.relayed.set(r.ID, nil)
				}
				clear(next)
			}
			timer.Reset(0)
			continue
		case <-timer.C:
		}
		wake := time.Now().Add(time.Minute)
		if private {
			for _, r := range relays {
				if t, ok := next[r.ID]; ok && time.Now().Before(t) {
					wake = minTime(wake, t)
					continue
				}
				rctx, cancel := context.WithTimeout(ctx, h.cfg.DialTimeout)
				res, err := client.Reserve(rctx, h.host, r)
				cancel()
				if err != nil {
					b := min(max(2*backoff[r.ID], time.Second), time.Minute)
					backoff[r.ID] = b
					next[r.ID] = time.Now().Add(b)
					h.relayed.set(r.ID, nil)
					h.log.Debug("relay reservation failed", "relay", r.ID.ShortString(), "retry_in", b, "err", err)
				} else {
					backoff[r.ID] = 0
					var addrs []ma.Multiaddr
					circuit := ma.StringCast("/p2p-circuit")
					for _, a := range res.Addrs {
						addrs = append(addrs, a.Encapsulate(circuit))
					}
					h.relayed.set(r.ID, addrs)
					// Renew at three quarters of the reservation's life.
					next[r.ID] = time.Now().Add(time.Until(res.Expiration) * 3 / 4)
					h.log.Debug("relay reservation", "relay", r.ID.ShortString(), "addrs", addrs, "expires", res.Expiration)
				}
				wake = minTime(wake, next[r.ID])
			}
		}
		timer.Reset(time.Until(wake))
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
