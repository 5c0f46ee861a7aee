package chain

import (
	"fmt"
	"slices"
	"strings"
)

// Query paths of devices, namespace roots, names and shares (AppVersion
// 11). Values are CBOR of the named type; lists are pages as in query.go.
const (
	QueryDevices = "/devices/" // /devices/<account>  → Page[Device]: the account's devices
	QueryDevice  = "/device/"  // /device/<device>    → Device: whose device a key is (ErrNotFound: none)
	QueryRoot    = "/root/"    // /root/<account>     → NamespaceRoot: the current root (ErrNotFound: none yet)
	// The kept roots, newest first, in one page (at most Params.KeptRoots).
	QueryRoots        = "/roots/"        // /roots/<account>        → Page[NamespaceRoot]
	QueryName         = "/name/"         // /name/<name>            → NameRecord (ErrNotFound: free)
	QueryNameOf       = "/nameof/"       // /nameof/<account>       → NameRecord (ErrNotFound: none)
	QueryShare        = "/share/"        // /share/<share id>       → Share
	QuerySharesTo     = "/sharesto/"     // /sharesto/<account>     → Page[Share]: shares it received (not public ones)
	QuerySharesBy     = "/sharesby/"     // /sharesby/<account>     → Page[Share]: shares it owns
	QueryPublicShares = "/publicshares/" // /publicshares/<account> → Page[Share]: its public shares
	QueryInbox        = "/inbox/"        // /inbox/<account>        → Inbox (ErrNotFound: none yet)
)

var acctQueryPrefixes = []string{QueryDevices, QueryDevice, QueryRoots, QueryRoot, QueryNameOf, QueryName,
	QuerySharesTo, QuerySharesBy, QueryShare, QueryPublicShares, QueryInbox}

// isAcctQuery reports whether path is one of the paths above.
func isAcctQuery(path string) bool {
	return slices.ContainsFunc(acctQueryPrefixes, func(p string) bool { return strings.HasPrefix(path, p) })
}

func queryAcct(st kvIterReader, path string, cursor []byte) ([]byte, error) {
	addr := func(prefix string) (Address, error) {
		a, err := ParseAddress(strings.TrimPrefix(path, prefix))
		if err != nil {
			return a, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		return a, nil
	}
	shareItem := func(suffix, _ []byte) ([]byte, []byte, error) {
		key := shareKey(Hash(suffix))
		b, err := st.Get(key)
		if err != nil {
			return nil, nil, fmt.Errorf("reading state: %w", err)
		}
		return key, b, nil
	}
	switch {
	case strings.HasPrefix(path, QueryDevices):
		a, err := addr(QueryDevices)
		if err != nil {
			return nil, err
		}
		return listPage[Device](st, devicesPrefix(a), AddressSize, cursor, func(suffix, _ []byte) ([]byte, []byte, error) {
			key := deviceOfKey(Address(suffix))
			b, err := st.Get(key)
			if err != nil {
				return nil, nil, fmt.Errorf("reading state: %w", err)
			}
			return key, b, nil
		})
	case strings.HasPrefix(path, QueryDevice):
		a, err := addr(QueryDevice)
		if err != nil {
			return nil, err
		}
		return getRaw(st, deviceOfKey(a), "device "+a.String())
	case strings.HasPrefix(path, QueryRoots):
		a, err := addr(QueryRoots)
		if err != nil {
			return nil, err
		}
		page := Page[NamespaceRoot]{Items: []NamespaceRoot{}}
		err = scanN(st, rootsPrefix(a), MaxKeptRoots, func(k, v []byte) error {
			var r NamespaceRoot
			if err := Unmarshal(v, &r); err != nil {
				return fmt.Errorf("state at %q: %w", k, err)
			}
			page.Items = append(page.Items, r)
			return nil
		})
		if err != nil {
			return nil, err
		}
		slices.Reverse(page.Items)
		return Marshal(&page)
	case strings.HasPrefix(path, QueryRoot):
		a, err := addr(QueryRoot)
		if err != nil {
			return nil, err
		}
		return getRaw(st, rootKey(a), "root of "+a.String())
	case strings.HasPrefix(path, QueryNameOf):
		a, err := addr(QueryNameOf)
		if err != nil {
			return nil, err
		}
		return getRaw(st, nameOfKey(a), "name of "+a.String())
	case strings.HasPrefix(path, QueryInbox):
		a, err := addr(QueryInbox)
		if err != nil {
			return nil, err
		}
		return getRaw(st, inboxKey(a), "inbox key of "+a.String())
	case strings.HasPrefix(path, QueryName):
		name := strings.TrimPrefix(path, QueryName)
		if err := CheckName(name); err != nil {
			return nil, err
		}
		return getRaw(st, nameKey(name), fmt.Sprintf("name %q", name))
	case strings.HasPrefix(path, QueryShare):
		id, err := ParseHash(strings.TrimPrefix(path, QueryShare))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		return getRaw(st, shareKey(id), "share "+id.String())
	case strings.HasPrefix(path, QuerySharesTo):
		a, err := addr(QuerySharesTo)
		if err != nil {
			return nil, err
		}
		return listPage[Share](st, sharesToPrefix(a), HashSize, cursor, shareItem)
	case strings.HasPrefix(path, QuerySharesBy):
		a, err := addr(QuerySharesBy)
		if err != nil {
			return nil, err
		}
		return listPage[Share](st, sharesByPrefix(a), HashSize, cursor, shareItem)
	case strings.HasPrefix(path, QueryPublicShares):
		a, err := addr(QueryPublicShares)
		if err != nil {
			return nil, err
		}
		return listPage[Share](st, sharesByPrefix(a), HashSize, cursor, func(suffix, v []byte) ([]byte, []byte, error) {
			key, b, err := shareItem(suffix, v)
			if err != nil || b == nil {
				return key, b, err
			}
			var s Share
			if err := Unmarshal(b, &s); err != nil {
				return nil, nil, fmt.Errorf("state at %q: %w", key, err)
			}
			if !s.Public() {
				return key, nil, nil
			}
			return key, b, nil
		})
	}
	return nil, fmt.Errorf("%w: unknown query path %q", ErrInvalid, path)
}

// acctStoreKey is StoreKey for the provable paths above: one stored record
// each (the lists are not provable).
func acctStoreKey(path string) ([]byte, bool, error) {
	addr := func(prefix string) ([]byte, bool, error) {
		a, err := ParseAddress(strings.TrimPrefix(path, prefix))
		if err != nil {
			return nil, true, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		switch prefix {
		case QueryDevice:
			return deviceOfKey(a), true, nil
		case QueryRoot:
			return rootKey(a), true, nil
		case QueryInbox:
			return inboxKey(a), true, nil
		}
		return nameOfKey(a), true, nil
	}
	switch {
	case strings.HasPrefix(path, QueryDevice):
		return addr(QueryDevice)
	case strings.HasPrefix(path, QueryRoot):
		return addr(QueryRoot)
	case strings.HasPrefix(path, QueryNameOf):
		return addr(QueryNameOf)
	case strings.HasPrefix(path, QueryInbox):
		return addr(QueryInbox)
	case strings.HasPrefix(path, QueryName):
		name := strings.TrimPrefix(path, QueryName)
		if err := CheckName(name); err != nil {
			return nil, true, err
		}
		return nameKey(name), true, nil
	case strings.HasPrefix(path, QueryShare):
		id, err := ParseHash(strings.TrimPrefix(path, QueryShare))
		if err != nil {
			return nil, true, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		return shareKey(id), true, nil
	}
	return nil, false, nil
}
