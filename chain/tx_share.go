package chain

import (
	"bytes"
	"crypto/sha256"
	"fmt"
)

// Transaction types of shares.
const (
	TypeSetShare = "set_share"
	TypeUnshare  = "unshare"
)

// Limits on shares.
const (
	// MaxShareKeyBytes bounds SetShare.Key: a 32-byte share key sealed for
	// the recipient's key (an ephemeral key, a nonce and a tag), not a
	// payload.
	MaxShareKeyBytes = 160
	// PublicShareKeyBytes is the length of a public share's Key: the
	// share key itself, in the clear.
	PublicShareKeyBytes = 32
	// MaxSharePointerBytes bounds SetShare.Pointer.
	MaxSharePointerBytes = 256
	// MaxSharesPerAccount is the most shares one account owns at a time.
	MaxSharesPerAccount = 256
)

// State of shares:
//
//	share/<id:32>                    → Share
//	sharesby/<owner:20><id:32>       → true: the shares an account owns
//	sharesto/<recipient:20><id:32>   → true: the shares an account received (not public ones)
//	sharecount/<owner:20>            → uint64: how many it owns
const (
	prefixShare      = "share/"
	prefixSharesBy   = "sharesby/"
	prefixSharesTo   = "sharesto/"
	prefixShareCount = "sharecount/"
)

func shareKey(id Hash) []byte { return append([]byte(prefixShare), id[:]...) }

func sharesByPrefix(owner Address) []byte { return append([]byte(prefixSharesBy), owner[:]...) }

func sharesToPrefix(recipient Address) []byte {
	return append([]byte(prefixSharesTo), recipient[:]...)
}

func sharesByKey(owner Address, id Hash) []byte { return append(sharesByPrefix(owner), id[:]...) }

func sharesToKey(recipient Address, id Hash) []byte {
	return append(sharesToPrefix(recipient), id[:]...)
}

func shareCountKey(owner Address) []byte { return append([]byte(prefixShareCount), owner[:]...) }

// Share is a shared part of an owner's namespace: a pointer sealed with a
// share key, and that key sealed for the recipient (or, public, in the
// clear).
type Share struct {
	ID    Hash    `cbor:"id" json:"id"`
	Owner Address `cbor:"owner" json:"owner"`
	// Recipient is the account shared with; zero for a public share.
	Recipient Address `cbor:"recipient" json:"recipient"`
	// Key is the share key sealed for the recipient, or for a public share
	// the 32-byte share key in the clear.
	Key []byte `cbor:"key" json:"key"`
	// Write lets the recipient (and its devices) update Pointer.
	Write   bool   `cbor:"write,omitempty" json:"write,omitempty"`
	Version uint64 `cbor:"version" json:"version"`
	// Pointer is sealed with the share key; opaque to the ledger.
	Pointer []byte `cbor:"pointer" json:"pointer"`
	// CreatedHeight is the height of version 1, Height of this version.
	CreatedHeight int64 `cbor:"created_height" json:"created_height"`
	Height        int64 `cbor:"height" json:"height"`
	// By is the key that signed this version.
	By Address `cbor:"by" json:"by"`
}

// Public reports whether the share is public (no recipient).
func (s *Share) Public() bool { return s.Recipient.IsZero() }

// shareIDDomain separates share ids from other hashes.
const shareIDDomain = "coop/share-id/v1\x00"

// ShareIDOf is the id a share of owner with Key key must have: SHA-256 of a
// domain tag, the owner and the key. Binding the id to the owner means no
// one can take an id another account is about to use (a copied SetShare
// from the mempool names another owner, so another id), and a fresh key
// (sealed afresh for each recipient) gives a fresh id.
func ShareIDOf(owner Address, key []byte) Hash {
	h := sha256.New()
	h.Write([]byte(shareIDDomain))
	h.Write(owner[:])
	h.Write(key)
	var id Hash
	h.Sum(id[:0])
	return id
}

// SetShare creates or updates share ShareID, a compare-and-swap on its
// Version like SetRoot (*VersionError, ErrStaleVersion).
//
// Version 1 creates it: the acting account (its key, or a device through
// Tx.Account) is the owner; ShareID must be ShareIDOf(owner, Key)
// (ErrInvalid). Recipient is the account shared with, Key the share key
// sealed for it (1 to MaxShareKeyBytes); a public share has the zero
// Recipient, Key the PublicShareKeyBytes share key in the clear, and no
// Write. Write lets the recipient update the pointer. An owner has at most
// MaxSharesPerAccount shares (ErrInvalid). A stranger creates nothing in
// another's name: the owner is always the signer's account.
//
// Later versions update only Pointer: Recipient, Key and Write must be
// absent or equal to the record's (ErrInvalid). The owner signs them, or,
// only when the share has Write, the recipient (its key or a device);
// anyone else is ErrUnauthorized. Pointer, sealed with the share key, is 1
// to MaxSharePointerBytes.
type SetShare struct {
	ShareID   Hash    `cbor:"share_id"`
	Recipient Address `cbor:"recipient"`
	Key       []byte  `cbor:"key,omitempty"`
	Write     bool    `cbor:"write,omitempty"`
	Version   uint64  `cbor:"version"`
	Pointer   []byte  `cbor:"pointer"`
}

// TxType implements Body.
func (*SetShare) TxType() string { return TypeSetShare }

// Unshare deletes share ShareID. Its owner signs it (revoking), or its
// recipient (dropping it); both may through a device. Anyone else is
// ErrUnauthorized.
type Unshare struct {
	ShareID Hash `cbor:"share_id"`
}

// TxType implements Body.
func (*Unshare) TxType() string { return TypeUnshare }

func applySetShare(x *execCtx, b *SetShare) error {
	if len(b.Pointer) == 0 || len(b.Pointer) > MaxSharePointerBytes {
		return fmt.Errorf("%w: share pointer is %d bytes, want 1 to %d", ErrInvalid, len(b.Pointer), MaxSharePointerBytes)
	}
	var s Share
	found, err := getValue(x.st, shareKey(b.ShareID), &s)
	if err != nil {
		return err
	}
	if !found {
		return createShare(x, b)
	}
	switch {
	case x.signer == s.Owner:
	case x.signer == s.Recipient && !s.Public():
		if !s.Write {
			return fmt.Errorf("%w: share %s is read-only for its recipient %s", ErrUnauthorized, s.ID, x.signer)
		}
	default:
		return fmt.Errorf("%w: share %s belongs to %s; %s may not update it", ErrUnauthorized, s.ID, s.Owner, x.signer)
	}
	if b.Version != s.Version+1 {
		return &VersionError{What: "share " + s.ID.String(), Current: s.Version, Got: b.Version}
	}
	switch {
	case !b.Recipient.IsZero() && b.Recipient != s.Recipient:
		return fmt.Errorf("%w: an update of share %s names recipient %s; it cannot change (unshare and share again)", ErrInvalid, s.ID, b.Recipient)
	case len(b.Key) != 0 && !bytes.Equal(b.Key, s.Key):
		return fmt.Errorf("%w: an update of share %s carries another key; it cannot change (unshare and share again)", ErrInvalid, s.ID)
	case b.Write && !s.Write:
		return fmt.Errorf("%w: an update of share %s asks for write; it cannot change (unshare and share again)", ErrInvalid, s.ID)
	}
	s.Version, s.Pointer, s.Height, s.By = b.Version, b.Pointer, x.height, x.device
	return setValue(x.st, shareKey(s.ID), &s)
}

func createShare(x *execCtx, b *SetShare) error {
	if b.Version != 1 {
		return &VersionError{What: "share " + b.ShareID.String(), Current: 0, Got: b.Version}
	}
	public := b.Recipient.IsZero()
	switch {
	case public && len(b.Key) != PublicShareKeyBytes:
		return fmt.Errorf("%w: a public share's key is the %d-byte share key, got %d bytes", ErrInvalid, PublicShareKeyBytes, len(b.Key))
	case public && b.Write:
		return fmt.Errorf("%w: a public share cannot be writable", ErrInvalid)
	case !public && (len(b.Key) == 0 || len(b.Key) > MaxShareKeyBytes):
		return fmt.Errorf("%w: sealed share key is %d bytes, want 1 to %d", ErrInvalid, len(b.Key), MaxShareKeyBytes)
	case b.Recipient == x.signer:
		return fmt.Errorf("%w: %s shares with itself", ErrInvalid, x.signer)
	}
	if want := ShareIDOf(x.signer, b.Key); b.ShareID != want {
		return fmt.Errorf("%w: share id %s is not ShareIDOf(owner %s, key) = %s", ErrInvalid, b.ShareID, x.signer, want)
	}
	var n uint64
	if _, err := getValue(x.st, shareCountKey(x.signer), &n); err != nil {
		return err
	}
	if n >= MaxSharesPerAccount {
		return fmt.Errorf("%w: %s owns %d shares, at most %d (unshare some)", ErrInvalid, x.signer, n, MaxSharesPerAccount)
	}
	s := &Share{ID: b.ShareID, Owner: x.signer, Recipient: b.Recipient, Key: b.Key, Write: b.Write, Version: 1,
		Pointer: b.Pointer, CreatedHeight: x.height, Height: x.height, By: x.device}
	if err := setValue(x.st, shareKey(s.ID), s); err != nil {
		return err
	}
	if err := setValue(x.st, sharesByKey(s.Owner, s.ID), true); err != nil {
		return err
	}
	if !public {
		if err := setValue(x.st, sharesToKey(s.Recipient, s.ID), true); err != nil {
			return err
		}
	}
	return setValue(x.st, shareCountKey(s.Owner), n+1)
}

func applyUnshare(x *execCtx, b *Unshare) error {
	var s Share
	found, err := getValue(x.st, shareKey(b.ShareID), &s)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("%w: share %s", ErrNotFound, b.ShareID)
	}
	if x.signer != s.Owner && (s.Public() || x.signer != s.Recipient) {
		return fmt.Errorf("%w: share %s is between %s and %s; %s may not remove it", ErrUnauthorized, s.ID, s.Owner, s.Recipient, x.signer)
	}
	var n uint64
	if _, err := getValue(x.st, shareCountKey(s.Owner), &n); err != nil {
		return err
	}
	for _, k := range [][]byte{shareKey(s.ID), sharesByKey(s.Owner, s.ID)} {
		if err := x.st.Delete(k); err != nil {
			return err
		}
	}
	if !s.Public() {
		if err := x.st.Delete(sharesToKey(s.Recipient, s.ID)); err != nil {
			return err
		}
	}
	if n <= 1 {
		return x.st.Delete(shareCountKey(s.Owner))
	}
	return setValue(x.st, shareCountKey(s.Owner), n-1)
}
