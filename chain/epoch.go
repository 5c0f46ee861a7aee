package chain

import (
	"crypto/sha256"
	"fmt"
)

// genesisSeed is the "previous seed" of epoch 0: SHA-256 of a domain tag
// and the chain id, so different chains never share seeds.
func genesisSeed(chainID string) Hash {
	return sha256.Sum256([]byte("coop/epoch-seed/v1\x00" + chainID))
}

// epochAt returns the number of the epoch a block height belongs to, and
// whether the height is the epoch's first block. Heights start at
// initialHeight; epoch n covers [initial + n·E, initial + (n+1)·E).
func epochAt(p Params, initialHeight, height int64) (n uint64, first bool) {
	off := uint64(height - initialHeight)
	return off / p.EpochLength, off%p.EpochLength == 0
}

// beginEpoch records a new epoch if height is an epoch's first block:
// seed = SHA-256(previous seed ‖ hash of this block).
func beginEpoch(b *blockCtx) error {
	st, p, chainID, height, blockHash := b.st, b.params, b.chainID, b.height, b.blockHash
	n, first := epochAt(p, b.initialHeight, height)
	if !first {
		return nil
	}
	prev := genesisSeed(chainID)
	if n > 0 {
		var e Epoch
		found, err := getValue(st, epochKey(n-1), &e)
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("epoch %d missing while starting epoch %d", n-1, n)
		}
		prev = e.Seed
	}
	var bh Hash
	copy(bh[:], blockHash)
	e := Epoch{Number: n, StartHeight: height, BlockHash: bh, Seed: sha256.Sum256(append(prev[:], blockHash...))}
	if err := setValue(st, epochKey(n), &e); err != nil {
		return err
	}
	b.newEpoch = &e
	return setValue(st, []byte(keyCurrentEpoch), n)
}

// currentEpoch reads the current epoch, found false before block 1.
func currentEpoch(st kvReader) (Epoch, bool, error) {
	var n uint64
	found, err := getValue(st, []byte(keyCurrentEpoch), &n)
	if err != nil || !found {
		return Epoch{}, false, err
	}
	var e Epoch
	found, err = getValue(st, epochKey(n), &e)
	return e, found, err
}
