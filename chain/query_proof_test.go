package chain

import (
	"bytes"
	"context"
	"errors"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"
)

// TestQueryProof: a query with prove answers the stored value with an ics23
// proof that VerifyQuery checks against the app hash; a changed value, a
// present key said absent, a proof for another key, or a proof against
// another app hash fail with ErrUnverified; an absent key is proved
// absent; a computed view has no proof.
func TestQueryProof(t *testing.T) {
	alice, bob := testKey(0), testKey(1)
	l := newTestLedger(t, "", alice)
	l.block(l.sign(alice, &Transfer{To: addrOf(bob), Amount: 300}))
	l.block()
	h, appHash := appHashOf(t, l.app)
	ctx := context.Background()
	prove := func(path string, data []byte) *abci.QueryResponse {
		res, err := l.app.Query(ctx, &abci.QueryRequest{Path: path, Data: data, Prove: true})
		if err != nil {
			t.Fatal(err)
		}
		if res.Height != h {
			t.Fatalf("%s answered at %d, want %d", path, res.Height, h)
		}
		return res
	}
	key := AccountKey(addrOf(bob))
	res := prove(QueryStore, key)
	v, err := VerifyQuery(QueryStore, key, res, appHash)
	if err != nil {
		t.Fatal(err)
	}
	var acct Account
	if err := Unmarshal(v, &acct); err != nil || acct.Credits != 300 {
		t.Fatalf("proved account %+v, %v", acct, err)
	}
	if v, err := VerifyQuery(QueryParams, nil, prove(QueryParams, nil), appHash); err != nil || len(v) == 0 {
		t.Fatalf("params: %v", err)
	}

	lie := *res
	lie.Value = bytes.Clone(res.Value)
	lie.Value[len(lie.Value)-1] ^= 1
	if _, err := VerifyQuery(QueryStore, key, &lie, appHash); !errors.Is(err, ErrUnverified) {
		t.Fatalf("changed value: %v, want ErrUnverified", err)
	}
	lie = *res
	lie.Code, lie.Codespace, lie.Value = uint32(CodeNotFound), Codespace, nil
	if _, err := VerifyQuery(QueryStore, key, &lie, appHash); !errors.Is(err, ErrUnverified) {
		t.Fatalf("present key said absent: %v, want ErrUnverified", err)
	}
	other := AccountKey(addrOf(alice))
	if _, err := VerifyQuery(QueryStore, other, res, appHash); !errors.Is(err, ErrUnverified) {
		t.Fatalf("proof of another key: %v, want ErrUnverified", err)
	}
	if _, err := VerifyQuery(QueryStore, key, res, bytes.Repeat([]byte{7}, 32)); !errors.Is(err, ErrUnverified) {
		t.Fatalf("another app hash: %v, want ErrUnverified", err)
	}
	lie = *res
	lie.ProofOps = nil
	if _, err := VerifyQuery(QueryStore, key, &lie, appHash); !errors.Is(err, ErrUnverified) {
		t.Fatalf("no proof: %v, want ErrUnverified", err)
	}

	missing := AccountKey(addrOf(testKey(9)))
	res = prove(QueryStore, missing)
	if res.Code != uint32(CodeNotFound) {
		t.Fatalf("absent key: code %d", res.Code)
	}
	if v, err := VerifyQuery(QueryStore, missing, res, appHash); err != nil || v != nil {
		t.Fatalf("absent key: %x, %v; want proved absent", v, err)
	}
	if res := prove(QueryAccount+addrOf(bob).String(), nil); res.Code != uint32(CodeInvalid) {
		t.Fatalf("computed view with prove: code %d %s, want invalid", res.Code, res.Log)
	}
}
