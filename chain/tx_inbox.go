package chain

import (
	"bytes"
	"fmt"
)

// TypeSetInbox is the type of SetInbox transactions.
const TypeSetInbox = "set_inbox"

// InboxKeyBytes is the length of an inbox key: an X25519 public key.
const InboxKeyBytes = 32

// State of inbox keys:
//
//	inbox/<account:20> → Inbox
const prefixInbox = "inbox/"

func inboxKey(account Address) []byte { return append([]byte(prefixInbox), account[:]...) }

// Inbox is an account's inbox key: the X25519 public key that share keys
// are sealed to for it (SetShare.Key). Its private half is derived from
// the account's root key, so every device of the account opens what is
// sealed to it, not only the node holding the account's ed25519 key.
type Inbox struct {
	Account Address `cbor:"account" json:"account"`
	Key     []byte  `cbor:"key" json:"key"`
	Height  int64   `cbor:"height" json:"height"`
	// By is the key that signed the SetInbox: the account's or a device's.
	By Address `cbor:"by" json:"by"`
}

// SetInbox sets the acting account's inbox key (its key or a device signs
// it, Tx.Account). Key is InboxKeyBytes long and not all zero
// (ErrInvalid); setting the key the account already has is ErrExists, so
// a replayed or repeated SetInbox changes nothing. The ledger cannot check
// that the key is the account's own derivation: a sender seals to whatever
// key is recorded, and only the account and its devices may record one.
type SetInbox struct {
	Key []byte `cbor:"key"`
}

// TxType implements Body.
func (*SetInbox) TxType() string { return TypeSetInbox }

func applySetInbox(x *execCtx, b *SetInbox) error {
	if len(b.Key) != InboxKeyBytes || bytes.Equal(b.Key, make([]byte, InboxKeyBytes)) {
		return fmt.Errorf("%w: an inbox key is %d bytes, not all zero; got %d bytes", ErrInvalid, InboxKeyBytes, len(b.Key))
	}
	var cur Inbox
	found, err := getValue(x.st, inboxKey(x.signer), &cur)
	if err != nil {
		return err
	}
	if found && bytes.Equal(cur.Key, b.Key) {
		return fmt.Errorf("%w: %s already has this inbox key", ErrExists, x.signer)
	}
	return setValue(x.st, inboxKey(x.signer), &Inbox{Account: x.signer, Key: b.Key, Height: x.height, By: x.device})
}
