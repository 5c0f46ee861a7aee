package chain

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"sync"
)

// execCtx is what a transaction rule sees: the state (an overlay that is
// discarded if the rule fails), the chain's parameters, the block height and
// the signer's account.
type execCtx struct {
	st      kvWriter
	params  Params
	height  int64
	signer  Address
	account *Account // the signer's account, saved after the rule succeeds
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

// sigCache remembers transactions whose signature already verified (in
// CheckTx), so FinalizeBlock does not verify them again. Verification is a
// pure function of the bytes, so skipping it cannot change any result.
type sigCache struct {
	mu sync.Mutex
	m  map[Hash]struct{}
}

const sigCacheMax = 1 << 17

func (c *sigCache) verified(h Hash) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.m[h]
	return ok
}

func (c *sigCache) add(h Hash) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= sigCacheMax {
		c.m = make(map[Hash]struct{}, 1024)
	}
	c.m[h] = struct{}{}
}

func (c *sigCache) remove(h Hash) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, h)
}

// authResult is a transaction that passed the envelope checks.
type authResult struct {
	tx      *Tx
	body    Body
	rule    rule
	account *Account
	hash    Hash
}

// authenticate runs the checks every transaction must pass before its rule
// runs — size, encoding, chain id, known type and body, signature, nonce —
// and returns the signer's account with the nonce already consumed.
// CheckTx and FinalizeBlock both call it; it writes nothing.
func authenticate(st kvReader, chainID string, p Params, cache *sigCache, raw []byte) (*authResult, error) {
	if uint64(len(raw)) > p.MaxTxBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(raw), p.MaxTxBytes)
	}
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
	h := Hash(sha256.Sum256(raw))
	if cache == nil || !cache.verified(h) {
		if !ed25519.Verify(tx.PubKey, tx.SignBytes(), tx.Sig) {
			return nil, fmt.Errorf("%w: signature does not verify for signer %s", ErrBadSignature, tx.Signer())
		}
		if cache != nil {
			cache.add(h)
		}
	}
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
		return nil, fmt.Errorf("%w: account %s expects nonce %d, tx has %d", ErrBadNonce, signer, acct.Nonce, tx.Nonce)
	}
	acct.PubKey = tx.PubKey
	acct.Nonce++
	return &authResult{tx: tx, body: body, rule: r, account: &acct, hash: h}, nil
}

// execute authenticates raw and applies its rule on top of st.
//
// A transaction that fails authentication changes nothing. One that passes
// but whose rule fails consumes its nonce and changes nothing else, so the
// same signed bytes can never be applied later when the state would let them
// through.
func execute(st kvWriter, chainID string, p Params, height int64, cache *sigCache, raw []byte) (*authResult, error) {
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
	x := &execCtx{st: ov, params: p, height: height, signer: acct.Address, account: &acct}
	if err := auth.rule.apply(x, auth.body); err != nil {
		return auth, err
	}
	if err := setValue(ov, accountKey(acct.Address), &acct); err != nil {
		return auth, err
	}
	return auth, ov.flush(st)
}
