package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/ledger"
	"github.com/coop-network/coop/proofs"
)

func TestInitWritesAHomeOnceAndPrintsTheAddress(t *testing.T) {
	home := t.TempDir()
	out, err := runCLI(t, "--home", home, "init", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]string
	if err := json.Unmarshal([]byte(out), &v); err != nil || len(v["address"]) != 40 {
		t.Fatalf("init --json: %q %v", out, err)
	}
	if _, err := runCLI(t, "--home", home, "init"); err == nil {
		t.Fatal("second init over an existing home succeeded")
	}
}

func TestLedgerCommandsTalkToARunningNode(t *testing.T) {
	tn := ledger.StartTestNet(t, ledger.TestNetConfig(t, 1))
	home := ledger.DevnetHome(tn.Dir, 0)
	out, err := runCLI(t, "--home", home, "node", "register", "--pledge", "3GiB", "--cpu", "2", "--json")
	if err != nil {
		t.Fatalf("node register: %v\n%s", err, out)
	}
	var acct struct {
		Address    string `json:"address"`
		Credits    uint64 `json:"credits"`
		QuotaLimit uint64 `json:"quota_limit"`
		Node       *struct {
			Pledge uint64 `json:"pledge"`
			CPU    uint32 `json:"cpu"`
		} `json:"node"`
	}
	out, err = runCLI(t, "--home", home, "account", "--json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(out), &acct); err != nil {
		t.Fatalf("account --json: %q: %v", out, err)
	}
	if acct.Address != tn.Addrs[0].String() || acct.Node == nil || acct.Node.Pledge != 3<<30 || acct.Node.CPU != 2 || acct.QuotaLimit != 1<<30 { // the allowance: a pledge earns nothing by itself
		t.Fatalf("account after register: %s", out)
	}
	// Registering again updates the pledge.
	if out, err := runCLI(t, "--home", home, "node", "register", "--pledge", "6GiB"); err != nil || !strings.Contains(out, "updated") {
		t.Fatalf("second register: %v %s", err, out)
	}
	var nodes []map[string]any
	out, err = runCLI(t, "--home", home, "ledger", "nodes", "--json")
	if err != nil || json.Unmarshal([]byte(out), &nodes) != nil || len(nodes) != 1 || nodes[0]["pledge"] != float64(6<<30) || nodes[0]["cpu"] != float64(2) {
		t.Fatalf("ledger nodes --json (pledge updated, cpu kept): %v %s", err, out)
	}
	// Updating the CPU offer alone keeps the pledge; updating nothing is an error.
	if out, err := runCLI(t, "--home", home, "node", "register", "--cpu", "4"); err != nil || !strings.Contains(out, "pledge 6.0 GiB, cpu 4") {
		t.Fatalf("register --cpu alone: %v %s", err, out)
	}
	if _, err := runCLI(t, "--home", home, "node", "register"); err == nil || !strings.Contains(err.Error(), "give --pledge") {
		t.Fatalf("register with nothing to update: %v", err)
	}
	var epoch map[string]any
	out, err = runCLI(t, "--home", home, "ledger", "epoch", "--json")
	if err != nil || json.Unmarshal([]byte(out), &epoch) != nil || len(epoch["seed"].(string)) != 64 {
		t.Fatalf("ledger epoch --json: %v %s", err, out)
	}
	out, err = runCLI(t, "--home", home, "ledger", "files", "--json")
	if err != nil || strings.TrimSpace(out) != "[]" {
		t.Fatalf("ledger files --json: %v %q", err, out)
	}
	if out, err := runCLI(t, "--home", home, "ledger", "nodes"); err != nil || !strings.Contains(out, tn.Addrs[0].String()) {
		t.Fatalf("ledger nodes: %v %s", err, out)
	}
	if out, err := runCLI(t, "--home", home, "ledger", "pieces", "--json"); err != nil || strings.TrimSpace(out) != "[]" {
		t.Fatalf("ledger pieces --json: %v %q", err, out)
	}
	if _, err := runCLI(t, "--home", home, "ledger", "file", strings.Repeat("ab", 32)); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("ledger file of a missing id: %v", err)
	}
	to := "00000000000000000000000000000000000000aa"
	if out, err := runCLI(t, "--home", home, "account", "send", to, "25"); err != nil || !strings.Contains(out, "sent 25 credits") {
		t.Fatalf("account send: %v %s", err, out)
	}
	out, err = runCLI(t, "--home", home, "account", to, "--json")
	if err != nil || !strings.Contains(out, `"credits":25`) {
		t.Fatalf("recipient: %v %s", err, out)
	}
	if _, err := runCLI(t, "--home", home, "account", "send", to, "-3"); err == nil {
		t.Fatal("negative amount accepted")
	}
	if out, err := runCLI(t, "--home", home, "account", "send", to, "99999999999"); err == nil || !strings.Contains(err.Error(), "insufficient funds") {
		t.Fatalf("overdraft: %v %s", err, out)
	}

	// A placed file shows up in files, file and pieces.
	c, err := tn.Nodes[0].Client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	id := chain.Hash{0xfe}
	// A piece's id binds its root and size (proofs.ID).
	p := chain.Piece{Holder: tn.Addrs[0], ID: chain.Hash(proofs.ID(proofs.Hash{2}, 4096)), Size: 4096, Root: chain.Hash{2}, Leaves: 4}
	// The holder is the placer's own node, so its receipt is its own signature.
	h, _, err := c.Height(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	rc := chain.SignReceipt(tn.Nodes[0].Key(), c.ChainID(), id, tn.Addrs[0], h+50, []chain.ReceiptPiece{{ID: p.ID, Root: p.Root, Size: p.Size, Leaves: p.Leaves}})
	if _, err := c.BroadcastCommit(context.Background(), &chain.PlaceFile{FileID: id, Size: 4000, K: 1, Pieces: []chain.Piece{p}, Receipts: []chain.Receipt{rc}}); err != nil {
		t.Fatal(err)
	}
	if out, err := runCLI(t, "--home", home, "ledger", "file", id.String()); err != nil || !strings.Contains(out, tn.Addrs[0].String()) {
		t.Fatalf("ledger file: %v %s", err, out)
	}
	if out, err := runCLI(t, "--home", home, "ledger", "pieces"); err != nil || !strings.Contains(out, id.String()) {
		t.Fatalf("ledger pieces: %v %s", err, out)
	}
	if out, err := runCLI(t, "--home", home, "ledger", "files"); err != nil || !strings.Contains(out, id.String()) {
		t.Fatalf("ledger files: %v %s", err, out)
	}
}

// lyingProxy serves CometBFT RPC on 127.0.0.1 by forwarding to target, but
// flips the last byte of every abci_query answer's value.
func lyingProxy(t *testing.T, target string) string {
	t.Helper()
	u, err := url.Parse(strings.Replace(target, "tcp://", "http://", 1))
	if err != nil {
		t.Fatal(err)
	}
	p := httputil.NewSingleHostReverseProxy(u)
	p.ModifyResponse = func(res *http.Response) error {
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			return err
		}
		var m map[string]any
		if json.Unmarshal(body, &m) == nil {
			if r, ok := m["result"].(map[string]any); ok {
				if q, ok := r["response"].(map[string]any); ok {
					if s, ok := q["value"].(string); ok && s != "" {
						b, _ := base64.StdEncoding.DecodeString(s)
						b[len(b)-1] ^= 1
						q["value"] = base64.StdEncoding.EncodeToString(b)
						body, _ = json.Marshal(m)
					}
				}
			}
		}
		res.Body = io.NopCloser(bytes.NewReader(body))
		res.ContentLength = int64(len(body))
		res.Header.Set("Content-Length", strconv.Itoa(len(body)))
		return nil
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestLedgerVerifyCLI: `coop ledger --verify` reads params and a node
// record with proofs checked against the home's genesis validators, says
// lists cannot be verified yet, and refuses the answers of a node (an RPC
// proxy on 127.0.0.1) that changes values; without --verify the proxy's lie
// passes unnoticed.
func TestLedgerVerifyCLI(t *testing.T) {
	tn := ledger.StartTestNet(t, ledger.TestNetConfig(t, 1))
	home := ledger.DevnetHome(tn.Dir, 0)
	if out, err := runCLI(t, "--home", home, "node", "register", "--pledge", "3GiB"); err != nil {
		t.Fatalf("node register: %v\n%s", err, out)
	}
	var p chain.Params
	out, err := runCLI(t, "--home", home, "ledger", "--verify", "params", "--json")
	if err != nil || json.Unmarshal([]byte(out), &p) != nil || p.EpochLength != 5 {
		t.Fatalf("ledger --verify params: %v %s", err, out)
	}
	var n chain.Node
	out, err = runCLI(t, "--home", home, "ledger", "--verify", "node", tn.Addrs[0].String(), "--json")
	if err != nil || json.Unmarshal([]byte(out), &n) != nil || n.Pledge != 3<<30 {
		t.Fatalf("ledger --verify node: %v %s", err, out)
	}
	var acct chain.AccountView
	out, err = runCLI(t, "--home", home, "ledger", "--verify", "account", "--json")
	if err != nil || json.Unmarshal([]byte(out), &acct) != nil || acct.Address != tn.Addrs[0] || acct.Credits == 0 {
		t.Fatalf("ledger --verify account: %v %s", err, out)
	}
	if _, err := runCLI(t, "--home", home, "ledger", "--verify", "nodes"); err == nil || !strings.Contains(err.Error(), "cannot be verified") {
		t.Fatalf("ledger --verify nodes: %v, want cannot be verified", err)
	}
	// The newest verified header is kept for the next run; a checkpoint
	// from the node's own block store is trusted, one of another hash is
	// refused, and --trust wants --verify.
	if _, err := os.Stat(ledger.TrustedHeaderPath(home)); err != nil {
		t.Fatalf("verified header not kept: %v", err)
	}
	ch := tn.Height(0) - 1
	meta := tn.Nodes[0].Comet().BlockStore().LoadBlockMeta(ch)
	if meta == nil {
		t.Fatalf("no block %d", ch)
	}
	cp := ledger.Checkpoint{Height: ch, Hash: meta.BlockID.Hash}
	if out, err := runCLI(t, "--home", home, "ledger", "--verify", "--trust", cp.String(), "params", "--json"); err != nil {
		t.Fatalf("ledger --verify --trust %s: %v %s", cp, err, out)
	}
	cp.Hash = bytes.Repeat([]byte{3}, 32)
	if _, err := runCLI(t, "--home", home, "ledger", "--verify", "--trust", cp.String(), "params"); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("ledger --verify --trust of another hash: %v, want does not verify", err)
	}
	if _, err := runCLI(t, "--home", home, "ledger", "--trust", cp.String(), "params"); err == nil || !strings.Contains(err.Error(), "--verify") {
		t.Fatalf("ledger --trust without --verify: %v", err)
	}
	liar := lyingProxy(t, tn.Nodes[0].RPCAddress())
	if _, err := runCLI(t, "--home", home, "ledger", "--verify", "--rpc", liar, "node", tn.Addrs[0].String()); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("ledger --verify through a lying node: %v, want does not verify", err)
	}
	if _, err := runCLI(t, "--home", home, "ledger", "--rpc", liar, "params", "--json"); err != nil && strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("unverified read checked a proof: %v", err)
	}
}
