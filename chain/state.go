package chain

import (
	"encoding/binary"
)

// State layout: one IAVL tree, keys are an ASCII prefix followed by binary
// ids (fixed length, big-endian numbers so iteration is in numeric order).
// Values are deterministic CBOR of the types below. Later transaction
// families add their own prefixes (job/, proof/…) without touching these.
const (
	keyParams       = "params"   // Params
	keyCurrentEpoch = "epochcur" // uint64: number of the current epoch
	prefixAccount   = "acct/"    // acct/<addr:20> → Account
	prefixNode      = "node/"    // node/<addr:20> → Node
	prefixFile      = "file/"    // file/<id:32> → File
	prefixOwned     = "owns/"    // owns/<owner:20><id:32> → uint64 bytes placed
	prefixHeld      = "hold/"    // hold/<holder:20><file:32><segment:4><index:4> → HeldPiece
	prefixEpoch     = "epoch/"   // epoch/<n:8> → Epoch
	prefixGone      = "gone/"    // gone/<id:32> → int64 height the file was removed at
	prefixGoneAt    = "goneat/"  // goneat/<height:8><id:32> → true: tombstones by removal height, for pruning
	// prefixDebt (debt.go): debt/<debtor:20><creditor:20> → uint64 bytes
)

func accountKey(a Address) []byte { return append([]byte(prefixAccount), a[:]...) }
func nodeKey(a Address) []byte    { return append([]byte(prefixNode), a[:]...) }
func fileKey(id Hash) []byte      { return append([]byte(prefixFile), id[:]...) }

func ownedKey(owner Address, id Hash) []byte {
	k := append([]byte(prefixOwned), owner[:]...)
	return append(k, id[:]...)
}

func ownedPrefix(owner Address) []byte { return append([]byte(prefixOwned), owner[:]...) }

func heldKey(holder Address, file Hash, segment, index uint32) []byte {
	k := append([]byte(prefixHeld), holder[:]...)
	k = append(k, file[:]...)
	k = binary.BigEndian.AppendUint32(k, segment)
	return binary.BigEndian.AppendUint32(k, index)
}

// heldSuffixSize is the length of a hold/ key after heldPrefix: file id,
// segment, index.
const heldSuffixSize = HashSize + 4 + 4

func heldPrefix(holder Address) []byte { return append([]byte(prefixHeld), holder[:]...) }

func goneKey(id Hash) []byte { return append([]byte(prefixGone), id[:]...) }

func goneAtPrefix(height int64) []byte {
	return binary.BigEndian.AppendUint64([]byte(prefixGoneAt), uint64(height))
}

func goneAtKey(height int64, id Hash) []byte { return append(goneAtPrefix(height), id[:]...) }

func epochKey(n uint64) []byte { return binary.BigEndian.AppendUint64([]byte(prefixEpoch), n) }

// Params are the chain's parameters, fixed in genesis.
type Params struct {
	// EpochLength is E, the number of blocks per epoch.
	EpochLength uint64 `cbor:"epoch_length" json:"epoch_length"`
	// EarnPercent is what holding earns: a node's account may place
	// HeldForOthers × EarnPercent / 100 bytes beyond its allowance. At most
	// 100 (more would let colluders grow quota by placing on each other);
	// 0 turns earning off.
	EarnPercent uint64 `cbor:"earn_percent" json:"earn_percent"`
	// ReceiptTTL is how many blocks a holder's receipt may be used for: a
	// placement at height h accepts receipts with h ≤ Expires ≤ h +
	// ReceiptTTL. It is also how long a removed file id stays unplaceable
	// (its tombstone), so no receipt of a removed placement outlives it.
	ReceiptTTL uint64 `cbor:"receipt_ttl" json:"receipt_ttl"`
	// UptimeWindow is W, the number of recent epochs uptime is measured over.
	UptimeWindow uint64 `cbor:"uptime_window" json:"uptime_window"`
	// UptimeMinPercent is the uptime (over W epochs) below which earned quota is not usable.
	UptimeMinPercent uint64 `cbor:"uptime_min_percent" json:"uptime_min_percent"`
	// Allowance is the quota in bytes every account may use without pledging.
	Allowance uint64 `cbor:"allowance" json:"allowance"`
	// MaxTxBytes is the largest accepted transaction.
	MaxTxBytes uint64 `cbor:"max_tx_bytes" json:"max_tx_bytes"`
	// RepLambdaPermille is λ, the audit score's forgetting factor per
	// audit, in permille (reputation.go): 950 weighs the last ~20 audits.
	RepLambdaPermille uint64 `cbor:"rep_lambda_permille" json:"rep_lambda_permille"`
	// SuspendBelowPermille: a node whose audit score falls below it is
	// suspended (no new pieces, earned quota unusable) until it is back.
	SuspendBelowPermille uint64 `cbor:"suspend_below_permille" json:"suspend_below_permille"`
	// DisqualifyBelowPermille: a node whose audit score falls below it is
	// disqualified for good and its pieces marked lost.
	DisqualifyBelowPermille uint64 `cbor:"disqualify_below_permille" json:"disqualify_below_permille"`
	// RepairAfterMissed is how many consecutive missed epochs make a
	// holder's pieces repairable (moved to new holders by ReplacePieces).
	RepairAfterMissed uint64 `cbor:"repair_after_missed" json:"repair_after_missed"`
	// ChallengesPerEpoch is c, the leaves each holder is challenged to
	// prove per epoch (challenge.go): a holder missing a fraction f of its
	// bytes passes an epoch with probability (1−f)^c, and its proof
	// transaction carries c proofs of about 1.5 KB (docs/proofs.md).
	ChallengesPerEpoch uint64 `cbor:"challenges_per_epoch" json:"challenges_per_epoch"`
	// Jobs are the compute job parameters (job.go); all zero turns jobs off.
	Jobs JobParams `cbor:"jobs" json:"jobs"`
	// KeptRoots is how many of an account's namespace roots (SetRoot,
	// tx_root.go) stay in state, the current one included; older ones are
	// deleted by the SetRoot that pushes them out. In [1, MaxKeptRoots].
	KeptRoots uint64 `cbor:"kept_roots" json:"kept_roots"`
	// NameCooldown is how many blocks a released username (ReleaseName,
	// tx_name.go) stays unregistrable, so a name's old owner cannot be
	// impersonated at once. At most MaxReceiptTTL.
	NameCooldown uint64 `cbor:"name_cooldown" json:"name_cooldown"`
}

// DefaultParams are the parameters `coop init` writes into a new genesis.
func DefaultParams() Params {
	return Params{
		EpochLength:      10,
		EarnPercent:      100,
		ReceiptTTL:       100,
		UptimeWindow:     10,
		UptimeMinPercent: 70,
		Allowance:        1 << 30, // 1 GiB
		MaxTxBytes:       256 << 10,
		// Five failed audits in a row from a perfect score suspend
		// (0.95^5 < 0.8), ten disqualify (0.95^10 < 0.6): docs/proofs.md.
		RepLambdaPermille:       950,
		SuspendBelowPermille:    800,
		DisqualifyBelowPermille: 600,
		RepairAfterMissed:       3,
		ChallengesPerEpoch:      ChallengesPerEpoch,
		Jobs:                    DefaultJobParams(),
		KeptRoots:               DefaultKeptRoots,
		NameCooldown:            DefaultNameCooldown,
	}
}

// Account is a ledger account, keyed by Address.
type Account struct {
	Address Address `cbor:"address" json:"address"`
	// PubKey is the ed25519 key; empty until the account signs its first tx.
	PubKey []byte `cbor:"pubkey,omitempty" json:"pubkey,omitempty"`
	// Nonce is the nonce the account's next tx must carry.
	Nonce   uint64 `cbor:"nonce" json:"nonce"`
	Credits uint64 `cbor:"credits" json:"credits"`
	// QuotaUsed is the sum of piece bytes of the files the account placed,
	// plus QuotaLent.
	QuotaUsed uint64 `cbor:"quota_used" json:"quota_used"`
	// QuotaLent is the part of QuotaUsed held back by debts: bytes of files
	// the account removed whose holders had spent the quota the files
	// earned them. It comes back as they repay (debt.go). Σ of the debt
	// records naming the account as creditor.
	QuotaLent uint64 `cbor:"quota_lent,omitempty" json:"quota_lent"`
	// QuotaOwed is what the account owes for quota it spent that a removal
	// took back: Σ of the debt records naming it as debtor.
	QuotaOwed uint64 `cbor:"quota_owed,omitempty" json:"quota_owed"`
	// CreditsEscrowed is what the account's open jobs hold in escrow (not
	// part of Credits): Σ Job.Escrow of its jobs not yet closed (job.go).
	CreditsEscrowed uint64 `cbor:"credits_escrowed,omitempty" json:"credits_escrowed"`
	// CreditsEarned is every credit the account was paid for accepted
	// compute work; CreditsSpent every credit its jobs paid to workers.
	CreditsEarned uint64 `cbor:"credits_earned,omitempty" json:"credits_earned"`
	CreditsSpent  uint64 `cbor:"credits_spent,omitempty" json:"credits_spent"`
}

// Node statuses.
const (
	NodeActive       = "active"
	NodeDisqualified = "disqualified"
)

// Node is a registered storage/compute node, keyed by its account address.
type Node struct {
	Address Address `cbor:"address" json:"address"`
	// PeerID is the libp2p peer id derived from the account's ed25519 key.
	PeerID string   `cbor:"peer_id" json:"peer_id"`
	Addrs  []string `cbor:"addrs" json:"addrs"`
	// Pledge is the disk space offered, in bytes: the most the node may be
	// given to hold (it earns nothing by itself). Used is how much of it
	// placed pieces take.
	Pledge uint64 `cbor:"pledge" json:"pledge"`
	Used   uint64 `cbor:"used" json:"used"`
	// HeldForOthers is Σ sizes of the pieces the node holds of files whose
	// owner is another account: what its account earns quota for.
	HeldForOthers uint64 `cbor:"held_for_others" json:"held_for_others"`
	CPU           uint32 `cbor:"cpu" json:"cpu"`
	JoinedHeight  int64  `cbor:"joined_height" json:"joined_height"`
	Status        string `cbor:"status" json:"status"`
	// Uptime holds one entry per recent epoch (oldest first, at most
	// Params.UptimeWindow): true when the node proved it was online. Empty
	// means no measurement yet, which counts as up.
	Uptime []bool `cbor:"uptime" json:"uptime"`
	// RepAlpha and RepBeta are the audit score's counts with forgetting,
	// in RepScale units (reputation.go); both 0 before the first audit.
	RepAlpha     uint64 `cbor:"rep_alpha" json:"rep_alpha"`
	RepBeta      uint64 `cbor:"rep_beta" json:"rep_beta"`
	ProofsPassed uint64 `cbor:"proofs_passed" json:"proofs_passed"`
	ProofsFailed uint64 `cbor:"proofs_failed" json:"proofs_failed"`
	// ProveFrom is the first epoch the node must prove: the one after the
	// epoch in which it was given its first piece (again, after holding
	// nothing), so a placement late in an epoch does not count as a missed
	// proof of that epoch. Omitted while 0.
	ProveFrom uint64 `cbor:"prove_from,omitempty" json:"prove_from,omitempty"`
	// ProvedForOthers is the part of HeldForOthers the node has proved:
	// set to HeldForOthers when a proof of it is judged proved, lowered
	// with HeldForOthers when pieces go (uncreditForOthers). Earned quota
	// counts only these bytes (quota.go). Omitted while 0.
	ProvedForOthers uint64 `cbor:"proved_for_others,omitempty" json:"proved_for_others,omitempty"`
	// PiecesLost counts the pieces marked lost while credited to the node
	// (failed proofs, reports, faults, disqualification: lost.go).
	PiecesLost uint64 `cbor:"pieces_lost,omitempty" json:"pieces_lost,omitempty"`
	// MissedInRow counts the consecutive epochs settled as missed; any
	// other outcome resets it. At Params.RepairAfterMissed its pieces
	// become repairable.
	MissedInRow uint64 `cbor:"missed_in_row,omitempty" json:"missed_in_row,omitempty"`
	// ProofsMissed counts the epochs settled as missed (settle.go).
	ProofsMissed uint64 `cbor:"proofs_missed,omitempty" json:"proofs_missed,omitempty"`
	// Faults counts the wrong signed leaf answers a ReportFault counted
	// against the node (tx_report_fault.go).
	Faults uint64 `cbor:"faults,omitempty" json:"faults,omitempty"`
}

// Free is the pledged capacity not yet taken by pieces.
func (n *Node) Free() uint64 {
	if n.Used >= n.Pledge {
		return 0
	}
	return n.Pledge - n.Used
}

// Piece is one erasure-coded piece of a file as recorded by PlaceFile.
type Piece struct {
	Segment uint32  `cbor:"segment" json:"segment"`
	Index   uint32  `cbor:"index" json:"index"`
	Holder  Address `cbor:"holder" json:"holder"`
	ID      Hash    `cbor:"id" json:"id"`
	Size    uint64  `cbor:"size" json:"size"`
	// Root is the Merkle commitment over the piece's leaves; Leaves their count.
	Root   Hash   `cbor:"root" json:"root"`
	Leaves uint64 `cbor:"leaves" json:"leaves"`
}

// File is a placed file, keyed by its id.
type File struct {
	ID    Hash    `cbor:"id" json:"id"`
	Owner Address `cbor:"owner" json:"owner"`
	Size  uint64  `cbor:"size" json:"size"`
	K     uint32  `cbor:"k" json:"k"`
	M     uint32  `cbor:"m" json:"m"`
	// Bytes is Σ piece sizes, what the placement charges to the owner's quota.
	Bytes        uint64  `cbor:"bytes" json:"bytes"`
	PlacedHeight int64   `cbor:"placed_height" json:"placed_height"`
	Pieces       []Piece `cbor:"pieces" json:"pieces"`
	// SealedKey is PlaceFile's sealed file key (absent when the placement
	// had none; omitted from the encoding then, so older records keep
	// their bytes).
	SealedKey []byte `cbor:"sealed_key,omitempty" json:"sealed_key,omitempty"`
	// AskedM is the parity pieces per segment the owner asked when the
	// network had too few nodes to store them (PlaceFile.AskedM; 0, and
	// omitted, when the file was placed as asked): RaisePieces raises M
	// towards it as nodes join.
	AskedM uint32 `cbor:"asked_m,omitempty" json:"asked_m,omitempty"`
}

// Raising reports whether the file is stored below the parity its owner
// asked (M < AskedM), so RaisePieces may add pieces to it.
func (f *File) Raising() bool { return f.AskedM > f.M }

// HeldPiece is an entry of a holder's piece index.
type HeldPiece struct {
	File  Hash  `cbor:"file" json:"file"`
	Piece Piece `cbor:"piece" json:"piece"`
}

// Epoch is one epoch: E blocks sharing a seed for challenges and assignment.
type Epoch struct {
	Number      uint64 `cbor:"number" json:"number"`
	StartHeight int64  `cbor:"start_height" json:"start_height"`
	// BlockHash is the hash of the epoch's first block; Seed =
	// SHA-256(previous seed ‖ BlockHash).
	BlockHash Hash `cbor:"block_hash" json:"block_hash"`
	Seed      Hash `cbor:"seed" json:"seed"`
}
