package ledger

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"

	abci "github.com/cometbft/cometbft/abci/types"
	cmtbytes "github.com/cometbft/cometbft/libs/bytes"
	"github.com/cometbft/cometbft/p2p"
	rpcclient "github.com/cometbft/cometbft/rpc/client"
	ctypes "github.com/cometbft/cometbft/rpc/core/types"
	cmttypes "github.com/cometbft/cometbft/types"

	"github.com/coop-network/coop/chain"
)

// fakeRPC is a scripted CometBFT RPC client for unit tests of the client's
// decoding, paging and waiting. Methods it does not override panic (the
// embedded interface is nil).
type fakeRPC struct {
	rpcclient.Client

	// broadcast answers BroadcastTxSync.
	broadcast func(tx []byte) (*ctypes.ResultBroadcastTx, error)
	// query answers ABCIQueryWithOptions.
	query func(path string, data []byte, height int64) (abci.QueryResponse, error)

	mu       sync.Mutex
	sent     [][]byte                // BroadcastTxSync's txs
	queries  []fakeQuery             // ABCIQueryWithOptions' calls
	events   chan ctypes.ResultEvent // Subscribe's channel
	subs     int                     // live subscriptions
	blocks   map[int64][][]byte      // block txs by height
	results  map[int64][]*abci.ExecTxResult
	indexed  map[chain.Hash]*ctypes.ResultTx // the tx index
	lookups  int                             // Tx calls
	blockGet int                             // Block calls
}

type fakeQuery struct {
	path   string
	data   []byte
	height int64
}

var _ rpcclient.Client = (*fakeRPC)(nil)

func newFakeRPC() *fakeRPC {
	return &fakeRPC{
		events:  make(chan ctypes.ResultEvent, 16),
		blocks:  map[int64][][]byte{},
		results: map[int64][]*abci.ExecTxResult{},
		indexed: map[chain.Hash]*ctypes.ResultTx{},
	}
}

func (f *fakeRPC) Status(context.Context) (*ctypes.ResultStatus, error) {
	return &ctypes.ResultStatus{NodeInfo: p2p.DefaultNodeInfo{Network: "coop-fake"}}, nil
}

func (f *fakeRPC) IsRunning() bool { return false }

func (f *fakeRPC) BroadcastTxSync(_ context.Context, tx cmttypes.Tx) (*ctypes.ResultBroadcastTx, error) {
	f.mu.Lock()
	f.sent = append(f.sent, tx)
	f.mu.Unlock()
	return f.broadcast(tx)
}

func (f *fakeRPC) ABCIQueryWithOptions(_ context.Context, path string, data cmtbytes.HexBytes, opts rpcclient.ABCIQueryOptions) (*ctypes.ResultABCIQuery, error) {
	f.mu.Lock()
	f.queries = append(f.queries, fakeQuery{path, append([]byte(nil), data...), opts.Height})
	f.mu.Unlock()
	r, err := f.query(path, data, opts.Height)
	if err != nil {
		return nil, err
	}
	return &ctypes.ResultABCIQuery{Response: r}, nil
}

func (f *fakeRPC) Subscribe(_ context.Context, _, query string, _ ...int) (<-chan ctypes.ResultEvent, error) {
	if query != newBlockQuery {
		return nil, fmt.Errorf("unexpected query %q", query)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.subs++
	return f.events, nil
}

func (f *fakeRPC) Unsubscribe(context.Context, string, string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.subs--
	return nil
}

func (f *fakeRPC) Block(_ context.Context, h *int64) (*ctypes.ResultBlock, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.blockGet++
	txs, ok := f.blocks[*h]
	if !ok {
		return nil, fmt.Errorf("height %d must be less than or equal to the current blockchain height", *h)
	}
	var data cmttypes.Data
	for _, tx := range txs {
		data.Txs = append(data.Txs, tx)
	}
	return &ctypes.ResultBlock{Block: &cmttypes.Block{Header: cmttypes.Header{Height: *h}, Data: data}}, nil
}

func (f *fakeRPC) BlockResults(_ context.Context, h *int64) (*ctypes.ResultBlockResults, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.results[*h]
	if !ok {
		return nil, fmt.Errorf("could not find results for height #%d", *h)
	}
	return &ctypes.ResultBlockResults{Height: *h, TxResults: r}, nil
}

func (f *fakeRPC) Tx(_ context.Context, hash []byte, _ bool) (*ctypes.ResultTx, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	if r, ok := f.indexed[chain.Hash(hash)]; ok {
		return r, nil
	}
	return nil, errors.New("tx not found")
}

// commit puts txs in block h with their results, and the tx index unless
// unindexed (the index lags the block event); it does not send the event.
func (f *fakeRPC) commit(h int64, indexed bool, txs [][]byte, results []*abci.ExecTxResult) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.blocks[h], f.results[h] = txs, results
	if indexed {
		for i, tx := range txs {
			f.indexed[sha256.Sum256(tx)] = &ctypes.ResultTx{Height: h, Index: uint32(i), TxResult: *results[i], Tx: tx}
		}
	}
}

// newBlock sends the event of block h.
func (f *fakeRPC) newBlock(h int64) {
	f.events <- ctypes.ResultEvent{Query: newBlockQuery, Data: cmttypes.EventDataNewBlockHeader{Header: cmttypes.Header{Height: h}}}
}

// accountAnswer answers /account/ queries with nonce (other paths fail).
func accountAnswer(nonce func() uint64) func(string, []byte, int64) (abci.QueryResponse, error) {
	return func(path string, _ []byte, _ int64) (abci.QueryResponse, error) {
		var v chain.AccountView
		v.Nonce = nonce()
		b, err := chain.Marshal(v)
		if err != nil {
			return abci.QueryResponse{}, err
		}
		return abci.QueryResponse{Value: b, Height: 3}, nil
	}
}
