// Package namespace is an account's directory tree of its files: the data
// model, its canonical encoding, the operations on it, the three-way merge
// of two devices' changes, and the sealed root pointer.
//
// Vocabulary:
//
//   - A Tree holds Entries from a root directory. A path is "/" or
//     "/docs/a.pdf" (CleanPath gives the canonical form). An Entry is a
//     directory (Children, sorted by name) or a file: a File is a stored
//     coop file's capability (FileID, Key) with its size, time, mode and
//     the Redundancy it was stored at.
//   - A Redundancy on a directory is the default for what is put under it;
//     Tree.Redundancy gives the effective one at a path (inherited as a
//     whole from the nearest directory that sets one).
//   - Encode writes a tree as deterministic CBOR with a format Version;
//     Decode reads only that canonical form (one tree, one encoding) and
//     checks every limit (MaxDepth, MaxEntries, MaxEncoded, MaxNameLen).
//   - The encoded tree is stored as an ordinary encrypted coop file; a
//     Pointer (that file's id, key and size) is sealed with Seal under a key
//     of the account and goes on the ledger in a SetRoot transaction, a
//     compare-and-swap on a version number. Open gets it back.
//   - Merge: when two devices change the tree from the same version and
//     one loses the compare-and-swap, the loser merges its changes into
//     the winner's tree (Merge(base, winner, loser, label)) and retries.
//     Nothing either side wrote is lost: a path both changed keeps the
//     winner's file and the loser's as a conflict copy ("report (conflict
//     laptop 1a2b3c4d).pdf"), and a file changed on one side and removed on
//     the other stays. See Merge for the rules.
//
// Usage:
//
//	t := namespace.New()
//	_, err := t.PutFile("/docs/report.pdf", namespace.File{FileID: id, Key: key, Size: n}, true)
//	b, err := namespace.Encode(t) // store b as a coop file, then Seal its Pointer
//
// The package is pure: no network, no storage, no clock (operations never
// set times themselves; pass them in File.MTime or SetMTime). Trees are not
// safe for concurrent use.
package namespace
