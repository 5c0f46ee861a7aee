package namespace

import "github.com/coop-network/coop/storage/manifest"

// Limits of the namespace format, checked by CleanPath, the tree operations,
// Encode and Decode.
const (
	// Version is the newest format version, which Encode writes for a
	// tree holding a parted file; a tree without one is written as
	// version 1, so older readers still read it. Decode reads both and
	// requires the version a tree's contents give (one tree, one encoding).
	// History: 1 — the first format; 2 — parted files (a file's key 7,
	// the list of its parts, with no id or key of its own).
	Version = 2
	// MaxParts is the most parts a parted file may have (at 64 MiB parts,
	// 64 TiB, the most a single stored file may hold).
	MaxParts = 1 << 20
	// MaxDepth is the most components a path may have ("/a/b" has 2): a
	// file at depth MaxDepth is allowed, a directory there can hold nothing.
	MaxDepth = 64
	// MaxNameLen is the most bytes a path component may have.
	MaxNameLen = 255
	// MaxEntries is the most entries (files and directories, the root not
	// counted) a tree may hold.
	MaxEntries = 1 << 20
	// MaxEncoded is the largest encoded tree Decode accepts.
	MaxEncoded = 64 << 20
	// MaxShards bounds K+M and Copies in a Redundancy, as the manifest
	// format bounds K+M.
	MaxShards = manifest.MaxShards
	// DefaultMode is the permission bits PutFile stores for a File whose
	// Mode is 0.
	DefaultMode = 0o644
	// MaxSealed bounds a sealed root pointer (Seal returns 101 bytes), for
	// whoever stores or checks one, such as the ledger.
	MaxSealed = 256
)
