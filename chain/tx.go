package chain

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
)

// Tx is the signed envelope of every transaction. Its bytes on the wire and
// in blocks are its canonical CBOR encoding; any other encoding is rejected.
type Tx struct {
	ChainID string `cbor:"chain_id"`
	Type    string `cbor:"type"`
	// Body is the canonical CBOR of the type's body struct.
	Body   []byte `cbor:"body"`
	PubKey []byte `cbor:"pubkey"`
	// Nonce must equal the signer account's Nonce.
	Nonce uint64 `cbor:"nonce"`
	// Sig is ed25519 over SignBytes.
	Sig []byte `cbor:"sig"`
	// Account, optional, is the 20-byte address of the account the signer
	// acts for; absent, the signer acts for itself (and the envelope's
	// bytes are those of before AppVersion 11). Naming another account,
	// the signer must be one of its active devices (tx_device.go) and the
	// type one a device may sign (Device-allowed rules, see rules); the
	// rule then acts as that account, while Nonce is the signer's own.
	Account []byte `cbor:"account,omitempty"`
}

// unsignedTx is Tx without the signature: what is signed.
type unsignedTx struct {
	ChainID string `cbor:"chain_id"`
	Type    string `cbor:"type"`
	Body    []byte `cbor:"body"`
	PubKey  []byte `cbor:"pubkey"`
	Nonce   uint64 `cbor:"nonce"`
	Account []byte `cbor:"account,omitempty"`
}

// signDomain separates coop tx signatures from any other use of the key
// (libp2p, CometBFT), so a signature can never be replayed across them.
const signDomain = "coop/tx/v1\x00"

// SignBytes is the message the signer signs: a domain tag followed by the
// canonical CBOR of the envelope without its signature.
func (tx *Tx) SignBytes() []byte {
	b := mustMarshal(unsignedTx{ChainID: tx.ChainID, Type: tx.Type, Body: tx.Body, PubKey: tx.PubKey, Nonce: tx.Nonce, Account: tx.Account})
	return append([]byte(signDomain), b...)
}

// Signer returns the address of the signing account.
func (tx *Tx) Signer() Address { return AddressOf(tx.PubKey) }

// Acting returns the account the transaction acts for: Account when set,
// else the signer.
func (tx *Tx) Acting() Address {
	if len(tx.Account) == AddressSize {
		return Address(tx.Account)
	}
	return tx.Signer()
}

// Bytes returns the canonical encoding broadcast to the chain.
func (tx *Tx) Bytes() []byte { return mustMarshal(tx) }

// Hash returns SHA-256 of the tx bytes, which is CometBFT's tx hash.
func (tx *Tx) Hash() Hash { return sha256.Sum256(tx.Bytes()) }

// Body is the payload of one transaction type.
type Body interface {
	// TxType is the envelope's type string for this body.
	TxType() string
}

// NewTx builds and signs a transaction.
func NewTx(chainID string, body Body, key ed25519.PrivateKey, nonce uint64) (*Tx, error) {
	return newTx(chainID, body, key, nil, nonce)
}

// NewTxFor builds and signs a transaction that key, a device of account,
// signs for account: nonce is the device key's own account nonce. When
// account is key's own address the envelope carries no Account (NewTx).
func NewTxFor(chainID string, body Body, key ed25519.PrivateKey, account Address, nonce uint64) (*Tx, error) {
	if AddressOf(key.Public().(ed25519.PublicKey)) == account {
		return NewTx(chainID, body, key, nonce)
	}
	return newTx(chainID, body, key, append([]byte(nil), account[:]...), nonce)
}

// newTx encodes body into an envelope (naming account, if not nil) and
// signs it with key.
func newTx(chainID string, body Body, key ed25519.PrivateKey, account []byte, nonce uint64) (*Tx, error) {
	b, err := Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encoding %s body: %w", body.TxType(), err)
	}
	tx := &Tx{
		ChainID: chainID,
		Type:    body.TxType(),
		Body:    b,
		PubKey:  append([]byte(nil), key.Public().(ed25519.PublicKey)...),
		Nonce:   nonce,
		Account: account,
	}
	tx.Sig = ed25519.Sign(key, tx.SignBytes())
	return tx, nil
}

// DecodeTx parses tx bytes: canonical CBOR, no unknown fields, a 32-byte
// public key and a 64-byte signature. It does not verify the signature.
func DecodeTx(b []byte) (*Tx, error) {
	var tx Tx
	if err := unmarshalCanonical(b, &tx); err != nil {
		return nil, fmt.Errorf("tx: %w", err)
	}
	if len(tx.PubKey) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: public key is %d bytes, want %d", ErrBadSignature, len(tx.PubKey), ed25519.PublicKeySize)
	}
	if len(tx.Sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: signature is %d bytes, want %d", ErrBadSignature, len(tx.Sig), ed25519.SignatureSize)
	}
	if len(tx.Account) != 0 && len(tx.Account) != AddressSize {
		return nil, fmt.Errorf("%w: account is %d bytes, want %d (or absent: the signer acts for itself)", ErrInvalid, len(tx.Account), AddressSize)
	}
	return &tx, nil
}

// DecodeBody decodes the body of tx into the Body type its Type names.
func DecodeBody(tx *Tx) (Body, error) {
	r, ok := rules[tx.Type]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownType, tx.Type)
	}
	return r.decode(tx.Body)
}

// rule is one transaction type: how to decode its body and how to apply it.
type rule struct {
	decode func([]byte) (Body, error)
	apply  func(x *execCtx, b Body) error
	// device: a device may sign it for its account (Tx.Account).
	device bool
}

// deviceAllowed marks r as one a device may sign for its account.
func deviceAllowed(r rule) rule {
	r.device = true
	return r
}

// DeviceAllowed reports whether a device may sign transactions of type
// txType for its account (Tx.Account).
func DeviceAllowed(txType string) bool { return rules[txType].device }

// ruleFor builds a rule from a typed apply function.
func ruleFor[B any, PB interface {
	*B
	Body
}](apply func(x *execCtx, b PB) error) rule {
	return rule{
		decode: func(raw []byte) (Body, error) {
			var b B
			if err := unmarshalCanonical(raw, &b); err != nil {
				return nil, fmt.Errorf("%s body: %w", PB(&b).TxType(), err)
			}
			return PB(&b), nil
		},
		apply: func(x *execCtx, b Body) error { return apply(x, b.(PB)) },
	}
}

// rules is the dispatch table: one line per transaction type, its rule in
// tx_<name>.go. Those wrapped in deviceAllowed accept a Tx.Account naming
// the account the signer is a device of, and act as that account; every
// other rule refuses an Account other than the signer's (ErrUnauthorized).
var rules = map[string]rule{
	TypeRegisterNode:  ruleFor(applyRegisterNode),
	TypeUpdateNode:    ruleFor(applyUpdateNode),
	TypePlaceFile:     deviceAllowed(ruleFor(applyPlaceFile)),
	TypePlaceFiles:    deviceAllowed(ruleFor(applyPlaceFiles)),
	TypeRemoveFile:    deviceAllowed(ruleFor(applyRemoveFile)),
	TypeTransfer:      ruleFor(applyTransfer),
	TypeProveStorage:  ruleFor(applyProveStorage),
	TypeReportLost:    ruleFor(applyReportLost),
	TypeReplacePieces: ruleFor(applyReplacePieces),
	TypeRaisePieces:   deviceAllowed(ruleFor(applyRaisePieces)),
	TypeReportFault:   ruleFor(applyReportFault),
	TypeSubmitJob:     deviceAllowed(ruleFor(applySubmitJob)),
	TypeCommitResult:  ruleFor(applyCommitResult),
	TypeRevealResult:  ruleFor(applyRevealResult),
	TypeValidatorVote: ruleFor(applyValidatorVote),
	TypeAddDevice:     ruleFor(applyAddDevice),
	TypeRemoveDevice:  ruleFor(applyRemoveDevice),
	TypeSetRoot:       deviceAllowed(ruleFor(applySetRoot)),
	TypeRegisterName:  ruleFor(applyRegisterName),
	TypeReleaseName:   ruleFor(applyReleaseName),
	TypeSetShare:      deviceAllowed(ruleFor(applySetShare)),
	TypeUnshare:       deviceAllowed(ruleFor(applyUnshare)),
	TypeSetInbox:      deviceAllowed(ruleFor(applySetInbox)),
}
