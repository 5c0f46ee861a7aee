package ledger

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/cometbft/cometbft/libs/bytes"
	"github.com/cometbft/cometbft/p2p"
	rpcclient "github.com/cometbft/cometbft/rpc/client"
	coretypes "github.com/cometbft/cometbft/rpc/core/types"
	"github.com/cometbft/cometbft/types"

	"github.com/coop-network/coop/chain"
)

// OpenState opens the ledger state of a home whose node is not running and
// returns a read-only Client whose queries are answered from it: the state
// as the node last committed it (each answer's height says which block). It
// never broadcasts (no key). The caller keeps a node from starting on the
// home meanwhile (coop holds the home's lock); the state database refuses
// a second opener anyway. Call close after the client's Close.
func OpenState(ctx context.Context, home string) (c *Client, closeState func() error, err error) {
	cc, err := LoadCometConfig(home)
	if err != nil {
		return nil, nil, err
	}
	gen, err := types.GenesisDocFromFile(cc.GenesisFile())
	if err != nil {
		return nil, nil, fmt.Errorf("reading the genesis of %s: %w", home, err)
	}
	if _, err := os.Stat(filepath.Join(cc.DBDir(), stateDBName)); err != nil {
		return nil, nil, fmt.Errorf("no ledger state in %s: its node has not run yet: %w", home, err)
	}
	app, err := chain.Open(chain.Config{Dir: cc.DBDir()})
	if err != nil {
		return nil, nil, err
	}
	c, err = NewClient(ctx, &stateRPC{app: app, chainID: gen.ChainID}, nil)
	if err != nil {
		return nil, nil, errors.Join(err, app.Close())
	}
	return c, app.Close, nil
}

// stateDBName is the directory chain.Open keeps the state database in.
const stateDBName = "coop-state.db"

// stateRPC serves a Client's queries from an App opened in this process.
// It implements only what a read-only Client calls (Status, the ABCI
// queries, IsRunning); the embedded interface is nil, so anything else
// panics: a read-only Client never broadcasts or subscribes.
type stateRPC struct {
	rpcclient.Client
	app     *chain.App
	chainID string
}

func (s *stateRPC) Status(context.Context) (*coretypes.ResultStatus, error) {
	return &coretypes.ResultStatus{NodeInfo: p2p.DefaultNodeInfo{Network: s.chainID}}, nil
}

func (s *stateRPC) ABCIQuery(ctx context.Context, path string, data bytes.HexBytes) (*coretypes.ResultABCIQuery, error) {
	return s.ABCIQueryWithOptions(ctx, path, data, rpcclient.DefaultABCIQueryOptions)
}

func (s *stateRPC) ABCIQueryWithOptions(ctx context.Context, path string, data bytes.HexBytes, opts rpcclient.ABCIQueryOptions) (*coretypes.ResultABCIQuery, error) {
	res, err := s.app.Query(ctx, &abci.QueryRequest{Path: path, Data: data, Height: opts.Height})
	if err != nil {
		return nil, err
	}
	return &coretypes.ResultABCIQuery{Response: *res}, nil
}

func (s *stateRPC) IsRunning() bool { return false }
