package ledger

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	cmtbytes "github.com/cometbft/cometbft/libs/bytes"
	rpcclient "github.com/cometbft/cometbft/rpc/client"
	ctypes "github.com/cometbft/cometbft/rpc/core/types"
	"github.com/cometbft/cometbft/types"

	"github.com/coop-network/coop/chain"
)

// lyingRPC is a node that changes what it answers: the value of proved
// queries (flipping its last byte), or the app hash of the headers it
// serves.
type lyingRPC struct {
	rpcclient.Client
	value, header bool
}

func (l *lyingRPC) ABCIQueryWithOptions(ctx context.Context, path string, data cmtbytes.HexBytes, opts rpcclient.ABCIQueryOptions) (*ctypes.ResultABCIQuery, error) {
	res, err := l.Client.ABCIQueryWithOptions(ctx, path, data, opts)
	if err == nil && l.value && len(res.Response.Value) > 0 {
		res.Response.Value = bytes.Clone(res.Response.Value)
		res.Response.Value[len(res.Response.Value)-1] ^= 1
	}
	return res, err
}

func (l *lyingRPC) Commit(ctx context.Context, height *int64) (*ctypes.ResultCommit, error) {
	res, err := l.Client.Commit(ctx, height)
	if err == nil && l.header {
		h := *res.Header
		h.AppHash = bytes.Repeat([]byte{7}, 32)
		res.Header = &h
	}
	return res, err
}

// TestVerifiedQuery: a verifying client reads a node's record and an
// account's stored record with proofs checked against headers signed by the
// genesis validators; the same reads through a node that lies about the
// value, or about the header's app hash, fail with chain.ErrUnverified; a
// list cannot be verified yet.
func TestVerifiedQuery(t *testing.T) {
	tn := StartTestNet(t, TestNetConfig(t, 1))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := tn.Client(0)
	payee := AddressOf(testAccountKey(778))
	if _, err := c.BroadcastCommit(ctx, &chain.Transfer{To: payee, Amount: 55}); err != nil {
		t.Fatal(err)
	}
	doc, err := ReadGenesis(filepath.Join(ChainDir(DevnetHome(tn.Dir, 0)), "config", "genesis.json"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(c.RPC(), doc)
	if err != nil {
		t.Fatal(err)
	}
	var acct chain.Account
	h, err := v.Query(ctx, chain.QueryStore, chain.AccountKey(payee), 0, &acct)
	if err != nil || acct.Credits != 55 {
		t.Fatalf("verified account %+v at %d: %v", acct, h, err)
	}
	var p chain.Params
	if _, err := v.Query(ctx, chain.QueryParams, nil, 0, &p); err != nil || p.EpochLength != 5 {
		t.Fatalf("verified params %+v: %v", p, err)
	}
	if _, err := v.Query(ctx, chain.QueryStore, chain.AccountKey(AddressOf(testAccountKey(779))), 0, &acct); !errors.Is(err, chain.ErrNotFound) {
		t.Fatalf("an account never seen: %v, want proved absent (ErrNotFound)", err)
	}

	for _, lie := range []*lyingRPC{{Client: c.RPC(), value: true}, {Client: c.RPC(), header: true}} {
		lv, err := NewVerifier(lie, doc)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := lv.Query(ctx, chain.QueryStore, chain.AccountKey(payee), 0, &acct); !errors.Is(err, chain.ErrUnverified) {
			t.Fatalf("lying node (value %v, header %v): %v, want ErrUnverified", lie.value, lie.header, err)
		}
	}

	// A verifying client: record queries verify, lists do not yet.
	vc := tn.Client(0)
	if err := vc.Verify(doc); err != nil {
		t.Fatal(err)
	}
	if n, err := vc.Node(ctx, tn.Addrs[0]); !errors.Is(err, chain.ErrNotFound) {
		t.Fatalf("verified node record of an unregistered validator: %+v, %v; want proved absent", n, err)
	}
	if _, err := vc.Nodes(ctx); !errors.Is(err, ErrNotVerifiable) {
		t.Fatalf("verified list: %v, want ErrNotVerifiable", err)
	}
	if _, err := vc.Params(ctx); err != nil {
		t.Fatalf("verified params: %v", err)
	}
	// The account view made from proved records is the node's own view.
	for _, a := range []chain.Address{payee, tn.Addrs[0], AddressOf(testAccountKey(779))} {
		got, h, err := NewVerifierMust(t, c, doc).Account(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		var want chain.AccountView
		if _, err := c.query(ctx, chain.QueryAccount+a.String(), nil, h, &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("verified account %+v, the node's view %+v", got, want)
		}
	}
	if _, err := vc.Account(ctx, payee); err != nil {
		t.Fatalf("verifying client's account: %v", err)
	}
	if _, _, err := NewVerifierMust(t, &lyingRPC{Client: c.RPC(), value: true}, doc).Account(ctx, payee); !errors.Is(err, chain.ErrUnverified) {
		t.Fatalf("account through a lying node: %v", err)
	}
}

// NewVerifierMust is NewVerifier over rpc (a client's, or a client) or
// fails the test.
func NewVerifierMust(t *testing.T, rpc any, doc *types.GenesisDoc) *Verifier {
	t.Helper()
	var r rpcclient.Client
	switch x := rpc.(type) {
	case *Client:
		r = x.RPC()
	case rpcclient.Client:
		r = x
	}
	v, err := NewVerifier(r, doc)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
