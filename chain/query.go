package chain

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	corestore "cosmossdk.io/core/store"
)

// Query paths (abci_query "path"; the data argument is unused). Values are
// deterministic CBOR of the named type. List queries return at most
// MaxQueryResults entries, in key order.
const (
	QueryAccount = "/account/" // /account/<address>  → AccountView
	QueryNode    = "/node/"    // /node/<address>     → Node
	QueryNodes   = "/nodes"    // /nodes              → []Node
	QueryFile    = "/file/"    // /file/<file id>     → File
	QueryFiles   = "/files/"   // /files/<owner>      → []File
	QueryPieces  = "/pieces/"  // /pieces/<holder>    → []HeldPiece
	QueryEpoch   = "/epoch"    // /epoch or /epoch/<n> → Epoch
	QueryParams  = "/params"   // /params             → Params
	QueryChain   = "/chain"    // /chain              → ChainInfo
)

// Page is the answer to a list query (/nodes, /files/, /pieces/): at most
// MaxQueryResults entries and about MaxQueryBytes, in key order. The query's
// data argument is the cursor: empty for the first page, else the Next of
// the previous page. Next is empty on the last page. A client that needs
// the whole list reads every page at one height (abci_query's height), so
// the pages are of one state.
type Page[T any] struct {
	Items []T    `cbor:"items" json:"items"`
	Next  []byte `cbor:"next,omitempty" json:"next,omitempty"`
}

// MaxCursorBytes bounds a list query's cursor.
const MaxCursorBytes = 128

// MaxQueryResults bounds the entries one list query returns.
const MaxQueryResults = 10_000

// MaxQueryBytes bounds the encoded size of one list query's answer: a list
// stops before the entry that would take it past this (it always holds at
// least one). A file record can be as large as a transaction, so 10,000 of
// them could otherwise be gigabytes.
const MaxQueryBytes = 8 << 20

// queryBytesLimit is MaxQueryBytes; tests lower it.
var queryBytesLimit = MaxQueryBytes

// AccountView is the answer to an account query: the stored account and the
// quota it may use now. An address never seen is returned with zero values.
type AccountView struct {
	Account
	// QuotaLimit is the allowance plus earned quota while the node is up.
	QuotaLimit uint64 `cbor:"quota_limit" json:"quota_limit"`
	// Exists is false for an address the ledger has never seen.
	Exists bool `cbor:"exists" json:"exists"`
}

// ChainInfo is the answer to a chain query.
type ChainInfo struct {
	ChainID       string `cbor:"chain_id" json:"chain_id"`
	InitialHeight int64  `cbor:"initial_height" json:"initial_height"`
}

// kvIterReader is committed state that can also be scanned.
type kvIterReader interface {
	kvReader
	Iterator(start, end []byte, ascending bool) (corestore.Iterator, error)
}

func query(st kvIterReader, params Params, info chainInfo, path string, _ []byte) ([]byte, error) {
	arg := func(prefix string) string { return strings.TrimPrefix(path, prefix) }
	switch {
	case strings.HasPrefix(path, QueryAccount):
		a, err := ParseAddress(arg(QueryAccount))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		var v AccountView
		found, err := getValue(st, accountKey(a), &v.Account)
		if err != nil {
			return nil, err
		}
		v.Exists = found
		if !found {
			v.Account.Address = a
		}
		var n Node
		nfound, err := getValue(st, nodeKey(a), &n)
		if err != nil {
			return nil, err
		}
		if nfound {
			v.QuotaLimit = QuotaLimit(params, &v.Account, &n)
		} else {
			v.QuotaLimit = QuotaLimit(params, &v.Account, nil)
		}
		return Marshal(&v)
	case strings.HasPrefix(path, QueryNode):
		a, err := ParseAddress(arg(QueryNode))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		return getRaw(st, nodeKey(a), "node "+a.String())
	case path == QueryNodes:
		return list[Node](st, []byte(prefixNode))
	case strings.HasPrefix(path, QueryFile):
		id, err := ParseHash(arg(QueryFile))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		return getRaw(st, fileKey(id), "file "+id.String())
	case strings.HasPrefix(path, QueryFiles):
		owner, err := ParseAddress(arg(QueryFiles))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		return filesOf(st, owner)
	case strings.HasPrefix(path, QueryPieces):
		holder, err := ParseAddress(arg(QueryPieces))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		return list[HeldPiece](st, heldPrefix(holder))
	case path == QueryEpoch:
		e, found, err := currentEpoch(st)
		if err != nil {
			return nil, err
		}
		if !found {
			return nil, fmt.Errorf("%w: no epoch yet", ErrNotFound)
		}
		return Marshal(&e)
	case strings.HasPrefix(path, QueryEpoch+"/"):
		n, err := strconv.ParseUint(arg(QueryEpoch+"/"), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: epoch number: %v", ErrInvalid, err)
		}
		return getRaw(st, epochKey(n), fmt.Sprintf("epoch %d", n))
	case path == QueryParams:
		return Marshal(&params)
	case path == QueryChain:
		return Marshal(&ChainInfo{ChainID: info.ChainID, InitialHeight: info.InitialHeight})
	}
	return nil, fmt.Errorf("%w: unknown query path %q", ErrInvalid, path)
}

func getRaw(st kvReader, key []byte, what string) ([]byte, error) {
	b, err := st.Get(key)
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, what)
	}
	return b, nil
}

// prefixEnd is the first key after every key starting with prefix.
func prefixEnd(prefix []byte) []byte {
	end := append([]byte(nil), prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// scan calls fn for each entry under prefix, in key order, at most
// MaxQueryResults times (queries).
func scan(st kvIterReader, prefix []byte, fn func(k, v []byte) error) error {
	return scanN(st, prefix, MaxQueryResults, fn)
}

// scanN calls fn for each entry under prefix, in key order, at most limit
// times; limit < 0 means all (block rules, which must see everything).
func scanN(st kvIterReader, prefix []byte, limit int, fn func(k, v []byte) error) error {
	it, err := st.Iterator(prefix, prefixEnd(prefix), true)
	if err != nil {
		return err
	}
	defer it.Close()
	for n := 0; it.Valid() && (limit < 0 || n < limit); it.Next() {
		if err := fn(it.Key(), it.Value()); err != nil {
			return err
		}
		n++
	}
	return it.Error()
}

func list[T any](st kvIterReader, prefix []byte) ([]byte, error) {
	out := []T{}
	size := 0
	err := scan(st, prefix, func(k, v []byte) error {
		if size += len(v); size > queryBytesLimit && len(out) > 0 {
			return errQueryFull
		}
		var x T
		if err := Unmarshal(v, &x); err != nil {
			return fmt.Errorf("state at %q: %w", k, err)
		}
		out = append(out, x)
		return nil
	})
	if err != nil && !errors.Is(err, errQueryFull) {
		return nil, err
	}
	return Marshal(out)
}

// errQueryFull ends a list scan that reached MaxQueryBytes.
var errQueryFull = errors.New("query answer full")

func filesOf(st kvIterReader, owner Address) ([]byte, error) {
	prefix := ownedPrefix(owner)
	out := []File{}
	size := 0
	err := scan(st, prefix, func(k, _ []byte) error {
		var id Hash
		copy(id[:], k[len(prefix):])
		b, err := st.Get(fileKey(id))
		if err != nil {
			return fmt.Errorf("reading state: %w", err)
		}
		if b == nil {
			return nil
		}
		if size += len(b); size > queryBytesLimit && len(out) > 0 {
			return errQueryFull
		}
		var f File
		if err := Unmarshal(b, &f); err != nil {
			return fmt.Errorf("state at %q: %w", fileKey(id), err)
		}
		out = append(out, f)
		return nil
	})
	if err != nil && !errors.Is(err, errQueryFull) {
		return nil, err
	}
	return Marshal(out)
}
