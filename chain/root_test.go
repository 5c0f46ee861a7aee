package chain

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"
)

// TestSetRootCompareAndSwap: versions go 1, 2, …; a SetRoot naming any
// other version loses with CodeStaleVersion and the current version in
// Data (CheckTx and block alike); two devices racing on one version: the
// first wins. The last KeptRoots stay, newest first; a stranger cannot set
// the root; an old SetRoot cannot be replayed.
func TestSetRootCompareAndSwap(t *testing.T) {
	alice, laptop, phone, stranger := testKey(0), testKey(20), testKey(21), testKey(22)
	g := testGenesis(alice)
	g.Params.KeptRoots = 3
	l := newTestLedgerGenesis(t, "", g)
	wantCodes(t, l.block(l.sign(alice, addDevice(alice, laptop, "")), l.sign(alice, addDevice(alice, phone, ""))), 0, 0)

	root := func(v int) []byte { return fmt.Appendf(nil, "root %d", v) }
	first := l.signFor(laptop, addrOf(alice), &SetRoot{Version: 1, Root: root(1)})
	res := l.block(
		first,
		l.signFor(phone, addrOf(alice), &SetRoot{Version: 1, Root: []byte("phone's")}), // lost the race
		l.signFor(phone, addrOf(alice), &SetRoot{Version: 3, Root: []byte("ahead")}),
		l.sign(alice, &SetRoot{Version: 2, Root: nil}),
		l.sign(alice, &SetRoot{Version: 2, Root: make([]byte, MaxRootBytes+1)}),
	)
	wantCodes(t, res[:1], 0)
	for _, r := range res[1:3] {
		wantLog(t, r, CodeStaleVersion, "is at version 1")
		if v, ok := ParseNonceData(r.Data); !ok || v != 1 {
			t.Fatalf("stale result data %x, want the current version 1", r.Data)
		}
	}
	wantLog(t, res[3], CodeInvalid, "root is 0 bytes")
	wantLog(t, res[4], CodeInvalid, "root is 257 bytes")
	c := l.check(l.signFor(phone, addrOf(alice), &SetRoot{Version: 1, Root: []byte("again")}))
	if Code(c.Code) != CodeStaleVersion || !bytes.Equal(c.Data, VersionData(1)) {
		t.Fatalf("CheckTx of a stale root: %+v", c)
	}
	if !errors.Is(ErrorOf(CodeStaleVersion), ErrStaleRoot) {
		t.Fatal("CodeStaleVersion does not map back to ErrStaleRoot")
	}
	l.nonces[addrOf(phone)]-- // the CheckTx above spent nothing in a block

	for v := 2; v <= 5; v++ {
		wantCodes(t, l.block(l.signFor(phone, addrOf(alice), &SetRoot{Version: uint64(v), Root: root(v)})), 0)
	}
	var cur NamespaceRoot
	if err := l.query(QueryRoot+addrOf(alice).String(), &cur); err != nil || cur.Version != 5 || !bytes.Equal(cur.Root, root(5)) || cur.By != addrOf(phone) {
		t.Fatalf("current root %+v %v", cur, err)
	}
	var hist Page[NamespaceRoot]
	if err := l.query(QueryRoots+addrOf(alice).String(), &hist); err != nil || len(hist.Items) != 3 {
		t.Fatalf("history %+v %v, want 3 kept", hist, err)
	}
	for i, r := range hist.Items {
		if want := uint64(5 - i); r.Version != want || !bytes.Equal(r.Root, root(int(want))) {
			t.Fatalf("history[%d] = version %d %q, want %d (newest first)", i, r.Version, r.Root, want)
		}
	}
	st := dump(t, l.app)
	if _, ok := st[string(rootsKey(addrOf(alice), 2))]; ok {
		t.Fatal("version 2 is still in state with kept_roots 3")
	}

	// A stranger's SetRoot for alice, and one for itself that it may do.
	res = l.block(
		l.signFor(stranger, addrOf(alice), &SetRoot{Version: 6, Root: []byte("evil")}),
		l.sign(stranger, &SetRoot{Version: 1, Root: []byte("mine")}),
	)
	wantLog(t, res[0], CodeNotDevice, "not a device")
	wantCodes(t, res[1:], 0)
	// The first SetRoot's bytes again: its nonce is spent.
	wantLog(t, l.block(first)[0], CodeBadNonce, "expects nonce")
	if err := l.query(QueryRoot+addrOf(alice).String(), &cur); err != nil || cur.Version != 5 {
		t.Fatalf("current root after the attacks %+v %v", cur, err)
	}

	// The current root is provable.
	l.block()
	h, appHash := appHashOf(t, l.app)
	path := QueryRoot + addrOf(alice).String()
	q, err := l.app.Query(context.Background(), &abci.QueryRequest{Path: path, Prove: true})
	if err != nil || q.Height != h {
		t.Fatalf("proved query: %+v %v", q, err)
	}
	v, err := VerifyQuery(path, nil, q, appHash)
	if err != nil {
		t.Fatal(err)
	}
	var proved NamespaceRoot
	if err := Unmarshal(v, &proved); err != nil || proved.Version != 5 {
		t.Fatalf("proved root %+v %v", proved, err)
	}
	absent := QueryRoot + addrOf(laptop).String()
	q, _ = l.app.Query(context.Background(), &abci.QueryRequest{Path: absent, Prove: true})
	if v, err := VerifyQuery(absent, nil, q, appHash); err != nil || v != nil {
		t.Fatalf("absent root: %x %v", v, err)
	}
}
