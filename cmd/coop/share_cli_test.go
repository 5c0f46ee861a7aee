package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coop-network/coop/node"
	"github.com/coop-network/coop/node/ledger"
)

// cliEventually runs the CLI until check accepts its output or a minute
// passes: each node reads the ledger through its own validator, which may
// be a block behind another's.
func cliEventually(t *testing.T, check func(out string, err error) error, args ...string) string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		out, err := runCLI(t, args...)
		cerr := check(out, err)
		if cerr == nil {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("coop %s: %v\n%s", strings.Join(args, " "), cerr, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func outContains(want ...string) func(string, error) error {
	return func(out string, err error) error {
		if err != nil {
			return err
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				return fmt.Errorf("no %q in the output", w)
			}
		}
		return nil
	}
}

// TestShareCommandsAgainstRunningNodes: coop name register, share,
// shares, ls and get of /shared-with-me on the recipient's node, a public
// folder read by name from a third node, unshare.
func TestShareCommandsAgainstRunningNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts CometBFT validators")
	}
	net := node.StartTestNetwork(t, 3, nil)
	homeA, homeB, homeC := ledger.DevnetHome(net.Ledger.Dir, 0), ledger.DevnetHome(net.Ledger.Dir, 1), ledger.DevnetHome(net.Ledger.Dir, 2)
	dir := t.TempDir()
	doc, page := filepath.Join(dir, "a.txt"), filepath.Join(dir, "index.html")
	if err := os.WriteFile(doc, []byte("shared with bob"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(page, []byte("<h1>alice</h1>"), 0o600); err != nil {
		t.Fatal(err)
	}
	for home, name := range map[string]string{homeA: "alice", homeB: "bob"} {
		if out, err := runCLI(t, "--home", home, "name", "register", name); err != nil || !strings.Contains(out, name) {
			t.Fatalf("name register %s: %v\n%s", name, err, out)
		}
	}
	cliEventually(t, outContains("bob", net.Nodes[1].Ledger().Address().String()), "--home", homeA, "name", "bob")
	if out, err := runCLI(t, "--home", homeA, "name", "register", "x"); err == nil {
		t.Fatalf("a second, malformed name: %s", out)
	}
	for _, args := range [][]string{{"put", doc, "/docs/a.txt", "--copies", "2"}, {"put", page, "/public/index.html", "--copies", "2"}} {
		if out, err := runCLI(t, append([]string{"--home", homeA}, args...)...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	cliEventually(t, func(out string, err error) error {
		if err != nil && strings.Contains(err.Error(), "inbox") {
			return err // bob's inbox key not yet on alice's ledger
		}
		if err != nil {
			t.Fatalf("share: %v\n%s", err, out)
		}
		return nil
	}, "--home", homeA, "share", "/docs", "bob")
	cliEventually(t, outContains("/shared-with-me/alice/docs", "from alice"), "--home", homeB, "shares")
	cliEventually(t, outContains("a.txt"), "--home", homeB, "ls", "/shared-with-me/alice/docs")
	out := filepath.Join(dir, "got.txt")
	if o, err := runCLI(t, "--home", homeB, "get", "/shared-with-me/alice/docs/a.txt", "-o", out); err != nil {
		t.Fatalf("get: %v\n%s", err, o)
	}
	if b, err := os.ReadFile(out); err != nil || !bytes.Equal(b, []byte("shared with bob")) {
		t.Fatalf("bob got %q, %v", b, err)
	}
	if o, err := runCLI(t, "--home", homeC, "ls", "/shared-with-me/alice/docs"); err == nil {
		t.Fatalf("a third account lists bob's share:\n%s", o)
	}

	cliEventually(t, outContains("index.html"), "--home", homeC, "ls", "coop://alice/")
	if o, err := runCLI(t, "--home", homeC, "get", "coop://alice/index.html"); err != nil || o != "<h1>alice</h1>" {
		t.Fatalf("the public page: %q, %v", o, err)
	}

	if o, err := runCLI(t, "--home", homeA, "unshare", "/docs", "bob"); err != nil || !strings.Contains(o, "removed share") {
		t.Fatalf("unshare: %v\n%s", err, o)
	}
	cliEventually(t, func(out string, err error) error {
		if err == nil {
			return fmt.Errorf("still listed")
		}
		return nil
	}, "--home", homeB, "ls", "/shared-with-me/alice/docs")
}
