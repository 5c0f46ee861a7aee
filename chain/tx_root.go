package chain

import (
	"encoding/binary"
	"fmt"
)

// TypeSetRoot is the type of SetRoot transactions.
const TypeSetRoot = "set_root"

// Limits on namespace roots.
const (
	// MaxRootBytes bounds SetRoot.Root: a sealed pointer (a file id and
	// key, sealed), not a directory.
	MaxRootBytes = 256
	// DefaultKeptRoots is Params.KeptRoots in a new genesis.
	DefaultKeptRoots = 32
	// MaxKeptRoots bounds Params.KeptRoots, so an account's history is
	// one small query answer.
	MaxKeptRoots = 1024
)

// State of namespace roots:
//
//	root/<account:20>              → NamespaceRoot: the current one
//	roots/<account:20><version:8>  → NamespaceRoot: the last Params.KeptRoots, the current one included
const (
	prefixRoot  = "root/"
	prefixRoots = "roots/"
)

func rootKey(account Address) []byte { return append([]byte(prefixRoot), account[:]...) }

func rootsPrefix(account Address) []byte { return append([]byte(prefixRoots), account[:]...) }

func rootsKey(account Address, version uint64) []byte {
	return binary.BigEndian.AppendUint64(rootsPrefix(account), version)
}

// NamespaceRoot is one version of an account's namespace root pointer.
type NamespaceRoot struct {
	Account Address `cbor:"account" json:"account"`
	// Version counts the account's SetRoots: 1 for the first.
	Version uint64 `cbor:"version" json:"version"`
	// Root is opaque to the ledger: sealed bytes only the account's
	// devices open.
	Root   []byte `cbor:"root" json:"root"`
	Height int64  `cbor:"height" json:"height"`
	// By is the key that signed the SetRoot: the account's or a device's.
	By Address `cbor:"by" json:"by"`
}

// SetRoot sets the acting account's namespace root pointer: Root, opaque
// sealed bytes (1 to MaxRootBytes), as version Version. The account's key
// or one of its devices (Tx.Account) signs it. It is a compare-and-swap:
// Version must be the current version + 1 (1 for the first root), else the
// rule fails with a *VersionError naming the current version
// (ErrStaleVersion, code CodeStaleVersion, Data the current version), so a
// device that lost a race re-reads the root, merges and tries again. The
// last Params.KeptRoots roots stay in state (/roots/); the one this pushes
// out is deleted.
type SetRoot struct {
	Version uint64 `cbor:"version"`
	Root    []byte `cbor:"root"`
}

// TxType implements Body.
func (*SetRoot) TxType() string { return TypeSetRoot }

func applySetRoot(x *execCtx, b *SetRoot) error {
	if len(b.Root) == 0 || len(b.Root) > MaxRootBytes {
		return fmt.Errorf("%w: root is %d bytes, want 1 to %d", ErrInvalid, len(b.Root), MaxRootBytes)
	}
	var cur NamespaceRoot
	if _, err := getValue(x.st, rootKey(x.signer), &cur); err != nil {
		return err
	}
	if b.Version != cur.Version+1 {
		return &VersionError{What: "root of " + x.signer.String(), Current: cur.Version, Got: b.Version}
	}
	r := &NamespaceRoot{Account: x.signer, Version: b.Version, Root: b.Root, Height: x.height, By: x.device}
	if err := setValue(x.st, rootKey(x.signer), r); err != nil {
		return err
	}
	if err := setValue(x.st, rootsKey(x.signer, r.Version), r); err != nil {
		return err
	}
	if k := x.params.KeptRoots; r.Version > k {
		return x.st.Delete(rootsKey(x.signer, r.Version-k))
	}
	return nil
}
