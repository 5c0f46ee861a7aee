package testbed

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// CoopNet is a coop network on a testbed: the first public host is the
// validator of a one-validator ledger, every other host joins it as a full
// node (coop init --join), and each runs `coop node` in its namespace with
// a pledge, bootstrapping libp2p from the first host (or, with
// Options.MDNS, finding the others by mDNS). NAT'd hosts run with
// --reachability private, holding a relay slot on the first host. Every
// node's CometBFT RPC and API listen on 127.0.0.1 of its own namespace.
type CoopNet struct {
	TB *Testbed
	// Opts are the options it was started with.
	Opts Options
	// Coop is the coop binary every host runs.
	Coop string
	// Dir holds each host's home (Dir/<host>) and log (Dir/<host>.log).
	Dir string
	// PeerIDs are the hosts' libp2p peer ids, by host name.
	PeerIDs map[string]string
	// Account is each host's account address, for tests to fill in.
	Account map[string]string
	procs   map[string]*exec.Cmd
}

// Options change how StartCoopWith runs the nodes.
type Options struct {
	// MDNS runs every node with mDNS (coop node --mdns) and no libp2p
	// bootstrap address: the nodes' libp2p hosts find each other by
	// multicast DNS on the testbed's bridge, which carries it only between
	// the hosts on it (a NAT router does not forward it). The ledger still
	// has its CometBFT persistent peer, the first host, from `coop init
	// --join`. Without it nodes run with --mdns=false and bootstrap from
	// the first host.
	MDNS bool
	// CPU gives the compute units a host's node offers (coop node --cpu),
	// by host name: those hosts run a worker loop and the ledger may draw
	// them for jobs. Hosts not named offer none and are never drawn.
	CPU map[string]uint32
}

// StartCoop initialises a home per host under dir and starts every node,
// returning once each is registered on the ledger and active. On failure it
// stops what it started.
func StartCoop(ctx context.Context, tb *Testbed, coop, dir string) (*CoopNet, error) {
	return StartCoopWith(ctx, tb, coop, dir, Options{})
}

// StartCoopWith is StartCoop with options.
func StartCoopWith(ctx context.Context, tb *Testbed, coop, dir string, opts Options) (*CoopNet, error) {
	cn := &CoopNet{TB: tb, Opts: opts, Coop: coop, Dir: dir, PeerIDs: map[string]string{}, Account: map[string]string{}, procs: map[string]*exec.Cmd{}}
	if err := cn.start(ctx); err != nil {
		cn.Stop()
		return nil, err
	}
	return cn, nil
}

// Home is host's coop home.
func (cn *CoopNet) Home(host string) string { return filepath.Join(cn.Dir, host) }

// Coop runs `coop --home <host's home> args…` inside host's namespace and
// returns its standard output; an error carries its standard error.
func (cn *CoopNet) Run(ctx context.Context, host string, args ...string) (string, error) {
	h := cn.TB.Host(host)
	if h == nil {
		return "", fmt.Errorf("no host %q", host)
	}
	cmd := h.Command(ctx, cn.Coop, append([]string{"--home", cn.Home(host)}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s: coop %s: %w: %s", host, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// RunJSON runs coop with --json and decodes its output into v.
func (cn *CoopNet) RunJSON(ctx context.Context, host string, v any, args ...string) error {
	out, err := cn.Run(ctx, host, append(args, "--json")...)
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		return fmt.Errorf("%s: coop %s --json: %w (%q)", host, strings.Join(args, " "), err, out)
	}
	return nil
}

func (cn *CoopNet) start(ctx context.Context) error {
	first := cn.TB.Hosts[0]
	if first.NATed {
		return errors.New("the first host must be public: it is the validator")
	}
	p2pListen := func(h *Host) string { return "tcp://" + h.Addr + ":26656" }
	if _, err := cn.Run(ctx, first.Name, "init", "--p2p-listen", p2pListen(first), "--epoch-length", "10"); err != nil {
		return err
	}
	peer, err := cn.Run(ctx, first.Name, "node", "peer-address")
	if err != nil {
		return err
	}
	genesis := filepath.Join(cn.Home(first.Name), "chain", "config", "genesis.json")
	for _, h := range cn.TB.Hosts[1:] {
		if _, err := cn.Run(ctx, h.Name, "init", "--join", genesis, "--peer", strings.TrimSpace(peer), "--p2p-listen", p2pListen(h)); err != nil {
			return err
		}
	}
	// The first host, then the others bootstrapping from it.
	if err := cn.startNode(ctx, first, nil); err != nil {
		return err
	}
	var st struct {
		PeerID string `json:"peer_id"`
	}
	if err := cn.poll(ctx, "the first node's API", func() error { return cn.RunJSON(ctx, first.Name, &st, "status") }); err != nil {
		return err
	}
	cn.PeerIDs[first.Name] = st.PeerID
	boot := []string{"--bootstrap", fmt.Sprintf("/ip4/%s/tcp/26658/p2p/%s", first.Addr, st.PeerID)}
	if cn.Opts.MDNS {
		boot = nil
	}
	for _, h := range cn.TB.Hosts[1:] {
		if err := cn.startNode(ctx, h, boot); err != nil {
			return err
		}
	}
	for _, h := range cn.TB.Hosts[1:] {
		if err := cn.poll(ctx, h.Name+"'s API", func() error { return cn.RunJSON(ctx, h.Name, &st, "status") }); err != nil {
			return err
		}
		cn.PeerIDs[h.Name] = st.PeerID
	}
	// Every node registered and active on the ledger.
	return cn.poll(ctx, "every node registered", func() error {
		var nodes []struct {
			PeerID string `json:"peer_id"`
			Status string `json:"status"`
		}
		if err := cn.RunJSON(ctx, first.Name, &nodes, "ledger", "nodes"); err != nil {
			return err
		}
		active := 0
		for _, n := range nodes {
			if n.Status == "active" {
				active++
			}
		}
		if active < len(cn.TB.Hosts) {
			return fmt.Errorf("%d of %d nodes active", active, len(cn.TB.Hosts))
		}
		return nil
	})
}

func (cn *CoopNet) startNode(ctx context.Context, h *Host, extra []string) error {
	log, err := os.Create(filepath.Join(cn.Dir, h.Name+".log"))
	if err != nil {
		return err
	}
	defer log.Close()
	args := []string{"--home", cn.Home(h.Name), "node", "--p2p-ip", h.Addr, "--pledge", "1GiB", fmt.Sprintf("--mdns=%v", cn.Opts.MDNS)}
	if cpu := cn.Opts.CPU[h.Name]; cpu > 0 {
		args = append(args, "--cpu", fmt.Sprint(cpu))
	}
	if h.NATed {
		args = append(args, "--reachability", "private")
	} else {
		args = append(args, "--reachability", "public")
	}
	// Not CommandContext: the node must outlive the start-up context; Stop
	// ends it.
	cmd := exec.Command("ip", append([]string{"netns", "exec", h.NS, cn.Coop}, append(args, extra...)...)...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: starting coop node: %w", h.Name, err)
	}
	cn.procs[h.Name] = cmd
	return nil
}

// poll retries f every 250 ms until it succeeds or ctx ends, returning the
// last error then.
func (cn *CoopNet) poll(ctx context.Context, what string, f func() error) error {
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last: %v)", what, ctx.Err(), err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Cut takes host's link down: it drops off the network at once, as a
// pulled cable would.
func (cn *CoopNet) Cut(ctx context.Context, host string) error {
	h := cn.TB.Host(host)
	if h == nil {
		return fmt.Errorf("no host %q", host)
	}
	return run(ctx, "ip", "-n", h.NS, "link", "set", "eth0", "down")
}

// Stop ends every node (SIGINT, then SIGKILL after 20 s) and waits for it.
func (cn *CoopNet) Stop() {
	for _, cmd := range cn.procs {
		_ = cmd.Process.Signal(os.Interrupt)
	}
	for name, cmd := range cn.procs {
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-done
		}
		delete(cn.procs, name)
	}
}
