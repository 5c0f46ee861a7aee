package ledger

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestOpenStateAnswersFromAStoppedNodesState: after a validator stops, a
// read-only client over its home's state answers queries as of its last
// block, and refuses to broadcast; while the node runs, the state database
// is not opened twice.
func TestOpenStateAnswersFromAStoppedNodesState(t *testing.T) {
	tn := StartTestNet(t, TestNetConfig(t, 1))
	tn.WaitHeight(3, 30*time.Second)
	home := DevnetHome(tn.Dir, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, _, err := OpenState(ctx, home); err == nil {
		t.Fatal("opened the state of a running node")
	}
	tn.StopNode(0)

	c, closeState, err := OpenState(ctx, home)
	if err != nil {
		t.Fatal(err)
	}
	defer closeState()
	defer c.Close()
	if c.ChainID() != tn.Config.ChainID {
		t.Fatalf("chain id %q, want %q", c.ChainID(), tn.Config.ChainID)
	}
	if _, err := c.Nodes(ctx); err != nil {
		t.Fatalf("a list query: %v", err)
	}
	acct, err := c.Account(ctx, tn.Addrs[0])
	if err != nil || acct.Credits == 0 {
		t.Fatalf("the funded account: %+v %v", acct, err)
	}
	if _, err := c.Broadcast(ctx, nil); !errors.Is(err, ErrNoKey) {
		t.Fatalf("Broadcast on a read-only state client: %v", err)
	}

	if _, _, err := OpenState(ctx, t.TempDir()); err == nil {
		t.Fatal("opened the state of a directory that is no home")
	}
	empty := t.TempDir()
	if _, err := InitHome(empty, DefaultHomeConfig()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := OpenState(ctx, empty); err == nil || !strings.Contains(err.Error(), "has not run yet") {
		t.Fatalf("a home whose node never ran: %v", err)
	}
}
