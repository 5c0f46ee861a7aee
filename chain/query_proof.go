package chain

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	abci "github.com/cometbft/cometbft/abci/types"
	cmtcrypto "github.com/cometbft/cometbft/api/cometbft/crypto/v1"
	"github.com/cosmos/iavl"
	ics23 "github.com/cosmos/ics23/go"
)

// QueryStore is the raw state query: its data argument is a state key, its
// answer the stored bytes (absent: ErrNotFound). With prove it is, like the
// other provable paths (StoreKey), answered with an ics23 proof.
const QueryStore = "/store"

// ProofOpIAVL is the type of the one ProofOp a proved query answer carries:
// its Key is the state key, its Data an ics23 CommitmentProof (existence
// or, for an absent key, non-existence) against the IAVL root at the
// answer's height, which is the app hash in the header of the next height.
const ProofOpIAVL = "ics23:iavl"

// ErrUnverified is returned by VerifyQuery for an answer whose proof does
// not hold.
var ErrUnverified = errors.New("ledger answer does not verify")

// StoreKey returns the state key whose stored value answers path (with
// data, the key itself for QueryStore): the paths a query with prove
// answers with a proof. Computed answers (/account/, /epoch, /challenges/)
// and lists have no single stored value; their paths are ErrInvalid (not
// yet provable: read the records they are made of through QueryStore).
func StoreKey(path string, data []byte) ([]byte, error) {
	arg := func(prefix string) string { return strings.TrimPrefix(path, prefix) }
	switch {
	case path == QueryStore:
		if len(data) == 0 || len(data) > MaxCursorBytes {
			return nil, fmt.Errorf("%w: %s wants a state key of 1 to %d bytes, got %d", ErrInvalid, QueryStore, MaxCursorBytes, len(data))
		}
		return bytes.Clone(data), nil
	case path == QueryParams:
		return []byte(keyParams), nil
	case strings.HasPrefix(path, QueryNode):
		a, err := ParseAddress(arg(QueryNode))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		return nodeKey(a), nil
	case strings.HasPrefix(path, QueryFile):
		id, err := ParseHash(arg(QueryFile))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		return fileKey(id), nil
	case strings.HasPrefix(path, QueryEpoch+"/"):
		n, err := strconv.ParseUint(arg(QueryEpoch+"/"), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: epoch number: %v", ErrInvalid, err)
		}
		return epochKey(n), nil
	case strings.HasPrefix(path, QueryOutcome):
		num, addr, ok := strings.Cut(arg(QueryOutcome), "/")
		if !ok {
			return nil, fmt.Errorf("%w: want %s<epoch>/<holder>", ErrInvalid, QueryOutcome)
		}
		n, err := strconv.ParseUint(num, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: epoch number: %v", ErrInvalid, err)
		}
		holder, err := ParseAddress(addr)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		return proofKey(n, holder), nil
	case strings.HasPrefix(path, QueryFault):
		id, err := ParseHash(arg(QueryFault))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		return faultKey(id), nil
	}
	if key, ok, err := acctStoreKey(path); ok {
		return key, err
	}
	return nil, fmt.Errorf("%w: %q has no proof (a computed answer or a list; not yet provable)", ErrInvalid, path)
}

// AccountKey is the state key of an account's record (for QueryStore).
func AccountKey(a Address) []byte { return accountKey(a) }

// queryProved answers a query with prove: the stored value of the path's
// key at version, with an ics23 proof of it (or of its absence).
func queryProved(t *iavl.ImmutableTree, version int64, req *abci.QueryRequest) *abci.QueryResponse {
	key, err := StoreKey(req.Path, req.Data)
	if err != nil {
		code, space, log, _ := resultOf(err)
		return &abci.QueryResponse{Code: code, Codespace: space, Log: log, Height: version}
	}
	fail := func(err error) *abci.QueryResponse {
		code, space, log, _ := resultOf(fmt.Errorf("proving %q: %w", key, err))
		return &abci.QueryResponse{Code: code, Codespace: space, Log: log, Height: version}
	}
	value, err := t.Get(key)
	if err != nil {
		return fail(err)
	}
	proof, err := t.GetProof(key)
	if err != nil {
		return fail(err)
	}
	bz, err := proof.Marshal()
	if err != nil {
		return fail(err)
	}
	res := &abci.QueryResponse{Code: uint32(CodeOK), Key: key, Value: value, Height: version,
		ProofOps: &cmtcrypto.ProofOps{Ops: []cmtcrypto.ProofOp{{Type: ProofOpIAVL, Key: key, Data: bz}}}}
	if value == nil {
		res.Code, res.Codespace, res.Log = uint32(CodeNotFound), Codespace, fmt.Sprintf("%s: no record (proved absent)", req.Path)
	}
	return res
}

// VerifyQuery checks a proved answer to path (with data) against appHash,
// the app hash in the header of height res.Height+1, which the caller has
// verified: the answer must be for the path's key and carry one ics23 proof
// that computes to appHash of the value it gives, or of the key's absence.
// It returns the value, nil if proved absent; anything else is
// ErrUnverified.
func VerifyQuery(path string, data []byte, res *abci.QueryResponse, appHash []byte) ([]byte, error) {
	key, err := StoreKey(path, data)
	if err != nil {
		return nil, err
	}
	if res.ProofOps == nil || len(res.ProofOps.Ops) != 1 {
		return nil, fmt.Errorf("%w: %s: no proof (code %d: %s)", ErrUnverified, path, res.Code, res.Log)
	}
	op := res.ProofOps.Ops[0]
	if op.Type != ProofOpIAVL || !bytes.Equal(op.Key, key) || !bytes.Equal(res.Key, key) {
		return nil, fmt.Errorf("%w: %s: a proof of type %q for key %x, want %q for %x", ErrUnverified, path, op.Type, op.Key, ProofOpIAVL, key)
	}
	var proof ics23.CommitmentProof
	if err := proof.Unmarshal(op.Data); err != nil {
		return nil, fmt.Errorf("%w: %s: proof: %v", ErrUnverified, path, err)
	}
	switch res.Code {
	case uint32(CodeOK):
		if res.Value == nil || !ics23.VerifyMembership(ics23.IavlSpec, appHash, &proof, key, res.Value) {
			return nil, fmt.Errorf("%w: %s at height %d: the value is not the one the app hash commits to", ErrUnverified, path, res.Height)
		}
		return res.Value, nil
	case uint32(CodeNotFound):
		if res.Codespace != Codespace || !ics23.VerifyNonMembership(ics23.IavlSpec, appHash, &proof, key) {
			return nil, fmt.Errorf("%w: %s at height %d: said absent, not proved absent", ErrUnverified, path, res.Height)
		}
		return nil, nil
	}
	return nil, fmt.Errorf("%w: %s: answer code %d: %s", ErrUnverified, path, res.Code, res.Log)
}

// AccountViewOf is the /account/ answer made from the records it reads:
// the account's stored record (found false: never seen), its node's (nil:
// none) and the params, all of one height. A verifying client builds the
// view from proved records with it.
func AccountViewOf(params Params, a Address, acct *Account, found bool, n *Node) AccountView {
	v := AccountView{Exists: found}
	if found {
		v.Account = *acct
	} else {
		v.Account.Address = a
	}
	if n != nil {
		v.QuotaEarned = earnedQuota(params, n)
		v.QuotaLimit = QuotaLimit(params, &v.Account, n)
	} else {
		v.QuotaLimit = QuotaLimit(params, &v.Account, nil)
	}
	return v
}
