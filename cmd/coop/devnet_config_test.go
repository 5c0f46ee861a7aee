package main

import (
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/coop-network/coop/node"
	"github.com/coop-network/coop/node/ledger"
)

// TestDevnetHomesListenOnLoopbackOnly: devnet homes listen on 127.0.0.1
// and run no mDNS.
func TestDevnetHomesListenOnLoopbackOnly(t *testing.T) {
	dir := t.TempDir()
	base := freePortBlock(t, 20)
	if out, err := runCLI(t, "devnet", "init", "--nodes", "2", "--dir", dir, "--base-port", strconv.Itoa(base)); err != nil {
		t.Fatalf("devnet init: %v\n%s", err, out)
	}
	for i := range 2 {
		home := ledger.DevnetHome(dir, i)
		if _, err := runCLI(t, "--home", home, "version"); err != nil {
			t.Fatal(err)
		}
		if got := cfg.GetString("p2p-ip"); got != "127.0.0.1" {
			t.Errorf("%s: p2p-ip = %q, want 127.0.0.1", home, got)
		}
		if !cfg.IsSet("mdns") || cfg.GetBool("mdns") {
			t.Errorf("%s: mdns not set to false: a devnet must not multicast", home)
		}
	}
}

// TestDevnetDefaultFitsTheDefaultPut: a put with the default redundancy
// (k+m distinct holders) works on a devnet of the default size, so the
// README's `coop put --k 4 --m 2` works on `coop devnet init`'s network.
func TestDevnetDefaultFitsTheDefaultPut(t *testing.T) {
	sc := node.DefaultConfig(t.TempDir()).Storage
	if n := ledger.DefaultDevnetConfig().Nodes; n < sc.K+sc.M {
		t.Fatalf("the default devnet has %d nodes; the default put needs k+m = %d+%d", n, sc.K, sc.M)
	}
	flag := newDevnetInitCmd().Flags().Lookup("nodes")
	if flag == nil || flag.DefValue != strconv.Itoa(ledger.DefaultDevnetConfig().Nodes) {
		t.Fatalf("devnet init --nodes defaults to %v, want the ledger's default", flag)
	}
}

// TestDevnetStartHelpNamesTheDirFlag: backquotes in a flag's usage make
// cobra print the quoted words as the flag's type ("--dir coop devnet
// init"); the help shows "--dir string".
func TestDevnetStartHelpNamesTheDirFlag(t *testing.T) {
	out, err := runCLI(t, "devnet", "start", "--help")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "--dir string") {
		t.Fatalf("devnet start --help:\n%s", out)
	}
	// Every flag of every command: no usage that cobra would misread.
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if strings.Contains(f.Usage, "`") {
				t.Errorf("coop %s --%s: backquotes in the usage %q", c.CommandPath(), f.Name, f.Usage)
			}
		})
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(newRootCmd())
}

// TestNodeMDNSFlag: `coop node` runs mDNS unless told not to (--mdns=false
// or mdns = false in the config file, as a devnet home has).
func TestNodeMDNSFlag(t *testing.T) {
	for _, c := range []struct {
		args []string
		want bool
	}{{nil, true}, {[]string{"--mdns=false"}, false}, {[]string{"--mdns"}, true}} {
		cmd := &cobra.Command{Use: "node"}
		addDaemonFlags(cmd)
		cfg = viper.New()
		if err := cmd.ParseFlags(c.args); err != nil {
			t.Fatal(err)
		}
		if err := cfg.BindPFlags(cmd.Flags()); err != nil {
			t.Fatal(err)
		}
		nc, err := daemonConfig(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if nc.P2P.MDNS != c.want {
			t.Errorf("coop node %v: mDNS %v, want %v", c.args, nc.P2P.MDNS, c.want)
		}
	}
}
