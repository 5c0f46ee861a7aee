package api

import (
	"context"
	"errors"
	"io"
	"time"
)

// PutOptions selects the redundancy of a stored file: K data and M parity
// pieces per segment, or Copies whole replicas (K=1, M=Copies-1).
type PutOptions struct {
	K      int    `json:"k,omitempty"`
	M      int    `json:"m,omitempty"`
	Copies int    `json:"copies,omitempty"`
	Name   string `json:"name,omitempty"`
	// Strict refuses the put when the network has too few nodes for the
	// asked redundancy, instead of storing it lower (PutResult.Degraded).
	Strict bool `json:"strict,omitempty"`
}

// PutResult is what a put returns: the read capability and the file id.
type PutResult struct {
	Capability string      `json:"capability"`
	FileID     string      `json:"file_id"`
	Size       int64       `json:"size"`
	K          int         `json:"k"`
	M          int         `json:"m"`
	Pieces     []Placement `json:"pieces,omitempty"`
	// Copies is the number of whole copies when K is 1 (M+1), else 0.
	Copies int `json:"copies,omitempty"`
	// AskedK and AskedM are the redundancy the put asked for, set only
	// when the network had too few nodes for it and K and M are lower.
	AskedK int `json:"asked_k,omitempty"`
	AskedM int `json:"asked_m,omitempty"`
	// Degraded is one line saying what was stored below the asked
	// redundancy and why; empty when the put got what it asked.
	Degraded string `json:"degraded,omitempty"`
	// Parts is how many parts a put at a path stored a large file in (0:
	// stored whole, as Capability); PartsStored how many of them it stored
	// now, the others being the previous version's, unchanged. FileID is
	// then the file's content id and Capability is empty.
	Parts       int `json:"parts,omitempty"`
	PartsStored int `json:"parts_stored,omitempty"`
}

// Placement is where one piece went.
type Placement struct {
	Segment int    `json:"segment"`
	Index   int    `json:"index"`
	Piece   string `json:"piece"`
	Holder  string `json:"holder"`
}

// FileInfo is one of the account's files as the ledger records it.
type FileInfo struct {
	FileID  string `json:"file_id"`
	Name    string `json:"name,omitempty"`
	Size    int64  `json:"size"`
	K       int    `json:"k"`
	M       int    `json:"m"`
	Pieces  int    `json:"pieces"`
	Created int64  `json:"created_height,omitempty"`
	// AskedK and AskedM are the redundancy the put asked, when the network
	// was too small and K and M are lower (PutResult.Degraded); known only
	// to the node the file was put from.
	AskedK int `json:"asked_k,omitempty"`
	AskedM int `json:"asked_m,omitempty"`
	// RaiseTo, when not 0, is the parity pieces per segment the ledger
	// records as asked for a file stored with fewer (M < RaiseTo): the
	// owner's repairer raises it as nodes join.
	RaiseTo int `json:"raise_to_m,omitempty"`
	// Capability is present when the node has the file key: put from this
	// node, or opened from the ledger's sealed key with the account key.
	Capability string `json:"capability,omitempty"`
	// KeyError says why there is no capability (no sealed key on the
	// ledger, or one that does not open with this account's key).
	KeyError string `json:"key_error,omitempty"`
}

// PeerInfo is one peer the node knows.
type PeerInfo struct {
	PeerID    string   `json:"peer_id"`
	Account   string   `json:"account,omitempty"`
	Addrs     []string `json:"addrs,omitempty"`
	Connected bool     `json:"connected"`
	// Conns are the open connections to the peer, each "direct ADDR" or
	// "relayed ADDR" (through a Circuit Relay v2 relay, ADDR ending in
	// /p2p-circuit).
	Conns []string `json:"conns,omitempty"`
	// MDNS is set for a peer found on the local network by mDNS since
	// the daemon started (coop node --mdns).
	MDNS       bool    `json:"mdns,omitempty"`
	Pledged    uint64  `json:"pledged_bytes,omitempty"`
	Used       uint64  `json:"used_bytes,omitempty"`
	Reputation float64 `json:"reputation,omitempty"`
	Status     string  `json:"status,omitempty"`
	// AuditScore is the ledger's audit score in permille (1000: never
	// failed); Uptime the node's recent epochs, oldest first, true where
	// it proved; MissedInRow its consecutive missed epochs; PiecesLost the
	// pieces it lost (failed challenges, reports, disqualification).
	AuditScore   uint64 `json:"audit_score"`
	Uptime       []bool `json:"uptime,omitempty"`
	MissedInRow  uint64 `json:"missed_in_row,omitempty"`
	ProofsPassed uint64 `json:"proofs_passed"`
	ProofsFailed uint64 `json:"proofs_failed"`
	PiecesLost   uint64 `json:"pieces_lost,omitempty"`
	// QuotaEarned is what holding earns the node's account; EarningUsable
	// whether it counts now (active, uptime at least the minimum).
	QuotaEarned   uint64 `json:"quota_earned"`
	EarningUsable bool   `json:"earning_usable"`
	// LastSeen is when this node was last in contact with the peer (now
	// while connected; else when a connection to it opened or closed or it
	// answered a ping), nil if never since the daemon started. Answers
	// says whether it answered a ping just now (PingMillis its round trip;
	// PingError why not). Connected is the connectedness before that ping.
	LastSeen   *time.Time `json:"last_seen,omitempty"`
	Answers    bool       `json:"answers"`
	PingMillis float64    `json:"ping_ms,omitempty"`
	PingError  string     `json:"ping_error,omitempty"`
}

// Status is the node's own state.
type Status struct {
	Account       string   `json:"account"`
	PeerID        string   `json:"peer_id"`
	Addrs         []string `json:"addrs"`
	ChainHeight   int64    `json:"chain_height"`
	PledgedBytes  uint64   `json:"pledged_bytes"`
	CPUUnits      uint64   `json:"cpu_units"`
	PledgeUsed    uint64   `json:"pledge_used"`
	QuotaEarned   uint64   `json:"quota_earned"`
	QuotaUsed     uint64   `json:"quota_used"`
	QuotaLimit    uint64   `json:"quota_limit"`
	PiecesHeld    int      `json:"pieces_held"`
	BytesHeld     int64    `json:"bytes_held"`
	CacheBytes    int64    `json:"cache_bytes"`
	CacheCapacity int64    `json:"cache_capacity"`
	Peers         int      `json:"peers"`
	// MDNS says whether the node runs mDNS discovery on the local network
	// (coop node --mdns); MDNSPeers is how many nodes of its network it has
	// found there since it started.
	MDNS      bool `json:"mdns"`
	MDNSPeers int  `json:"mdns_peers,omitempty"`
	// ProofsPassed and ProofsFailed count the node's storage proofs the
	// ledger judged (proved, invalid); Uptime is its recent epochs, oldest
	// first, true where it proved (empty: not measured yet).
	ProofsPassed uint64 `json:"proofs_passed"`
	ProofsFailed uint64 `json:"proofs_failed"`
	Uptime       []bool `json:"uptime"`
	// NodeStatus is the ledger's status of the node (active, suspended,
	// disqualified); AuditScore its audit score in permille; PiecesLost
	// the pieces it lost.
	NodeStatus string `json:"node_status,omitempty"`
	AuditScore uint64 `json:"audit_score"`
	PiecesLost uint64 `json:"pieces_lost,omitempty"`
	// LastScrub is the node's last scrub of its held pieces (nil before
	// any).
	LastScrub *ScrubReport `json:"last_scrub,omitempty"`
	// PiecesRepaired counts the pieces this daemon's repairer moved to new
	// holders since it started (node/repair).
	PiecesRepaired uint64 `json:"pieces_repaired"`
	// LastBlockTime is the time of the ledger's latest block (nil when
	// unknown); LedgerStalled says no block came for longer than
	// StallAfterSeconds, the bound past which a tx wait fails.
	LastBlockTime     *time.Time `json:"last_block_time,omitempty"`
	LedgerStalled     bool       `json:"ledger_stalled"`
	StallAfterSeconds float64    `json:"stall_after_seconds,omitempty"`
	// Epoch is the ledger's current epoch number (0 before the first).
	Epoch uint64 `json:"epoch"`
}

// Backend is what the API serves: the daemon. Its errors say what kind of
// failure they are by wrapping an error class (ErrInvalid, ErrNotFound, …;
// see StatusOf); any other error is answered 500.
type Backend interface {
	// Put stores the file read from r (size bytes, -1 if unknown).
	Put(ctx context.Context, r io.Reader, size int64, opts PutOptions) (*PutResult, error)
	// Open resolves a capability (or the file id of one of the account's
	// own files) and returns the file's size and bytes.
	Open(ctx context.Context, capability string) (io.ReadCloser, int64, error)
	// Files lists the account's files.
	Files(ctx context.Context) ([]FileInfo, error)
	// Remove deletes one of the account's files.
	Remove(ctx context.Context, fileID string) error
	// Peers lists known peers.
	Peers(ctx context.Context) ([]PeerInfo, error)
	// Status reports the node's state.
	Status(ctx context.Context) (*Status, error)
}

// RangeOpener is implemented by a Backend that reads part of a file; the
// server then answers a get with a Range header (bytes=a-b or bytes=a-)
// with 206 Partial Content. A Backend without it serves the whole file.
type RangeOpener interface {
	// OpenRange is Open for the bytes [off, off+n) of the file (n < 0: to
	// the end; a range past the end is cut there). It returns the bytes and
	// the size of the whole file; off past the end is an error wrapping
	// ErrRange.
	OpenRange(ctx context.Context, capability string, off, n int64) (io.ReadCloser, int64, error)
}

// ErrUnauthorized is returned by the client on a 401.
var ErrUnauthorized = errors.New("api: unauthorized (wrong or missing token)")
