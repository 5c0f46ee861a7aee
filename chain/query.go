package chain

import (
	"fmt"
	"strconv"
	"strings"

	corestore "cosmossdk.io/core/store"
)

// Query paths (abci_query "path"). Values are deterministic CBOR of the
// named type. List queries answer one Page of at most MaxQueryResults
// entries, in key order; their data argument is the cursor (see Page), the
// other queries ignore it.
const (
	QueryAccount = "/account/" // /account/<address>  → AccountView
	QueryNode    = "/node/"    // /node/<address>     → Node
	QueryNodes   = "/nodes"    // /nodes              → Page[Node]
	QueryFile    = "/file/"    // /file/<file id>     → File
	QueryFiles   = "/files/"   // /files/<owner>      → Page[File]
	QueryPieces  = "/pieces/"  // /pieces/<holder>    → Page[HeldPiece]
	QueryEpoch   = "/epoch"    // /epoch or /epoch/<n> → Epoch
	QueryParams  = "/params"   // /params             → Params
	QueryChain   = "/chain"    // /chain              → ChainInfo

	// The current epoch's challenges over all the holder's pieces, not a
	// page (challenge.go).
	QueryChallenges = "/challenges/" // /challenges/<holder> → ChallengeSet
	// What the ledger recorded of a holder's proof for an epoch
	// (tx_prove.go); ErrNotFound while nothing is.
	QueryOutcome = "/outcome/" // /outcome/<epoch>/<holder> → EpochOutcome
	// Pieces marked lost and not yet repaired, by file (lost.go).
	QueryLost = "/lost" // /lost → Page[LostPiece]
	// A fault a ReportFault counted, by evidence id (tx_report_fault.go).
	QueryFault = "/fault/" // /fault/<evidence id> → FaultRecord
)

// Page is the answer to a list query (/nodes, /files/, /pieces/): at most
// MaxQueryResults entries and about MaxQueryBytes, in key order. The query's
// data argument is the cursor: empty for the first page, else the Next of
// the previous page. Next is empty on the last page. A client that needs
// the whole list reads every page at one height (abci_query's height), so
// the pages are of one state and every entry comes exactly once.
//
// The cursor is opaque to clients. (It is the key suffix, after the list's
// prefix, of the first entry not yet returned: an address, a file id, or
// file id ‖ segment ‖ index; a cursor of another length is refused with
// ErrInvalid.)
type Page[T any] struct {
	// Items are the page's entries, in key order.
	Items []T `cbor:"items" json:"items"`
	// Next is the cursor of the next page; empty on the last page.
	Next []byte `cbor:"next,omitempty" json:"next,omitempty"`
}

// MaxCursorBytes bounds a list query's cursor; a longer one is refused with
// ErrInvalid.
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

// AccountView is the answer to an account query: the stored account (with
// quota_used, and quota_lent / quota_owed: the bytes of it held by debts,
// debt.go) and the quota it may use now. An address never seen is returned
// with zero values.
type AccountView struct {
	Account
	// QuotaEarned is what the account's node earns by holding pieces for
	// other accounts: the bytes of them it has proved, min(HeldForOthers,
	// ProvedForOthers) × EarnPercent / 100 (0 without a node).
	QuotaEarned uint64 `cbor:"quota_earned" json:"quota_earned"`
	// QuotaLimit is the allowance plus QuotaEarned while the node is active
	// and up, else the allowance.
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

func query(st kvIterReader, params Params, info chainInfo, path string, data []byte) ([]byte, error) {
	arg := func(prefix string) string { return strings.TrimPrefix(path, prefix) }
	if len(data) > MaxCursorBytes {
		return nil, fmt.Errorf("%w: cursor is %d bytes, at most %d", ErrInvalid, len(data), MaxCursorBytes)
	}
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
			v.QuotaEarned = earnedQuota(params, &n)
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
		return listPage[Node](st, []byte(prefixNode), AddressSize, data, storedItem)
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
		return listPage[File](st, ownedPrefix(owner), HashSize, data, func(suffix, _ []byte) ([]byte, []byte, error) {
			key := fileKey(Hash(suffix))
			b, err := st.Get(key)
			if err != nil {
				return nil, nil, fmt.Errorf("reading state: %w", err)
			}
			return key, b, nil
		})
	case strings.HasPrefix(path, QueryPieces):
		holder, err := ParseAddress(arg(QueryPieces))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		return listPage[HeldPiece](st, heldPrefix(holder), heldSuffixSize, data, storedItem)
	case strings.HasPrefix(path, QueryChallenges):
		holder, err := ParseAddress(arg(QueryChallenges))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		return queryChallenges(st, params, holder)
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
		return getRaw(st, proofKey(n, holder), fmt.Sprintf("outcome of epoch %d for %s", n, holder))
	case strings.HasPrefix(path, QueryFault):
		id, err := ParseHash(arg(QueryFault))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		return getRaw(st, faultKey(id), "fault evidence "+id.String())
	case path == QueryLost:
		return listPage[LostPiece](st, []byte(prefixLost), lostSuffixSize, data, storedItem)
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
	case path == QueryValidators:
		return queryValidators(st)
	case path == QueryChain:
		return Marshal(&ChainInfo{ChainID: info.ChainID, InitialHeight: info.InitialHeight})
	case isJobQuery(path):
		return queryJob(st, path, data) // job_query.go
	case isAcctQuery(path):
		return queryAcct(st, path, data) // acct_query.go
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

// queryResultsLimit is MaxQueryResults; tests lower it.
var queryResultsLimit = MaxQueryResults

// itemFunc turns an index entry of a list (its key suffix after the list's
// prefix, and its value) into the state key and stored bytes of the item to
// return; nil bytes skip the entry.
type itemFunc func(suffix, value []byte) (key, item []byte, err error)

// storedItem is the itemFunc of lists whose entries are the items.
func storedItem(suffix, value []byte) ([]byte, []byte, error) { return suffix, value, nil }

// listPage answers one page of the list of entries under prefix, whose keys
// are prefix ‖ a suffixLen-byte suffix: from the entry whose suffix is
// cursor (the first entry if cursor is empty), at most queryResultsLimit
// items, stopping before the item that would take them past
// queryBytesLimit (but with at least one). Next is the suffix of the first
// entry not returned, empty if there is none. A cursor of the wrong length is
// ErrInvalid; one naming no entry starts at the next entry after it.
func listPage[T any](st kvIterReader, prefix []byte, suffixLen int, cursor []byte, item itemFunc) ([]byte, error) {
	if len(cursor) != 0 && len(cursor) != suffixLen {
		return nil, fmt.Errorf("%w: cursor is %d bytes, this list's are %d", ErrInvalid, len(cursor), suffixLen)
	}
	start := append(append([]byte(nil), prefix...), cursor...)
	it, err := st.Iterator(start, prefixEnd(prefix), true)
	if err != nil {
		return nil, err
	}
	defer it.Close()
	page := Page[T]{Items: []T{}}
	size := 0
	for ; it.Valid(); it.Next() {
		suffix := it.Key()[len(prefix):]
		if len(suffix) != suffixLen {
			return nil, fmt.Errorf("state key %q under %q has a %d-byte suffix, want %d", it.Key(), prefix, len(suffix), suffixLen)
		}
		if len(page.Items) >= queryResultsLimit {
			page.Next = append([]byte(nil), suffix...)
			break
		}
		key, b, err := item(suffix, it.Value())
		if err != nil {
			return nil, err
		}
		if b == nil {
			continue
		}
		if size += len(b); size > queryBytesLimit && len(page.Items) > 0 {
			page.Next = append([]byte(nil), suffix...)
			break
		}
		var x T
		if err := Unmarshal(b, &x); err != nil {
			return nil, fmt.Errorf("state at %q: %w", key, err)
		}
		page.Items = append(page.Items, x)
	}
	if err := it.Error(); err != nil {
		return nil, err
	}
	return Marshal(&page)
}
