package chain

import (
	"bytes"
	"context"
	"errors"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"
)

// TestRejectionsCarryCodespaceAndExpectedNonce checks the machine-readable
// parts of a rejection: every non-OK CheckTx, FinalizeBlock and Query result
// has Codespace "coop", and a nonce rejection carries the expected nonce in
// Data (in CheckTx and in a block alike), so a client never parses the log.
func TestRejectionsCarryCodespaceAndExpectedNonce(t *testing.T) {
	alice, bob := testKey(0), testKey(1)
	l := newTestLedger(t, "", alice)
	if r := l.block(l.sign(alice, &Transfer{To: addrOf(bob), Amount: 1})); r[0].Code != 0 || r[0].Codespace != "" {
		t.Fatalf("a valid transfer: code %d codespace %q", r[0].Code, r[0].Codespace)
	}
	for _, nonce := range []uint64{0, 9} { // replayed, from the future
		tx, _ := NewTx(testChainID, &Transfer{To: addrOf(bob), Amount: 1}, alice, nonce)
		c := l.check(tx.Bytes())
		if Code(c.Code) != CodeBadNonce || c.Codespace != Codespace {
			t.Fatalf("CheckTx nonce %d: code %d codespace %q", nonce, c.Code, c.Codespace)
		}
		if got, ok := ParseNonceData(c.Data); !ok || got != 1 {
			t.Fatalf("CheckTx nonce %d: data %x, want the expected nonce 1", nonce, c.Data)
		}
		r := l.block(tx.Bytes())[0]
		if Code(r.Code) != CodeBadNonce || r.Codespace != Codespace || !bytes.Equal(r.Data, NonceData(1)) {
			t.Fatalf("FinalizeBlock nonce %d: code %d codespace %q data %x", nonce, r.Code, r.Codespace, r.Data)
		}
	}
	// A rule failure: codespace, no data.
	over := l.sign(alice, &Transfer{To: addrOf(bob), Amount: 5000})
	if c := l.check(over); Code(c.Code) != CodeInsufficientFunds || c.Codespace != Codespace || c.Data != nil {
		t.Fatalf("CheckTx over balance: %+v", c)
	}
	if r := l.block(over)[0]; Code(r.Code) != CodeInsufficientFunds || r.Codespace != Codespace || r.Data != nil {
		t.Fatalf("FinalizeBlock over balance: %+v", r)
	}
	if c := l.check([]byte("junk")); Code(c.Code) != CodeEncoding || c.Codespace != Codespace {
		t.Fatalf("CheckTx of junk: %+v", c)
	}
	for _, path := range []string{"/mint", QueryNode + addrOf(bob).String()} {
		q, err := l.app.Query(context.Background(), &abci.QueryRequest{Path: path})
		if err != nil || q.Code == 0 || q.Codespace != Codespace {
			t.Fatalf("query %s: %+v %v", path, q, err)
		}
	}
	if q, _ := l.app.Query(context.Background(), &abci.QueryRequest{Path: QueryParams}); q.Code != 0 || q.Codespace != "" {
		t.Fatalf("a good query: %+v", q)
	}
	var ne *NonceError
	_, err := authenticate(newOverlay(l.app.committed()), testChainID, DefaultParams(), nil, func() []byte {
		tx, _ := NewTx(testChainID, &Transfer{To: addrOf(bob), Amount: 1}, alice, 7)
		return tx.Bytes()
	}())
	if !errors.As(err, &ne) || !errors.Is(err, ErrBadNonce) || ne.Expected != 2 || ne.Got != 7 || ne.Account != addrOf(alice) {
		t.Fatalf("authenticate: %v (%+v)", err, ne)
	}
}
