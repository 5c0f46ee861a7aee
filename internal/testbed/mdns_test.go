package testbed

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCoopMDNSOnTestbed: four hosts on one LAN (the testbed's bridge) run
// coop with mDNS and no libp2p bootstrap address (the ledger's CometBFT
// keeps its persistent peer, the validator). Every node finds every other
// by mDNS and holds a direct connection to it; a file put at k=2 m=2 on h1
// is read back bit-exact on h2, whose connections to the holders are
// direct.
func TestCoopMDNSOnTestbed(t *testing.T) {
	if err := Available(false); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("testbed unavailable in CI: %v", err)
		}
		t.Skipf("no testbed here: %v", err)
	}
	if testing.Short() {
		t.Skip("runs four coop nodes in network namespaces")
	}
	dir := t.TempDir()
	coop := buildCoop(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	tb, err := Create(ctx, Config{Prefix: "cooptb-lan", Public: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := tb.Close(); err != nil {
			t.Errorf("removing the testbed: %v", err)
		}
	})
	t0 := time.Now()
	cn, err := StartCoopWith(ctx, tb, coop, dir, Options{MDNS: true})
	if err != nil {
		t.Fatal(err)
	}
	stopAtCleanup(t, cn, tb, dir)
	report(t, "%d coop nodes on one LAN, no libp2p bootstrap address, mDNS on: started in %.1f s", len(tb.Hosts), time.Since(t0).Seconds())
	hostOf := map[string]string{}
	for _, h := range tb.Hosts {
		var acct struct {
			Address string `json:"address"`
		}
		if err := cn.RunJSON(ctx, h.Name, &acct, "account"); err != nil {
			t.Fatal(err)
		}
		hostOf[acct.Address] = h.Name
		cn.Account[h.Name] = acct.Address
	}

	// Every node finds every other on the LAN and is connected to it
	// directly, at its LAN address.
	t0 = time.Now()
	for _, h := range tb.Hosts {
		err := cn.poll(ctx, h.Name+" finding the others by mDNS", func() error {
			var peers []struct {
				Account string   `json:"account"`
				MDNS    bool     `json:"mdns"`
				Conns   []string `json:"conns"`
			}
			if err := cn.RunJSON(ctx, h.Name, &peers, "peers"); err != nil {
				return err
			}
			var missing []string
			for _, p := range peers {
				other := tb.Host(hostOf[p.Account])
				if other == nil {
					continue
				}
				direct := false
				for _, c := range p.Conns {
					direct = direct || strings.HasPrefix(c, "direct /ip4/"+other.Addr+"/")
				}
				if !p.MDNS || !direct {
					missing = append(missing, fmt.Sprintf("%s (found %v, conns %v)", other.Name, p.MDNS, p.Conns))
				}
			}
			if len(peers) != len(tb.Hosts)-1 || len(missing) > 0 {
				return fmt.Errorf("%d peers; not found by mDNS or not directly connected: %v", len(peers), missing)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var st struct {
		MDNS      bool `json:"mdns"`
		MDNSPeers int  `json:"mdns_peers"`
	}
	if err := cn.RunJSON(ctx, "h3", &st, "status"); err != nil || !st.MDNS || st.MDNSPeers != len(tb.Hosts)-1 {
		t.Fatalf("h3 status: mdns %v, %d found (%v)", st.MDNS, st.MDNSPeers, err)
	}
	report(t, "every node found the %d others by mDNS and holds a direct connection to each (%.1f s)", len(tb.Hosts)-1, time.Since(t0).Seconds())

	data := make([]byte, 1<<20+4321)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "file.bin")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var put struct {
		Capability string `json:"capability"`
		FileID     string `json:"file_id"`
		K, M       int
		Degraded   string `json:"degraded"`
		Pieces     []struct {
			Holder string `json:"holder"`
		} `json:"pieces"`
	}
	if err := cn.RunJSON(ctx, "h1", &put, "put", src, "--k", "2", "--m", "2"); err != nil {
		t.Fatal(err)
	}
	if put.K != 2 || put.M != 2 || put.Degraded != "" {
		t.Fatalf("put on h1: k=%d m=%d %q", put.K, put.M, put.Degraded)
	}
	holders := map[string]bool{}
	for _, p := range put.Pieces {
		holders[hostOf[p.Holder]] = true
	}
	// h2's ledger (a full node) may be a block behind h1's: the file's
	// holders are known to it once it has the block.
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := cn.Run(ctx, "h2", "ledger", "file", put.FileID)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("h2's ledger never showed file %s: %v", put.FileID, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	out := filepath.Join(dir, "got.bin")
	if _, err := cn.Run(ctx, "h2", "get", put.Capability, "-o", out); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("get on h2: %d bytes, %v: not the file put", len(got), err)
	}
	report(t, "put of %d bytes at k=2 m=2 on h1 (pieces on %v), get on h2 bit-exact", len(data), holders)
	connections(t, ctx, cn, "h2", hostOf)
}
