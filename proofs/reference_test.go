package proofs

// rootOfLeafHashes folds leaf hashes into the RFC 9162 root, recursively as
// the RFC defines it: the reference the faster code is checked against.
func rootOfLeafHashes(hs []Hash) Hash {
	if len(hs) == 1 {
		return hs[0]
	}
	k := splitPoint(uint64(len(hs)))
	return NodeHash(rootOfLeafHashes(hs[:k]), rootOfLeafHashes(hs[k:]))
}
