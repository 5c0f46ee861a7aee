package ledger

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/cometbft/cometbft/types"

	"github.com/coop-network/coop/chain"
)

// TestVerifiedReadsAfterSetChangeWithBlockOnePruned: three validators
// that keep 30 blocks (evidence age 20, snapshots every 40, keeping 2);
// validator 2 leaves the set, and the chain runs on until the server has
// pruned block 1 and every block up to the change. Then
//   - a fresh Verifier that trusts only the genesis cannot verify a read
//     (block 1, its light client's root, is gone) and says so;
//   - a Verifier that verified a read before the change (its anchor, a
//     header the server no longer has) verifies a read made after it;
//   - a new Verifier that loads the header the first one saved then
//     (SaveTrusted, LoadTrusted) verifies it too; a checkpoint of that
//     header is refused (ErrCheckpointPruned): the server no longer has it;
//   - a fresh Verifier given a checkpoint read from another validator's
//     own block store verifies it; a checkpoint of another hash is refused;
//   - through a server that lies about the value or the header's app hash,
//     a Verifier with the same checkpoint gets chain.ErrUnverified.
func TestVerifiedReadsAfterSetChangeWithBlockOnePruned(t *testing.T) {
	dc := TestNetConfig(t, 3)
	dc.BlockTime = 10 * time.Millisecond
	tn := InitTestNet(t, dc)
	for i := range dc.Nodes {
		gf := filepath.Join(ChainDir(DevnetHome(tn.Dir, i)), "config", "genesis.json")
		doc, err := types.GenesisDocFromFile(gf)
		if err != nil {
			t.Fatal(err)
		}
		doc.ConsensusParams.Evidence.MaxAgeNumBlocks = 20
		if err := doc.SaveAs(gf); err != nil {
			t.Fatal(err)
		}
	}
	tn.AppConfig = func(_ int, c *chain.Config) {
		c.MinRetainBlocks, c.KeepVersions = 30, 50
		c.SnapshotInterval, c.SnapshotKeep = 40, 2
	}
	for i := range dc.Nodes {
		tn.StartNode(i)
	}
	tn.WaitHeight(2, time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	doc, err := ReadGenesis(filepath.Join(ChainDir(DevnetHome(tn.Dir, 0)), "config", "genesis.json"))
	if err != nil {
		t.Fatal(err)
	}
	genesisVals, err := genesisValidators(doc)
	if err != nil {
		t.Fatal(err)
	}
	c := tn.Client(0)
	rpc := c.RPC()
	payee := AddressOf(testAccountKey(781))
	if _, err := c.BroadcastCommit(ctx, &chain.Transfer{To: payee, Amount: 55}); err != nil {
		t.Fatal(err)
	}
	early := NewVerifierMust(t, rpc, doc)
	var acct chain.Account
	if _, err := early.Query(ctx, chain.QueryStore, chain.AccountKey(payee), 0, &acct); err != nil || acct.Credits != 55 {
		t.Fatalf("verified read before the change: %+v, %v", acct, err)
	}
	earlyCP := early.Checkpoint()
	if earlyCP.Height < 2 || len(earlyCP.Hash) != 32 {
		t.Fatalf("checkpoint after a verified read: %v", earlyCP)
	}
	saved := filepath.Join(t.TempDir(), "trusted-header")
	if err := early.SaveTrusted(saved); err != nil {
		t.Fatal(err)
	}

	// Validator 2 leaves; CometBFT's set changes two blocks later.
	res, err := tn.Client(2).BroadcastCommit(ctx, &chain.ValidatorVote{PubKey: tn.Key(2).Public().(ed25519.PublicKey), Power: 0})
	if err != nil {
		t.Fatalf("validator 2 leaving: %v", err)
	}
	changed := res.Height + 2
	if _, err := c.BroadcastCommit(ctx, &chain.Transfer{To: payee, Amount: 7}); err != nil {
		t.Fatal(err)
	}
	store := tn.Nodes[0].Comet().BlockStore()
	waitUntil(ctx, t, "node 0 pruning its blocks up to the set change", func() bool { return store.Base() > changed })
	h := tn.Height(0)
	if vals, err := rpc.Validators(ctx, &h, nil, nil); err != nil || len(vals.Validators) != 2 {
		t.Fatalf("validators at %d: %+v, %v", h, vals, err)
	}
	t.Logf("validators changed at %d; node 0 stores blocks %d…%d", changed, store.Base(), h)

	fresh := NewVerifierMust(t, rpc, doc)
	if _, err := fresh.Query(ctx, chain.QueryStore, chain.AccountKey(payee), 0, &acct); !errors.Is(err, chain.ErrUnverified) {
		t.Fatalf("a verifier trusting only the genesis, block 1 pruned, the set changed: %v, want ErrUnverified", err)
	} else {
		t.Logf("a fresh verifier: %v", err)
	}

	vh, err := early.Query(ctx, chain.QueryStore, chain.AccountKey(payee), 0, &acct)
	if err != nil || acct.Credits != 62 {
		t.Fatalf("verified read after the change by the verifier that read before it: %+v, %v", acct, err)
	}
	if vh+1 <= changed {
		t.Fatalf("read of height %d is proved by a header of the genesis set (set changed at %d)", vh, changed)
	}
	if cp := early.Checkpoint(); cp.Height <= changed {
		t.Fatalf("checkpoint %v after a read verified through the change at %d", cp, changed)
	}

	// The header saved before the change, loaded by a new verifier (a new
	// run of a client): trusted without asking the server, which pruned it.
	if err := NewVerifierMust(t, rpc, doc).Trust(ctx, earlyCP); !errors.Is(err, ErrCheckpointPruned) {
		t.Fatalf("checkpoint %v of a pruned header: %v, want ErrCheckpointPruned", earlyCP, err)
	}
	loaded := NewVerifierMust(t, rpc, doc)
	if err := loaded.LoadTrusted(saved); err != nil {
		t.Fatal(err)
	}
	if cp := loaded.Checkpoint(); cp.Height != earlyCP.Height || !bytes.Equal(cp.Hash, earlyCP.Hash) {
		t.Fatalf("loaded %v, saved %v", cp, earlyCP)
	}
	if _, err := loaded.Query(ctx, chain.QueryStore, chain.AccountKey(payee), 0, &acct); err != nil || acct.Credits != 62 {
		t.Fatalf("verified read from the saved header: %+v, %v", acct, err)
	}

	// A checkpoint from another validator's own block store.
	ch := tn.Height(1) - 3
	meta := tn.Nodes[1].Comet().BlockStore().LoadBlockMeta(ch)
	if meta == nil {
		t.Fatalf("node 1 has no block %d", ch)
	}
	cp := Checkpoint{Height: ch, Hash: meta.BlockID.Hash}
	bad := Checkpoint{Height: ch, Hash: bytes.Repeat([]byte{9}, 32)}
	if err := NewVerifierMust(t, rpc, doc).Trust(ctx, bad); !errors.Is(err, chain.ErrUnverified) {
		t.Fatalf("a checkpoint of another hash: %v, want ErrUnverified", err)
	}
	withCP := NewVerifierMust(t, rpc, doc)
	if err := withCP.Trust(ctx, cp); err != nil {
		t.Fatalf("checkpoint %v: %v", cp, err)
	}
	got, _, err := withCP.Account(ctx, payee)
	if err != nil || got.Credits != 62 {
		t.Fatalf("verified account from a checkpoint: %+v, %v", got, err)
	}
	if bytes.Equal(genesisVals.Hash(), tn.Nodes[0].Comet().BlockStore().LoadBlockMeta(withCP.Checkpoint().Height).Header.ValidatorsHash) {
		t.Fatal("the checkpoint's reads were proved by headers of the genesis set")
	}

	// Lying servers, the same checkpoint trusted before they lie.
	for _, kind := range []string{"value", "header"} {
		lie := &lyingRPC{Client: rpc}
		lv := NewVerifierMust(t, lie, doc)
		if err := lv.Trust(ctx, cp); err != nil {
			t.Fatal(err)
		}
		lie.value, lie.header = kind == "value", kind == "header"
		if _, err := lv.Query(ctx, chain.QueryStore, chain.AccountKey(payee), 0, &acct); !errors.Is(err, chain.ErrUnverified) {
			t.Fatalf("a server lying about the %s: %v, want ErrUnverified", kind, err)
		} else {
			t.Logf("a server lying about the %s: %v", kind, err)
		}
	}
}
