package ledger

import (
	"context"
	"crypto/ed25519"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/coop-network/coop/chain"
)

// TestDeviceClientActsForItsAccount: on a one-node network the account
// adds a device; the device's client sets the account's root, registers
// nothing it may not, and creates a share with BroadcastCommitFor; the
// typed queries read it all back, and a stale root is a
// chain.ErrStaleRoot.
func TestDeviceClientActsForItsAccount(t *testing.T) {
	dc := TestNetConfig(t, 1)
	keys := fundAccounts(&dc, 2, 1_000_000)
	tn := StartTestNet(t, dc)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	acctKey, devKey := keys[0], keys[1]
	acct, err := NewClient(ctx, tn.Nodes[0].rpcLocal(), acctKey)
	if err != nil {
		t.Fatal(err)
	}
	defer acct.Close()
	dev, err := NewClient(ctx, tn.Nodes[0].rpcLocal(), devKey)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	A, D := acct.Address(), dev.Address()

	add := &chain.AddDevice{Device: devKey.Public().(ed25519.PublicKey), Label: "phone",
		DeviceSig: chain.SignDeviceConsent(devKey, acct.ChainID(), A)}
	if _, err := acct.BroadcastCommit(ctx, add); err != nil {
		t.Fatal(err)
	}
	if _, err := dev.BroadcastCommitFor(ctx, A, &chain.SetRoot{Version: 1, Root: []byte("sealed")}); err != nil {
		t.Fatal(err)
	}
	_, err = dev.BroadcastCommitFor(ctx, A, &chain.SetRoot{Version: 1, Root: []byte("late")})
	if !errors.Is(err, chain.ErrStaleRoot) {
		t.Fatalf("a stale root: %v, want ErrStaleRoot", err)
	}
	if _, err := dev.BroadcastFor(ctx, A, &chain.Transfer{To: D, Amount: 1}); !errors.Is(err, chain.ErrUnauthorized) {
		t.Fatalf("a device's transfer for its account: %v, want ErrUnauthorized", err)
	}
	key := []byte("share key sealed for the device")
	sh := &chain.SetShare{ShareID: chain.ShareIDOf(A, key), Recipient: D, Key: key, Version: 1, Pointer: []byte("p")}
	if _, err := dev.BroadcastCommitFor(ctx, A, sh); err != nil {
		t.Fatal(err)
	}
	if _, err := acct.BroadcastCommit(ctx, &chain.RegisterName{Name: "ann"}); err != nil {
		t.Fatal(err)
	}
	if _, err := acct.Inbox(ctx, A); !errors.Is(err, chain.ErrNotFound) {
		t.Fatalf("Inbox before any: %v", err)
	}
	inbox := []byte("0123456789abcdef0123456789abcdef")
	if _, err := dev.BroadcastCommitFor(ctx, A, &chain.SetInbox{Key: inbox}); err != nil {
		t.Fatal(err)
	}
	if in, err := acct.Inbox(ctx, A); err != nil || string(in.Key) != string(inbox) || in.By != D {
		t.Fatalf("Inbox: %+v %v", in, err)
	}

	if ds, err := acct.Devices(ctx, A); err != nil || len(ds) != 1 || ds[0].Address != D || ds[0].Label != "phone" {
		t.Fatalf("Devices: %+v %v", ds, err)
	}
	if d, err := acct.DeviceAccount(ctx, D); err != nil || d.Account != A {
		t.Fatalf("DeviceAccount: %+v %v", d, err)
	}
	if _, err := acct.DeviceAccount(ctx, A); !errors.Is(err, chain.ErrNotFound) {
		t.Fatalf("DeviceAccount of a non-device: %v", err)
	}
	if r, err := acct.Root(ctx, A); err != nil || r.Version != 1 || r.By != D {
		t.Fatalf("Root: %+v %v", r, err)
	}
	if rs, err := acct.Roots(ctx, A); err != nil || len(rs) != 1 {
		t.Fatalf("Roots: %+v %v", rs, err)
	}
	if n, err := acct.NameOwner(ctx, "ann"); err != nil || n.Account != A {
		t.Fatalf("NameOwner: %+v %v", n, err)
	}
	if n, err := acct.AccountName(ctx, A); err != nil || n.Name != "ann" {
		t.Fatalf("AccountName: %+v %v", n, err)
	}
	if s, err := acct.Share(ctx, sh.ShareID); err != nil || s.Owner != A || s.Recipient != D {
		t.Fatalf("Share: %+v %v", s, err)
	}
	if ss, err := acct.SharesTo(ctx, D); err != nil || len(ss) != 1 {
		t.Fatalf("SharesTo: %+v %v", ss, err)
	}
	if ss, err := acct.SharesBy(ctx, A); err != nil || len(ss) != 1 {
		t.Fatalf("SharesBy: %+v %v", ss, err)
	}
	if ss, err := acct.PublicShares(ctx, A); err != nil || len(ss) != 0 {
		t.Fatalf("PublicShares: %+v %v", ss, err)
	}
	// The account's nonce moved only for its own txs; the device's for its.
	if a, err := acct.Account(ctx, A); err != nil || a.Nonce != 2 {
		t.Fatalf("account nonce: %+v %v", a, err)
	}

	// A verifying client proves the records (device, root, names, share)
	// against the genesis; the lists are not verifiable yet.
	doc, err := ReadGenesis(filepath.Join(ChainDir(DevnetHome(tn.Dir, 0)), "config", "genesis.json"))
	if err != nil {
		t.Fatal(err)
	}
	vc, err := NewClient(ctx, tn.Nodes[0].rpcLocal(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close()
	if err := vc.Verify(doc); err != nil {
		t.Fatal(err)
	}
	if d, err := vc.DeviceAccount(ctx, D); err != nil || d.Account != A {
		t.Fatalf("verified DeviceAccount: %+v %v", d, err)
	}
	if r, err := vc.Root(ctx, A); err != nil || r.Version != 1 {
		t.Fatalf("verified Root: %+v %v", r, err)
	}
	if n, err := vc.NameOwner(ctx, "ann"); err != nil || n.Account != A {
		t.Fatalf("verified NameOwner: %+v %v", n, err)
	}
	if _, err := vc.AccountName(ctx, D); !errors.Is(err, chain.ErrNotFound) {
		t.Fatalf("verified AccountName of a nameless key: %v, want proved absent", err)
	}
	if s, err := vc.Share(ctx, sh.ShareID); err != nil || s.Owner != A {
		t.Fatalf("verified Share: %+v %v", s, err)
	}
	if _, err := vc.Roots(ctx, A); !errors.Is(err, ErrNotVerifiable) {
		t.Fatalf("verified Roots: %v, want ErrNotVerifiable", err)
	}
}
