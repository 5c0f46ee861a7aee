// Package testbed builds a network of real hosts on one Linux machine: each
// host is a network namespace with its own address, joined to the others by
// veth pairs on a bridge that lives in a namespace of its own, its uplink
// shaped with tc (tbf), and some hosts behind a NAT router namespace that
// masquerades them with nftables. Nothing is created in the machine's own
// namespace: the testbed has no route out of itself, and deleting its
// namespaces removes every link, bridge, qdisc and rule it made.
//
// Addresses (the testbed's own, reachable only inside it):
//
//	11.201.0.0/24   the "internet": the bridge; public host i is 11.201.0.(10+i),
//	                NAT router j's WAN side 11.201.0.(100+j)
//	10.202.j.0/24   NAT router j's LAN: the router 10.202.j.1, its host 10.202.j.2
//
// The internet side uses public-looking addresses because go-libp2p treats
// private ones as unroutable: it hole-punches only between public addresses
// (and its AutoNAT and relays prefer them). They are never routed outside
// the testbed: only processes inside its namespaces may use them. Never
// dial them from the machine's own namespace, whose default route leads
// off the machine.
//
// Public hosts have no route to any 10.202.x.x network, so a NAT'd host is
// reachable only through connections it opened (or a relay), as behind a
// home router. Creating a testbed needs root (CAP_NET_ADMIN), ip(8) and, for
// NAT, nft(8); [Available] says which is missing.
package testbed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Config describes a testbed.
type Config struct {
	// Prefix names every namespace ("<prefix>-sw", "<prefix>-h0", …); at
	// most 12 characters of [a-z0-9-]. Namespaces left with this prefix by
	// an earlier run (a killed test) are removed first.
	Prefix string
	// Public is the number of hosts on the bridge with their own address.
	Public int
	// NATed is the number of hosts behind a NAT router each.
	NATed int
	// UplinkKbit shapes every host's uplink (egress) to this rate with a
	// token bucket (tbf); 0 leaves links unshaped.
	UplinkKbit int
}

// Host is one host of the testbed.
type Host struct {
	// Name is the host's short name: h0, h1, … (public), n0, n1, … (NAT'd).
	Name string
	// NS is its network namespace.
	NS string
	// Addr is its IPv4 address: on the bridge for a public host, on its
	// router's LAN for a NAT'd one.
	Addr string
	// PublicAddr is the address others see its connections come from: Addr
	// for a public host, its router's WAN address for a NAT'd one.
	PublicAddr string
	// NATed is set for a host behind a NAT router.
	NATed bool
	// Router is the namespace of its NAT router ("" for a public host).
	Router string
}

// Testbed is a running testbed; Close removes it.
type Testbed struct {
	cfg   Config
	Hosts []*Host
	nss   []string // created namespaces, in creation order
}

// Available reports why a testbed cannot be created here, or nil: it needs
// root and ip(8), and nft(8) when NAT'd hosts are asked for.
func Available(nat bool) error {
	if os.Geteuid() != 0 {
		return errors.New("network namespaces need root (CAP_NET_ADMIN); run as root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return errors.New("ip(8) not found: install iproute2")
	}
	if _, err := exec.LookPath("tc"); err != nil {
		return errors.New("tc(8) not found: install iproute2")
	}
	if nat {
		if _, err := exec.LookPath("nft"); err != nil {
			return errors.New("nft(8) not found: install nftables (apt-get install nftables)")
		}
	}
	return nil
}

func validPrefix(p string) error {
	if p == "" || len(p) > 12 {
		return fmt.Errorf("testbed prefix %q: want 1 to 12 characters", p)
	}
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return fmt.Errorf("testbed prefix %q: only a-z, 0-9 and - may be used", p)
		}
	}
	return nil
}

// Create builds the testbed. On any failure it removes what it made and
// returns the error, naming the command that failed.
func Create(ctx context.Context, cfg Config) (*Testbed, error) {
	if err := validPrefix(cfg.Prefix); err != nil {
		return nil, err
	}
	if cfg.Public < 1 || cfg.Public > 80 || cfg.NATed < 0 || cfg.NATed > 80 {
		return nil, fmt.Errorf("testbed of %d public and %d NAT'd hosts: want 1 to 80 public and 0 to 80 NAT'd", cfg.Public, cfg.NATed)
	}
	if cfg.UplinkKbit < 0 {
		return nil, fmt.Errorf("uplink rate %d kbit/s: want ≥ 0", cfg.UplinkKbit)
	}
	if err := Available(cfg.NATed > 0); err != nil {
		return nil, err
	}
	if err := Cleanup(ctx, cfg.Prefix); err != nil {
		return nil, fmt.Errorf("removing an earlier run's namespaces: %w", err)
	}
	tb := &Testbed{cfg: cfg}
	if err := tb.build(ctx); err != nil {
		if cerr := tb.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
		return nil, err
	}
	return tb, nil
}

// testHookNS, if set, runs before each namespace is made; an error fails
// the build there (tests of the clean-up after a failure).
var testHookNS func(name string) error

func (tb *Testbed) addNS(ctx context.Context, name string) error {
	if testHookNS != nil {
		if err := testHookNS(name); err != nil {
			return fmt.Errorf("making namespace %s: %w", name, err)
		}
	}
	if err := run(ctx, "ip", "netns", "add", name); err != nil {
		return err
	}
	tb.nss = append(tb.nss, name)
	return run(ctx, "ip", "-n", name, "link", "set", "lo", "up")
}

func (tb *Testbed) build(ctx context.Context) error {
	p := tb.cfg.Prefix
	sw := p + "-sw"
	if err := tb.addNS(ctx, sw); err != nil {
		return err
	}
	steps := [][]string{
		{"ip", "-n", sw, "link", "add", "br0", "type", "bridge"},
		{"ip", "-n", sw, "link", "set", "br0", "up"},
	}
	if err := runAll(ctx, steps); err != nil {
		return err
	}
	// plug makes a veth pair from the bridge to ns's eth0 with addr.
	plug := func(port, ns, addr string) error {
		return runAll(ctx, [][]string{
			{"ip", "-n", sw, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns},
			{"ip", "-n", sw, "link", "set", port, "master", "br0"},
			{"ip", "-n", sw, "link", "set", port, "up"},
			{"ip", "-n", ns, "addr", "add", addr + "/24", "dev", "eth0"},
			{"ip", "-n", ns, "link", "set", "eth0", "up"},
		})
	}
	for i := range tb.cfg.Public {
		h := &Host{Name: fmt.Sprintf("h%d", i), NS: fmt.Sprintf("%s-h%d", p, i), Addr: fmt.Sprintf("11.201.0.%d", 10+i)}
		h.PublicAddr = h.Addr
		if err := tb.addNS(ctx, h.NS); err != nil {
			return err
		}
		if err := plug(h.Name, h.NS, h.Addr); err != nil {
			return err
		}
		if err := tb.shape(ctx, h.NS, "eth0"); err != nil {
			return err
		}
		tb.Hosts = append(tb.Hosts, h)
	}
	for j := range tb.cfg.NATed {
		r := fmt.Sprintf("%s-r%d", p, j)
		h := &Host{Name: fmt.Sprintf("n%d", j), NS: fmt.Sprintf("%s-n%d", p, j), NATed: true, Router: r,
			Addr: fmt.Sprintf("10.202.%d.2", j), PublicAddr: fmt.Sprintf("11.201.0.%d", 100+j)}
		if err := tb.addNS(ctx, r); err != nil {
			return err
		}
		if err := tb.addNS(ctx, h.NS); err != nil {
			return err
		}
		if err := plug(fmt.Sprintf("r%d", j), r, h.PublicAddr); err != nil {
			return err
		}
		lan := fmt.Sprintf("10.202.%d.1", j)
		err := runAll(ctx, [][]string{
			{"ip", "-n", r, "link", "add", "eth1", "type", "veth", "peer", "name", "eth0", "netns", h.NS},
			{"ip", "-n", r, "addr", "add", lan + "/24", "dev", "eth1"},
			{"ip", "-n", r, "link", "set", "eth1", "up"},
			{"ip", "-n", h.NS, "addr", "add", h.Addr + "/24", "dev", "eth0"},
			{"ip", "-n", h.NS, "link", "set", "eth0", "up"},
			{"ip", "-n", h.NS, "route", "add", "default", "via", lan},
			{"ip", "netns", "exec", r, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"},
		})
		if err != nil {
			return err
		}
		if err := runInput(ctx, natRules, "ip", "netns", "exec", r, "nft", "-f", "-"); err != nil {
			return err
		}
		if err := tb.shape(ctx, h.NS, "eth0"); err != nil {
			return err
		}
		tb.Hosts = append(tb.Hosts, h)
	}
	return nil
}

// natRules make a router a home NAT: the LAN's connections leave with the
// WAN address (masquerade; Linux keeps the source port where it can, so a
// mapping is endpoint-independent and hole punching can work), replies come
// back, and nothing from the WAN starts a connection into the LAN. What
// the WAN sends unasked is dropped without an answer, as most home routers
// do: a TCP reset (or ICMP port unreachable) from the router itself would
// abort the other side's half of a simultaneous open before this side's
// first packet made the mapping, and no hole could be punched between two
// NATs.
const natRules = `table ip coopnat {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "eth0" masquerade
	}
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		iifname "eth1" oifname "eth0" accept
	}
	chain input {
		type filter hook input priority filter; policy accept;
		iifname "eth0" ct state established,related accept
		iifname "eth0" drop
	}
}
`

// shape limits dev's egress in ns to the configured uplink rate.
func (tb *Testbed) shape(ctx context.Context, ns, dev string) error {
	if tb.cfg.UplinkKbit == 0 {
		return nil
	}
	rate := fmt.Sprintf("%dkbit", tb.cfg.UplinkKbit)
	// A burst of at least rate/HZ (250 Hz kernels) and one MTU; 100 ms of
	// queue before drops.
	burst := max(tb.cfg.UplinkKbit*1000/8/100, 16*1024)
	return run(ctx, "ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", dev, "root", "tbf",
		"rate", rate, "burst", fmt.Sprint(burst), "latency", "100ms")
}

// Host returns the host named name (h0, n1, …), or nil.
func (tb *Testbed) Host(name string) *Host {
	for _, h := range tb.Hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}

// Command returns a command that runs name with args inside h's namespace.
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.NS, name}, args...)...)
}

// Namespaces lists the namespaces the testbed made.
func (tb *Testbed) Namespaces() []string { return append([]string(nil), tb.nss...) }

// Close removes every namespace the testbed made, and with them its links,
// bridge, qdiscs and rules. Processes still running inside a namespace keep
// it alive until they exit, so stop them first.
func (tb *Testbed) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	for i := len(tb.nss) - 1; i >= 0; i-- {
		if err := run(ctx, "ip", "netns", "del", tb.nss[i]); err != nil {
			errs = append(errs, err)
		}
	}
	tb.nss = nil
	return errors.Join(errs...)
}

// List returns the namespaces whose names start with prefix + "-".
func List(ctx context.Context, prefix string) ([]string, error) {
	out, err := exec.CommandContext(ctx, "ip", "netns", "list").Output()
	if err != nil {
		return nil, fmt.Errorf("ip netns list: %w", err)
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && strings.HasPrefix(f[0], prefix+"-") {
			names = append(names, f[0])
		}
	}
	return names, nil
}

// Cleanup removes every namespace named prefix-*: what a run killed before
// its Close left behind.
func Cleanup(ctx context.Context, prefix string) error {
	if err := validPrefix(prefix); err != nil {
		return err
	}
	names, err := List(ctx, prefix)
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range names {
		if err := run(ctx, "ip", "netns", "del", n); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func run(ctx context.Context, name string, args ...string) error {
	return runInput(ctx, "", name, args...)
}

func runInput(ctx context.Context, stdin, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

func runAll(ctx context.Context, cmds [][]string) error {
	for _, c := range cmds {
		if err := run(ctx, c[0], c[1:]...); err != nil {
			return err
		}
	}
	return nil
}
