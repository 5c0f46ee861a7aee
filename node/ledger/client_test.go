package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/cometbft/cometbft/mempool"
	rpccore "github.com/cometbft/cometbft/rpc/core"
	ctypes "github.com/cometbft/cometbft/rpc/core/types"
	rpctypes "github.com/cometbft/cometbft/rpc/jsonrpc/types"
	cmttypes "github.com/cometbft/cometbft/types"

	"github.com/coop-network/coop/chain"
)

// httpError is what an HTTP client returns for a node's error err: a
// JSON-RPC internal error whose data is err's text, wrapped by the client.
func httpError(err error) error {
	return fmt.Errorf("post failed. %w", &rpctypes.RPCError{Code: -32603, Message: "Internal error", Data: err.Error()})
}

// validationError is how BroadcastTxSync wraps an error of the CheckTx
// callback (rpc/core/mempool.go).
func validationError(err error) error {
	return fmt.Errorf("broadcast error on transaction validation: %w", err)
}

func TestParseInvalidTxReadsFieldsByPosition(t *testing.T) {
	hash := bytes.Repeat([]byte{0xab}, 32)
	for _, tc := range []struct {
		name string
		in   mempool.ErrInvalidTx
	}{
		{"plain", mempool.ErrInvalidTx{Code: 13, Log: "quota exceeded: 5 > 4", Codespace: "coop", Hash: hash}},
		{"nonce data", mempool.ErrInvalidTx{Code: 5, Data: chain.NonceData(42), Log: "bad nonce: account expects nonce 7, got 3", Codespace: "coop", Hash: hash}},
		{"code lure", mempool.ErrInvalidTx{Code: 11, Log: "code=5, data=00000000000000FF, log='x'", Codespace: "coop", Hash: hash}},
		{"codespace lure", mempool.ErrInvalidTx{Code: 11, Log: "a', codespace='evil', code=1 '", Codespace: "coop", Hash: hash}},
		{"all lures", mempool.ErrInvalidTx{Code: 7, Data: []byte{1}, Log: "tx 00 is invalid: code=1, data=, log='', codespace='coop'", Codespace: "other", Hash: hash}},
		{"empty", mempool.ErrInvalidTx{Code: 1, Hash: hash}},
		{"quotes and newlines", mempool.ErrInvalidTx{Code: 4, Log: "it's\nbad'", Codespace: "sdk", Hash: hash}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, v, ok := parseInvalidTx(tc.in.Error())
			if !ok {
				t.Fatalf("not parsed: %s", tc.in.Error())
			}
			want := verdict{Code: tc.in.Code, Codespace: tc.in.Codespace, Data: tc.in.Data, Log: tc.in.Log}
			if !bytes.Equal(h, hash) || v.Code != want.Code || v.Codespace != want.Codespace || !bytes.Equal(v.Data, want.Data) || v.Log != want.Log {
				t.Fatalf("parsed %X %+v, want %+v", h, v, want)
			}
		})
	}
	for _, bad := range []string{
		"",
		"tx ZZ is invalid: code=1, data=, log='', codespace=''",
		"tx AB is invalid: code=x, data=, log='', codespace=''",
		"tx AB is invalid: code=1, data=0, log='', codespace=''",
		"tx AB is invalid: code=1, data=, log='', codespace=",
		"tx AB is invalid: code=99999999999, data=, log='', codespace=''",
		"tx AB is invalid: code=1, log='', codespace=''",
		"mempool is full: number of txs 1 (max: 1), total txs bytes 1 (max: 1)",
		"xtx AB is invalid: code=1, data=, log='', codespace=''",
	} {
		if _, v, ok := parseInvalidTx(bad); ok {
			t.Errorf("%q parsed as %+v", bad, v)
		}
	}
}

func TestBroadcastVerdictLocalAndOverHTTP(t *testing.T) {
	tx := cmttypes.Tx("a tx")
	inv := mempool.ErrInvalidTx{Code: 5, Data: chain.NonceData(9), Log: "expects nonce 1, code=2", Codespace: "coop", Hash: tx.Hash()}
	full := mempool.ErrMempoolIsFull{NumTxs: 5000, MaxTxs: 5000, TxsBytes: 10, MaxTxsBytes: 20}
	for _, tc := range []struct {
		name    string
		err     error
		want    verdict
		wantErr error
	}{
		{"local invalid", validationError(inv), verdict{Code: 5, Codespace: "coop", Data: chain.NonceData(9), Log: inv.Log}, nil},
		{"http invalid", httpError(validationError(inv)), verdict{Code: 5, Codespace: "coop", Data: chain.NonceData(9), Log: inv.Log}, nil},
		{"local full", full, verdict{}, errMempoolFull},
		{"http full", httpError(full), verdict{}, errMempoolFull},
		{"http full in callback", httpError(validationError(full)), verdict{}, errMempoolFull},
		{"local recheck", mempool.ErrRecheckFull, verdict{}, errMempoolFull},
		{"http recheck", httpError(mempool.ErrRecheckFull), verdict{}, errMempoolFull},
		{"local cache", mempool.ErrTxInCache, verdict{}, errInCache},
		{"http cache", httpError(mempool.ErrTxInCache), verdict{}, errInCache},
		{"http in mempool", httpError(validationError(mempool.ErrTxInMempool)), verdict{}, errInCache},
		{"local catching up", rpccore.ErrEndpointClosedCatchingUp, verdict{}, errCatchingUp},
		{"http catching up", httpError(rpccore.ErrEndpointClosedCatchingUp), verdict{}, errCatchingUp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := broadcastVerdict(tc.err, tx.Hash())
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if v.Code != tc.want.Code || v.Codespace != tc.want.Codespace || !bytes.Equal(v.Data, tc.want.Data) || v.Log != tc.want.Log {
				t.Fatalf("verdict %+v, want %+v", v, tc.want)
			}
		})
	}
	// A log that quotes CometBFT's texts is still a rejection.
	lure := mempool.ErrInvalidTx{Code: 13, Log: mempool.ErrTxInCache.Error(), Codespace: "coop", Hash: tx.Hash()}
	if v, err := broadcastVerdict(httpError(validationError(lure)), tx.Hash()); err != nil || v.Code != 13 {
		t.Fatalf("log quoting ErrTxInCache: %+v %v", v, err)
	}
	// Errors that are none of these pass through unchanged.
	other := httpError(errors.New("mempool is fullish"))
	if _, err := broadcastVerdict(other, tx.Hash()); err != other {
		t.Fatalf("unknown error: %v", err)
	}
	// A rejection of another tx is not read as ours.
	if _, err := broadcastVerdict(httpError(validationError(inv)), cmttypes.Tx("other").Hash()); err == nil {
		t.Fatal("rejection of another tx read as ours")
	}
}

func TestVerdictErrors(t *testing.T) {
	var rej *RejectedError
	err := verdict{Code: uint32(chain.CodeQuotaExceeded), Codespace: chain.Codespace, Log: "over"}.err(9)
	if !errors.As(err, &rej) || rej.Height != 9 || !errors.Is(err, chain.ErrQuotaExceeded) {
		t.Fatalf("coop code: %v", err)
	}
	for _, cs := range []string{"", "sdk", "Coop"} {
		err := verdict{Code: uint32(chain.CodeQuotaExceeded), Codespace: cs, Log: "over"}.err(0)
		if errors.As(err, &rej) || errors.Is(err, chain.ErrQuotaExceeded) || !errors.Is(err, ErrForeignResult) {
			t.Fatalf("codespace %q read as a coop code: %v", cs, err)
		}
	}
	if err := (verdict{Codespace: "sdk"}).err(3); err != nil {
		t.Fatalf("code 0 failed: %v", err)
	}
}

// fakeClient is a signing client over f.
func fakeClient(t *testing.T, f *fakeRPC) *Client {
	t.Helper()
	c, err := NewClient(t.Context(), f, testAccountKey(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestBroadcastTakesTheExpectedNonceFromData(t *testing.T) {
	f := newFakeRPC()
	var committed atomic.Uint64
	committed.Store(3)
	f.query = accountAnswer(committed.Load)
	// The node expects nonce 9 (6 queued txs of another client of the key);
	// the log names another number, which must not matter.
	f.broadcast = func(b []byte) (*ctypes.ResultBroadcastTx, error) {
		tx, err := chain.DecodeTx(b)
		if err != nil {
			return nil, err
		}
		if tx.Nonce < 9 {
			return nil, httpError(validationError(mempool.ErrInvalidTx{Code: uint32(chain.CodeBadNonce), Data: chain.NonceData(9),
				Log: "bad nonce: account expects nonce 1, got 3", Codespace: chain.Codespace, Hash: cmttypes.Tx(b).Hash()}))
		}
		return &ctypes.ResultBroadcastTx{}, nil
	}
	c := fakeClient(t, f)
	r, err := c.Broadcast(t.Context(), &chain.Transfer{To: chain.Address{1}, Amount: 1})
	if err != nil || r.Nonce != 9 {
		t.Fatalf("%+v %v", r, err)
	}
	if len(f.sent) != 2 || len(f.queries) != 1 {
		t.Fatalf("%d broadcasts, %d queries; want 2 and 1", len(f.sent), len(f.queries))
	}
	// The next tx goes on from there without asking.
	if r, err = c.Broadcast(t.Context(), &chain.Transfer{To: chain.Address{1}, Amount: 1}); err != nil || r.Nonce != 10 || len(f.queries) != 1 {
		t.Fatalf("next tx: %+v %v", r, err)
	}
}

// TestBroadcastWaitsOutANodeThatIsCatchingUp: a node still block-syncing
// refuses broadcasts (found under load: a validator of a fresh devnet that
// had fallen behind); Broadcast retries until it takes the tx, and gives up
// only with its context.
func TestBroadcastWaitsOutANodeThatIsCatchingUp(t *testing.T) {
	f := newFakeRPC()
	f.query = accountAnswer(func() uint64 { return 0 })
	refusals := 3
	f.broadcast = func([]byte) (*ctypes.ResultBroadcastTx, error) {
		if refusals > 0 {
			refusals--
			return nil, httpError(rpccore.ErrEndpointClosedCatchingUp)
		}
		return &ctypes.ResultBroadcastTx{}, nil
	}
	c := fakeClient(t, f)
	if r, err := c.Broadcast(t.Context(), &chain.Transfer{To: chain.Address{1}, Amount: 1}); err != nil || r.Nonce != 0 || len(f.sent) != 4 {
		t.Fatalf("%+v %v after %d broadcasts, want success on the 4th", r, err, len(f.sent))
	}
	refusals = 1 << 30
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	if _, err := c.Broadcast(ctx, &chain.Transfer{To: chain.Address{1}, Amount: 1}); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "catching up") {
		t.Fatalf("a node that never catches up: %v", err)
	}
}

func TestBroadcastWithoutNonceDataRereadsTheCommittedNonce(t *testing.T) {
	f := newFakeRPC()
	var committed atomic.Uint64
	f.query = accountAnswer(committed.Load)
	f.broadcast = func(b []byte) (*ctypes.ResultBroadcastTx, error) {
		tx, _ := chain.DecodeTx(b)
		if tx.Nonce != 4 {
			committed.Store(4) // moved on meanwhile
			return &ctypes.ResultBroadcastTx{Code: uint32(chain.CodeBadNonce), Codespace: chain.Codespace, Log: "expects nonce 4,"}, nil
		}
		return &ctypes.ResultBroadcastTx{}, nil
	}
	c := fakeClient(t, f)
	r, err := c.Broadcast(t.Context(), &chain.Transfer{To: chain.Address{1}, Amount: 1})
	if err != nil || r.Nonce != 4 || len(f.queries) != 2 {
		t.Fatalf("%+v %v after %d queries", r, err, len(f.queries))
	}
}

func TestBroadcastRejectionsByCodespace(t *testing.T) {
	f := newFakeRPC()
	f.query = accountAnswer(func() uint64 { return 0 })
	var answer func(hash []byte) error
	f.broadcast = func(b []byte) (*ctypes.ResultBroadcastTx, error) { return nil, answer(cmttypes.Tx(b).Hash()) }
	c := fakeClient(t, f)
	answer = func(h []byte) error {
		return httpError(validationError(mempool.ErrInvalidTx{Code: uint32(chain.CodeInsufficientFunds), Log: "code=13 quota", Codespace: chain.Codespace, Hash: h}))
	}
	_, err := c.Broadcast(t.Context(), &chain.Transfer{To: chain.Address{1}, Amount: 1})
	var rej *RejectedError
	if !errors.As(err, &rej) || rej.Code != chain.CodeInsufficientFunds || !errors.Is(err, chain.ErrInsufficientFunds) || errors.Is(err, chain.ErrQuotaExceeded) {
		t.Fatalf("coop rejection: %v", err)
	}
	// The same code in another codespace is no coop code, and a bad nonce
	// there is not retried.
	f.sent = nil
	answer = func(h []byte) error {
		return httpError(validationError(mempool.ErrInvalidTx{Code: uint32(chain.CodeBadNonce), Data: chain.NonceData(1), Codespace: "sdk", Hash: h}))
	}
	_, err = c.Broadcast(t.Context(), &chain.Transfer{To: chain.Address{1}, Amount: 1})
	if errors.As(err, &rej) || errors.Is(err, chain.ErrBadNonce) || !errors.Is(err, ErrForeignResult) || len(f.sent) != 1 {
		t.Fatalf("foreign codespace: %v after %d broadcasts", err, len(f.sent))
	}
	// A full mempool is waited out.
	f.sent = nil
	answer = func(h []byte) error {
		if len(f.sent) < 3 {
			return httpError(mempool.ErrMempoolIsFull{NumTxs: 1, MaxTxs: 1})
		}
		return nil
	}
	f.broadcast = func(b []byte) (*ctypes.ResultBroadcastTx, error) {
		if err := answer(nil); err != nil {
			return nil, err
		}
		return &ctypes.ResultBroadcastTx{}, nil
	}
	if _, err := c.Broadcast(t.Context(), &chain.Transfer{To: chain.Address{1}, Amount: 1}); err != nil || len(f.sent) != 3 {
		t.Fatalf("full mempool: %v after %d broadcasts", err, len(f.sent))
	}
}

// pagedAnswer answers list queries at height 7 from pages, each keyed by
// the cursor that asks for it ("" for the first).
func pagedAnswer(t *testing.T, pages map[string]chain.Page[chain.Node]) func(string, []byte, int64) (abci.QueryResponse, error) {
	return func(path string, cursor []byte, height int64) (abci.QueryResponse, error) {
		p, ok := pages[string(cursor)]
		if !ok {
			return abci.QueryResponse{Code: uint32(chain.CodeInvalid), Codespace: chain.Codespace, Log: "bad cursor"}, nil
		}
		b, err := chain.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		return abci.QueryResponse{Value: b, Height: 7}, nil
	}
}

func nodesNamed(names ...string) []chain.Node {
	var out []chain.Node
	for _, n := range names {
		out = append(out, chain.Node{PeerID: n})
	}
	return out
}

func TestQueryListReadsEveryPageAtOneHeight(t *testing.T) {
	f := newFakeRPC()
	f.query = pagedAnswer(t, map[string]chain.Page[chain.Node]{
		"":   {Items: nodesNamed("a", "b"), Next: []byte("c1")},
		"c1": {Items: nodesNamed("c"), Next: []byte("c2")},
		"c2": {Items: nodesNamed("d", "e")},
	})
	c := fakeClient(t, f)
	nodes, h, err := QueryList[chain.Node](t.Context(), c, chain.QueryNodes)
	if err != nil || h != 7 || len(nodes) != 5 || nodes[4].PeerID != "e" {
		t.Fatalf("%+v at %d: %v", nodes, h, err)
	}
	want := []fakeQuery{{chain.QueryNodes, nil, 0}, {chain.QueryNodes, []byte("c1"), 7}, {chain.QueryNodes, []byte("c2"), 7}}
	if len(f.queries) != len(want) {
		t.Fatalf("queries %+v", f.queries)
	}
	for i, q := range f.queries {
		if q.path != want[i].path || !bytes.Equal(q.data, want[i].data) || q.height != want[i].height {
			t.Fatalf("query %d: %+v, want %+v", i, q, want[i])
		}
	}
	if nodes, err := c.Nodes(t.Context()); err != nil || len(nodes) != 5 {
		t.Fatalf("Nodes: %d %v", len(nodes), err)
	}
}

func TestQueryListNeverReturnsPartOfAList(t *testing.T) {
	for _, tc := range []struct {
		name  string
		pages map[string]chain.Page[chain.Node]
		query func(string, []byte, int64) (abci.QueryResponse, error)
		want  string
	}{
		{name: "failing page", pages: map[string]chain.Page[chain.Node]{
			"": {Items: nodesNamed("a"), Next: []byte("gone")},
		}, want: "bad cursor"},
		{name: "repeated cursor", pages: map[string]chain.Page[chain.Node]{
			"":  {Items: nodesNamed("a"), Next: []byte("x")},
			"x": {Items: nodesNamed("b"), Next: []byte("x")},
		}, want: "repeats cursor"},
		{name: "cycle", pages: map[string]chain.Page[chain.Node]{
			"":  {Items: nodesNamed("a"), Next: []byte("x")},
			"x": {Items: nodesNamed("b"), Next: []byte("y")},
			"y": {Items: nodesNamed("c"), Next: []byte("x")},
		}, want: "repeats cursor"},
		{name: "empty page", pages: map[string]chain.Page[chain.Node]{
			"":  {Items: nodesNamed("a"), Next: []byte("x")},
			"x": {Next: []byte("y")},
			"y": {Items: nodesNamed("b")},
		}, want: "empty but not the last"},
		{name: "long cursor", pages: map[string]chain.Page[chain.Node]{
			"": {Items: nodesNamed("a"), Next: bytes.Repeat([]byte("x"), chain.MaxCursorBytes+1)},
		}, want: "cursor of"},
		{name: "other height", query: func(_ string, cursor []byte, _ int64) (abci.QueryResponse, error) {
			b, _ := chain.Marshal(chain.Page[chain.Node]{Items: nodesNamed("a"), Next: []byte("x")})
			return abci.QueryResponse{Value: b, Height: 7 + int64(len(cursor))}, nil
		}, want: "answered at 8"},
		{name: "rpc error", query: func(_ string, cursor []byte, _ int64) (abci.QueryResponse, error) {
			if len(cursor) > 0 {
				return abci.QueryResponse{}, errors.New("connection reset")
			}
			b, _ := chain.Marshal(chain.Page[chain.Node]{Items: nodesNamed("a"), Next: []byte("x")})
			return abci.QueryResponse{Value: b, Height: 7}, nil
		}, want: "connection reset"},
		{name: "endless", query: func(_ string, cursor []byte, _ int64) (abci.QueryResponse, error) {
			n := 0
			fmt.Sscan(string(cursor), &n)
			b, _ := chain.Marshal(chain.Page[chain.Node]{Items: nodesNamed("a", "b", "c"), Next: fmt.Appendf(nil, "%d", n+1)})
			return abci.QueryResponse{Value: b, Height: 7}, nil
		}, want: "more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeRPC()
			f.query = tc.query
			if f.query == nil {
				f.query = pagedAnswer(t, tc.pages)
			}
			c := fakeClient(t, f)
			defer func(n int) { listEntryLimit = n }(listEntryLimit)
			listEntryLimit = 100
			nodes, _, err := QueryList[chain.Node](t.Context(), c, chain.QueryNodes)
			if err == nil || nodes != nil || !errors.Is(err, ErrQuery) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%d nodes, %v; want an ErrQuery naming %q", len(nodes), err, tc.want)
			}
		})
	}
}

func TestWaitTxTakesItsResultFromTheBlockEvent(t *testing.T) {
	f := newFakeRPC()
	c := fakeClient(t, f)
	c.PollInterval = time.Hour // events only
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	mine, other := []byte("mine"), []byte("other")
	res := make(chan error, 1)
	var got Result
	go func() {
		var err error
		got, err = c.WaitTx(ctx, chain.Hash(cmttypes.Tx(mine).Hash()))
		res <- err
	}()
	// Block 5 without it, then block 6 with it, failed with a coop code,
	// and not yet in the tx index.
	waitFor(t, func() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.subs == 1 && f.lookups == 1 })
	f.commit(5, true, [][]byte{other}, []*abci.ExecTxResult{{}})
	f.newBlock(5)
	f.commit(6, false, [][]byte{other, mine}, []*abci.ExecTxResult{{}, {Code: uint32(chain.CodeNoCapacity), Codespace: chain.Codespace, Log: "full"}})
	f.newBlock(6)
	err := <-res
	var rej *RejectedError
	if !errors.As(err, &rej) || rej.Height != 6 || got.Height != 6 || !errors.Is(err, chain.ErrNoCapacity) {
		t.Fatalf("%+v %v", got, err)
	}
	// A wait after a gap in the events looks in the index; Close ends waits.
	f.commit(9, true, [][]byte{other}, []*abci.ExecTxResult{{}})
	go func() {
		_, err := c.WaitTx(ctx, chain.Hash(cmttypes.Tx(other).Hash()))
		res <- err
	}()
	if err := <-res; err != nil {
		t.Fatal(err)
	}
	go func() {
		_, err := c.WaitTx(ctx, chain.Hash{1})
		res <- err
	}()
	f.newBlock(12) // 7…11 never came: too long a gap to scan
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-res; !errors.Is(err, ErrClosed) {
		t.Fatalf("wait across Close: %v", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.subs != 0 {
		t.Fatalf("after Close: %d subscriptions", f.subs)
	}
	if _, err := c.WaitTx(ctx, chain.Hash{1}); !errors.Is(err, ErrClosed) {
		t.Fatalf("wait after Close: %v", err)
	}
}

// waitFor waits up to a minute (a bound for a loaded machine, not a
// timing) for cond, which observes state another goroutine changes.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatal("condition not reached in a minute")
		case <-tick.C:
		}
	}
}

func TestQueryFailuresByCodespace(t *testing.T) {
	f := newFakeRPC()
	var space string
	f.query = func(string, []byte, int64) (abci.QueryResponse, error) {
		return abci.QueryResponse{Code: uint32(chain.CodeNotFound), Codespace: space, Log: "file not found", Height: 4}, nil
	}
	c := fakeClient(t, f)
	space = chain.Codespace
	if _, err := c.File(t.Context(), chain.Hash{1}); !errors.Is(err, chain.ErrNotFound) || !errors.Is(err, ErrQuery) {
		t.Fatalf("coop not found: %v", err)
	}
	for _, space = range []string{"", "sdk"} {
		if _, err := c.File(t.Context(), chain.Hash{1}); errors.Is(err, chain.ErrNotFound) || !errors.Is(err, ErrForeignResult) {
			t.Fatalf("codespace %q: %v", space, err)
		}
	}
}
