package testbed

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// The test binary doubles as the program run inside the namespaces:
// TESTBED_HELPER=serve listens on its argument and answers each connection
// with the address it came from, until its stdin closes; TESTBED_HELPER=dial
// connects to its argument and prints the answer.
func TestMain(m *testing.M) {
	switch os.Getenv("TESTBED_HELPER") {
	case "serve":
		serve(os.Getenv("TESTBED_ADDR"))
	case "dial":
		dial(os.Getenv("TESTBED_ADDR"))
	default:
		os.Exit(m.Run())
	}
}

func serve(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			os.Exit(1)
		}
		host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		fmt.Fprintln(c, host)
		c.Close()
	}
}

func dial(addr string) {
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Print(line)
}

// needTestbed skips where namespaces cannot be made, saying why; in CI
// (which runs as root and installs nftables) it fails instead.
func needTestbed(t *testing.T) {
	t.Helper()
	if err := Available(true); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("testbed unavailable in CI: %v", err)
		}
		t.Skipf("no testbed here: %v", err)
	}
}

// startServer runs the serve helper in h on port and stops it at cleanup.
func startServer(t *testing.T, h *Host, port int) {
	t.Helper()
	cmd := h.Command(context.Background(), os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "TESTBED_HELPER=serve", fmt.Sprintf("TESTBED_ADDR=%s:%d", h.Addr, port))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		t.Fatalf("server in %s: %q %v", h.Name, line, err)
	}
}

// dialFrom connects from h to addr and returns the address the server saw.
func dialFrom(h *Host, addr string) (string, error) {
	cmd := h.Command(context.Background(), os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "TESTBED_HELPER=dial", "TESTBED_ADDR="+addr)
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}

// TestTestbedHostsNATAndCleanup: public hosts reach each other with their own
// addresses; a NAT'd host reaches them from its router's WAN address; nobody
// reaches into a NAT'd host; uplinks carry the configured tbf; Close and a
// failed Create leave no namespace behind, and Create removes an earlier
// run's leftovers.
func TestTestbedHostsNATAndCleanup(t *testing.T) {
	needTestbed(t)
	ctx := context.Background()
	const prefix = "cooptb-test"
	// An earlier run killed before its Close.
	if err := run(ctx, "ip", "netns", "add", prefix+"-stale"); err != nil {
		t.Fatal(err)
	}
	tb, err := Create(ctx, Config{Prefix: prefix, Public: 2, NATed: 1, UplinkKbit: 8000})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			_ = tb.Close()
		}
	})
	names, err := List(ctx, prefix)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(names, prefix+"-stale") || len(names) != 5 { // sw, h0, h1, r0, n0
		t.Fatalf("namespaces %v: want the 5 of this testbed and not the stale one", names)
	}
	h0, h1, n0 := tb.Host("h0"), tb.Host("h1"), tb.Host("n0")
	if h0 == nil || h1 == nil || n0 == nil || !n0.NATed || n0.PublicAddr != "11.201.0.100" {
		t.Fatalf("hosts %+v", tb.Hosts)
	}

	startServer(t, h0, 7000)
	if got, err := dialFrom(h1, h0.Addr+":7000"); err != nil || got != h1.Addr {
		t.Fatalf("h1 → h0: seen as %q, %v; want %s", got, err, h1.Addr)
	}
	if got, err := dialFrom(n0, h0.Addr+":7000"); err != nil || got != n0.PublicAddr {
		t.Fatalf("n0 → h0: seen as %q, %v; want the router's %s", got, err, n0.PublicAddr)
	}
	startServer(t, n0, 7001)
	if got, err := dialFrom(h0, n0.Addr+":7001"); err == nil {
		t.Fatalf("h0 reached the NAT'd host's LAN address (answer %q)", got)
	}
	if got, err := dialFrom(h0, n0.PublicAddr+":7001"); err == nil {
		t.Fatalf("h0 reached the NAT'd host through its router (answer %q)", got)
	}
	for _, h := range []*Host{h1, n0} {
		out, err := h.Command(ctx, "tc", "qdisc", "show", "dev", "eth0").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "tbf") || !strings.Contains(string(out), "rate 8Mbit") {
			t.Fatalf("%s uplink qdisc: %s %v", h.Name, out, err)
		}
	}

	closed = true
	if err := tb.Close(); err != nil {
		t.Fatal(err)
	}
	if names, err := List(ctx, prefix); err != nil || len(names) != 0 {
		t.Fatalf("after Close: %v %v", names, err)
	}

	// A Create that fails midway removes what it made.
	testHookNS = func(name string) error {
		if strings.HasSuffix(name, "-n0") {
			return errors.New("injected failure")
		}
		return nil
	}
	defer func() { testHookNS = nil }()
	if _, err := Create(ctx, Config{Prefix: prefix, Public: 2, NATed: 1}); err == nil || !strings.Contains(err.Error(), "injected failure") {
		t.Fatalf("Create with a failing step: %v", err)
	}
	if names, err := List(ctx, prefix); err != nil || len(names) != 0 {
		t.Fatalf("after a failed Create: %v %v", names, err)
	}
}

// TestTestbedConfigRefused: bad configs are refused before anything is made.
func TestTestbedConfigRefused(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Prefix: "", Public: 1}, "prefix"},
		{Config{Prefix: "much-too-long-prefix", Public: 1}, "prefix"},
		{Config{Prefix: "Bad_Prefix", Public: 1}, "prefix"},
		{Config{Prefix: "ok", Public: 0}, "public"},
		{Config{Prefix: "ok", Public: 1, NATed: -1}, "NAT'd"},
		{Config{Prefix: "ok", Public: 1, UplinkKbit: -5}, "uplink"},
	} {
		if _, err := Create(context.Background(), c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Create(%+v): %v, want an error about %s", c.cfg, err, c.want)
		}
	}
	if _, err := exec.LookPath("ip"); err == nil {
		if names, err := List(context.Background(), "ok"); err != nil || len(names) != 0 {
			t.Fatalf("refused configs made namespaces: %v %v", names, err)
		}
	}
}
