package ledger

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/cometbft/cometbft/mempool"
	rpccore "github.com/cometbft/cometbft/rpc/core"
	rpctypes "github.com/cometbft/cometbft/rpc/jsonrpc/types"

	"github.com/coop-network/coop/chain"
)

// RejectedError is a transaction the ledger refused, in CheckTx or in its
// block, with a result code of the coop codespace. errors.Is(err,
// chain.ErrQuotaExceeded) and friends work on it.
type RejectedError struct {
	Code chain.Code
	// Log is the chain's message, for display only: the meaning is Code.
	Log string
	// Height is the block that included the tx, or 0 if CheckTx refused it.
	Height int64
}

func (e *RejectedError) Error() string {
	if e.Height > 0 {
		return fmt.Sprintf("ledger rejected tx in block %d: %s", e.Height, e.Log)
	}
	return "ledger rejected tx: " + e.Log
}

// Unwrap returns the chain sentinel error of the code.
func (e *RejectedError) Unwrap() error { return chain.ErrorOf(e.Code) }

// ErrForeignResult is returned (wrapped) for a failed result whose codespace
// is not chain.Codespace: its code is not a coop code (it may be CometBFT's,
// or another application's), so it is not a *RejectedError.
var ErrForeignResult = errors.New("ledger node failed the tx outside the coop codespace")

// verdict is what a node said of a tx: the fields of an ABCI CheckTx or
// ExecTx result that carry meaning. Log is only carried for display.
type verdict struct {
	Code      uint32
	Codespace string
	Data      []byte
	Log       string
}

// ok reports a success (code 0 is OK whatever the codespace).
func (v verdict) ok() bool { return v.Code == 0 }

// is reports whether v failed with the coop code c.
func (v verdict) is(c chain.Code) bool {
	return v.Codespace == chain.Codespace && v.Code == uint32(c)
}

// err is the error of a failed verdict (nil for success): a *RejectedError
// for a coop code, else ErrForeignResult. height is the including block, 0
// for CheckTx.
func (v verdict) err(height int64) error {
	if v.ok() {
		return nil
	}
	if v.Codespace != chain.Codespace {
		where := "in CheckTx"
		if height > 0 {
			where = fmt.Sprintf("in block %d", height)
		}
		return fmt.Errorf("%w: %s, codespace %q code %d: %s", ErrForeignResult, where, v.Codespace, v.Code, v.Log)
	}
	return &RejectedError{Code: chain.Code(v.Code), Log: v.Log, Height: height}
}

var (
	errMempoolFull = errors.New("mempool full")
	// errInCache: the same bytes were submitted before, so this nonce is
	// taken (our nonce is stale, or the tx is a duplicate).
	errInCache = errors.New("tx in mempool cache")
	// errCatchingUp: the node is still block-syncing and refuses
	// broadcasts until it has caught up (rpc/core's
	// ErrEndpointClosedCatchingUp); a Broadcast waits it out.
	errCatchingUp = errors.New("node is catching up")
)

// CometBFT's texts, as an HTTP client receives them. Over HTTP a
// broadcast_tx_sync failure is a JSON-RPC error whose data is the node's
// err.Error(): no code or type crosses the wire, so these errors can only be
// recognised by their text. Each text is taken from CometBFT's own constant
// or format (v1.0.1, mempool/errors.go and rpc/core/mempool.go), so a change
// there shows up here as a failing test rather than a silent mismatch.
var (
	// rpcValidationPrefix is how rpc/core's BroadcastTxSync wraps an error
	// of the CheckTx callback ("broadcast error on transaction validation: %w").
	rpcValidationPrefix = "broadcast error on transaction validation: "
	// mempoolFullPrefix is the fixed start of mempool.ErrMempoolIsFull's
	// text ("mempool is full: number of txs %d (max: %d), ...").
	mempoolFullPrefix, _, _ = strings.Cut(mempool.ErrMempoolIsFull{}.Error(), ":")
	// The fixed texts: mempool.ErrTxInCache, ErrTxInMempool, ErrRecheckFull.
	txInCacheText   = mempool.ErrTxInCache.Error()
	txInMempoolText = mempool.ErrTxInMempool.Error()
	recheckFullText = mempool.ErrRecheckFull.Error()
	catchingUpText  = rpccore.ErrEndpointClosedCatchingUp.Error()
)

// broadcastVerdict reads a broadcast_tx_sync error. A CheckTx rejection
// returns its verdict and a nil error; a full mempool returns
// errMempoolFull; a tx the node has already seen returns errInCache; any
// other error comes back as it is. hash is the tx's CometBFT hash: a
// rejection naming another tx is not ours to read.
func broadcastVerdict(err error, hash []byte) (verdict, error) {
	// The in-process (local) client returns CometBFT's errors themselves.
	var inv mempool.ErrInvalidTx
	if errors.As(err, &inv) {
		return verdict{Code: inv.Code, Codespace: inv.Codespace, Data: inv.Data, Log: inv.Log}, nil
	}
	var full mempool.ErrMempoolIsFull
	if errors.As(err, &full) || errors.Is(err, mempool.ErrRecheckFull) {
		return verdict{}, errMempoolFull
	}
	if errors.Is(err, mempool.ErrTxInCache) || errors.Is(err, mempool.ErrTxInMempool) {
		return verdict{}, errInCache
	}
	if errors.Is(err, rpccore.ErrEndpointClosedCatchingUp) {
		return verdict{}, errCatchingUp
	}
	// Over HTTP only the text of the node's error arrives.
	var re *rpctypes.RPCError
	if !errors.As(err, &re) {
		return verdict{}, err
	}
	text, _ := strings.CutPrefix(re.Data, rpcValidationPrefix)
	switch {
	case text == txInCacheText, text == txInMempoolText:
		return verdict{}, errInCache
	case text == recheckFullText, strings.HasPrefix(text, mempoolFullPrefix+": "):
		return verdict{}, errMempoolFull
	case text == catchingUpText:
		return verdict{}, errCatchingUp
	}
	if h, v, ok := parseInvalidTx(text); ok {
		if !bytes.Equal(h, hash) {
			return verdict{}, fmt.Errorf("node rejected tx %X while checking %X: %w", h, hash, err)
		}
		return v, nil
	}
	return verdict{}, err
}

// invalidTxCodespaceSep separates the log from the codespace in
// mempool.ErrInvalidTx's text.
const invalidTxCodespaceSep = "', codespace='"

// parseInvalidTx decodes the text of mempool.ErrInvalidTx,
//
//	tx %X is invalid: code=%d, data=%X, log='%s', codespace='%s'
//
// by its structure: everything before the log is CometBFT's fixed text and
// hex or decimal fields, so it is read from the front; the codespace is the
// text's end, read from the back. The log lies between and is never looked
// into, so a log that itself contains "code=" or "', codespace='" cannot
// change the code or codespace read. (A codespace containing that separator
// would be misread; coop's is "coop".)
func parseInvalidTx(s string) (hash []byte, v verdict, ok bool) {
	rest, ok := strings.CutPrefix(s, "tx ")
	if !ok {
		return nil, verdict{}, false
	}
	hashHex, rest, ok := strings.Cut(rest, " is invalid: code=")
	if !ok {
		return nil, verdict{}, false
	}
	hash, err := hex.DecodeString(hashHex)
	if err != nil {
		return nil, verdict{}, false
	}
	codeText, rest, ok := strings.Cut(rest, ", data=")
	if !ok {
		return nil, verdict{}, false
	}
	code, err := strconv.ParseUint(codeText, 10, 32)
	if err != nil {
		return nil, verdict{}, false
	}
	dataHex, rest, ok := strings.Cut(rest, ", log='")
	if !ok {
		return nil, verdict{}, false
	}
	data, err := hex.DecodeString(dataHex)
	if err != nil {
		return nil, verdict{}, false
	}
	rest, ok = strings.CutSuffix(rest, "'")
	if !ok {
		return nil, verdict{}, false
	}
	i := strings.LastIndex(rest, invalidTxCodespaceSep)
	if i < 0 {
		return nil, verdict{}, false
	}
	if len(data) == 0 {
		data = nil
	}
	return hash, verdict{Code: uint32(code), Codespace: rest[i+len(invalidTxCodespaceSep):], Data: data, Log: rest[:i]}, true
}
