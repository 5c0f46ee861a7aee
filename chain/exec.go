package chain

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"sync"
	"sync/atomic"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// execCtx is what a transaction rule sees: the state (an overlay that is
// discarded if the rule fails), the chain's parameters, the block height and
// the acting account: the signer's own, or, for a device signing for its
// account (Tx.Account), that account.
type execCtx struct {
	st      kvWriter
	chainID string
	params  Params
	height  int64
	// signer is the acting account's address: the party the rule acts as
	// (file owner, quota, shares, …).
	signer  Address
	account *Account // the acting account, saved after the rule succeeds
	// device is the key that signed: signer itself, or a device of it.
	device Address
	// nonce is the tx's nonce (the device key's, already consumed).
	nonce uint64
	// memo is the verified-tx cache entry of this tx, where a rule notes
	// checks that depend only on the tx bytes (receipt signatures).
	memo *verifiedTx
	// outcome is what a ProveStorage recorded ("proved", "invalid"),
	// reported in the tx's events.
	outcome string
}

// loadAccount returns the account at a; the signer's own account is the one
// in x so a rule that touches both sides of a transfer sees one copy.
// A missing account is returned zero-valued (with found false).
func (x *execCtx) loadAccount(a Address) (*Account, bool, error) {
	if a == x.signer {
		return x.account, true, nil
	}
	var acct Account
	found, err := getValue(x.st, accountKey(a), &acct)
	if err != nil {
		return nil, false, err
	}
	if !found {
		acct.Address = a
	}
	return &acct, found, nil
}

// saveAccount writes an account other than the signer's (which is saved by
// the caller after the rule).
func (x *execCtx) saveAccount(acct *Account) error {
	if acct == x.account {
		return nil
	}
	return setValue(x.st, accountKey(acct.Address), acct)
}

// loadNode returns the node registered by a, or found=false.
func (x *execCtx) loadNode(a Address) (*Node, bool, error) {
	var n Node
	found, err := getValue(x.st, nodeKey(a), &n)
	if err != nil || !found {
		return nil, found, err
	}
	return &n, true, nil
}

// verifiedCache remembers transactions that already decoded and whose
// signature verified (in CheckTx), keyed by SHA-256 of their bytes, so
// FinalizeBlock and mempool rechecks skip decoding and signature checks.
// Both are pure functions of the bytes (and of this app's chain id), so
// skipping them cannot change any result. Entries are read-only.
//
// The cache is bounded by the bytes of the transactions it holds, not by
// their number: anyone can submit correctly signed transactions of up to
// max_tx_bytes that then fail (a wrong nonce), and each is cached. It keeps
// two generations; when the current one reaches verifiedCacheBytes it becomes
// the old one and the previous old one is dropped, so at most
// 2 × verifiedCacheBytes of transactions (and their decoded bodies) stay
// in memory and recent ones survive a turnover.
type verifiedCache struct {
	mu       sync.Mutex
	cur, old map[Hash]*verifiedTx
	curBytes int
	// maxBytes bounds a generation; 0 means verifiedCacheBytes.
	maxBytes int
}

type verifiedTx struct {
	tx   *Tx
	body Body
	rule rule
	size int // bytes of the encoded tx
	// receiptsOK is set once a PlaceFile's receipt signatures verified;
	// like the tx signature they depend only on the bytes and the chain id.
	receiptsOK atomic.Bool
}

// verifiedCacheBytes bounds one generation of the cache: 64 MiB of encoded
// transactions, about 340,000 transfers (more than a full mempool of them)
// or 256 transactions of the largest size.
const verifiedCacheBytes = 64 << 20

func (c *verifiedCache) get(h Hash) *verifiedTx {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.cur[h]; ok {
		return v
	}
	return c.old[h]
}

func (c *verifiedCache) add(h Hash, v *verifiedTx) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.cur[h]; ok {
		return
	}
	limit := c.maxBytes
	if limit <= 0 {
		limit = verifiedCacheBytes
	}
	if c.cur == nil || c.curBytes+v.size > limit {
		c.old, c.cur, c.curBytes = c.cur, make(map[Hash]*verifiedTx, 1024), 0
	}
	c.cur[h] = v
	c.curBytes += v.size
}

// len returns the number of cached transactions and their encoded bytes.
func (c *verifiedCache) len() (n, bytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, v := range c.old {
		bytes += v.size
	}
	return len(c.cur) + len(c.old), bytes + c.curBytes
}

// authResult is a transaction that passed the envelope checks.
type authResult struct {
	tx      *Tx
	body    Body
	rule    rule
	account *Account
	hash    Hash
	memo    *verifiedTx
	// outcome is the execCtx's outcome after the rule succeeded.
	outcome string
}

// authenticate runs the checks every transaction must pass before its rule
// runs — size, encoding, chain id, known type and body, signature, nonce —
// and returns the signer's account with the nonce already consumed.
// CheckTx and FinalizeBlock both call it; it writes nothing.
func authenticate(st kvReader, chainID string, p Params, cache *verifiedCache, raw []byte) (*authResult, error) {
	if uint64(len(raw)) > p.MaxTxBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(raw), p.MaxTxBytes)
	}
	h := Hash(sha256.Sum256(raw))
	var v *verifiedTx
	if cache != nil {
		v = cache.get(h)
	}
	if v == nil {
		var err error
		if v, err = verify(chainID, raw); err != nil {
			return nil, err
		}
		if cache != nil {
			cache.add(h, v)
		}
	}
	tx, body, r := v.tx, v.body, v.rule
	signer := tx.Signer()
	var acct Account
	found, err := getValue(st, accountKey(signer), &acct)
	if err != nil {
		return nil, err
	}
	if !found {
		acct.Address = signer
	}
	if len(acct.PubKey) != 0 && !bytes.Equal(acct.PubKey, tx.PubKey) {
		return nil, fmt.Errorf("%w: public key does not match account %s", ErrBadSignature, signer)
	}
	if tx.Nonce != acct.Nonce {
		return nil, &NonceError{Account: signer, Expected: acct.Nonce, Got: tx.Nonce}
	}
	acct.PubKey = tx.PubKey
	acct.Nonce++
	return &authResult{tx: tx, body: body, rule: r, account: &acct, hash: h, memo: v}, nil
}

// verify decodes raw and checks everything that depends only on its bytes:
// encoding, chain id, type, body, signature.
func verify(chainID string, raw []byte) (*verifiedTx, error) {
	tx, err := DecodeTx(raw)
	if err != nil {
		return nil, err
	}
	if tx.ChainID != chainID {
		return nil, fmt.Errorf("%w: tx is for %q, this chain is %q", ErrWrongChain, tx.ChainID, chainID)
	}
	r, ok := rules[tx.Type]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownType, tx.Type)
	}
	body, err := r.decode(tx.Body)
	if err != nil {
		return nil, err
	}
	if acting := tx.Acting(); acting != tx.Signer() && !r.device {
		return nil, fmt.Errorf("%w: a %s tx may not name another account (%s): only its own key signs it", ErrUnauthorized, tx.Type, acting)
	}
	if !verifySignature(tx.PubKey, tx.SignBytes(), tx.Sig) {
		return nil, fmt.Errorf("%w: signature does not verify for signer %s", ErrBadSignature, tx.Signer())
	}
	return &verifiedTx{tx: tx, body: body, rule: r, size: len(raw)}, nil
}

// verifyOptions are crypto/ed25519's exact acceptance rules, with
// curve25519-voi's faster verification (≈ 1.6× on amd64).
var verifyOptions = &voi.Options{Verify: voi.VerifyOptionsStdLib}

func verifySignature(pub, msg, sig []byte) bool {
	return voi.VerifyWithOptions(voi.PublicKey(pub), msg, sig, verifyOptions)
}

// execute authenticates raw and applies its rule on top of st.
//
// A transaction that fails authentication changes nothing. One that passes
// but whose rule fails consumes its nonce and changes nothing else, so the
// same signed bytes can never be applied later when the state would let them
// through.
func execute(st kvWriter, chainID string, p Params, height int64, cache *verifiedCache, raw []byte) (*authResult, error) {
	auth, err := authenticate(st, chainID, p, cache, raw)
	if err != nil {
		return nil, err
	}
	// The nonce is spent whatever the rule decides.
	if err := setValue(st, accountKey(auth.account.Address), auth.account); err != nil {
		return auth, err
	}
	ov := newOverlay(st)
	acct := *auth.account
	if acting := auth.tx.Acting(); acting != acct.Address {
		// A device signing for its account: verify checked that the rule
		// allows it; here, that the signer is the account's device now.
		a, err := deviceActing(ov, acct.Address, acting)
		if err != nil {
			return auth, err
		}
		acct = *a
	}
	x := &execCtx{st: ov, chainID: chainID, params: p, height: height, signer: acct.Address, account: &acct,
		device: auth.account.Address, nonce: auth.tx.Nonce, memo: auth.memo}
	if err := auth.rule.apply(x, auth.body); err != nil {
		return auth, err
	}
	if err := setValue(ov, accountKey(acct.Address), &acct); err != nil {
		return auth, err
	}
	auth.outcome = x.outcome
	return auth, ov.flush(st)
}
