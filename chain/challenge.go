package chain

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"

	"github.com/coop-network/coop/proofs"
)

// ChallengesPerEpoch is the default c (Params.ChallengesPerEpoch), the
// number of leaves each holder is challenged to prove per epoch. With 1 KiB
// leaves a proof is 1,042 + 32·h bytes for a path of h = ⌈log2 leaves⌉
// hashes (1,490 bytes for a 16 MiB piece), so 10 challenges fit the target
// of ≤ 16 KiB of proof per holder per epoch for pieces up to 256 MiB. A
// holder missing a fraction f of its bytes passes one epoch with
// probability (1−f)^c: 60 % for f = 5 %, 35 % for f = 10 %; over the uptime
// window of 10 epochs 0.6 % and 0.003 % (docs/proofs.md).
const ChallengesPerEpoch = 10

// MaxChallengesPerEpoch bounds Params.ChallengesPerEpoch.
const MaxChallengesPerEpoch = 256

// proofBytesBound is a bound on one encoded proof (1,682 bytes for a 1 GiB
// piece, the storage layer's largest) with room for the transaction's
// framing: Params.Validate wants ChallengesPerEpoch of them to fit in
// MaxTxBytes.
const proofBytesBound = 2048

// MaxChallengePieces bounds the held pieces the /challenges query reads: it
// answers ErrInvalid for a holder recorded with more, rather than challenges
// computed over part of its pieces (which would not be the rule's). The
// query reads every hold/ entry of the holder, about 5.5 µs and 1.3 KB
// allocated per piece (BenchmarkChallengesQuery), so the bound is about
// half a second; 100,000 pieces is about 1.5 TiB in 16 MiB pieces. Larger
// holders need the index the proof transaction will bring (docs/proofs.md,
// Not yet).
const MaxChallengePieces = 100_000

// challengePiecesLimit is MaxChallengePieces; tests lower it.
var challengePiecesLimit = MaxChallengePieces

// challengeDomain separates the challenge stream from every other use of
// the epoch seed.
const challengeDomain = "coop/challenge/v1\x00"

// A Challenge asks a holder to prove leaf Leaf of piece Piece (the piece
// Index of segment Segment of file File): a proofs.Proof of that leaf
// against the piece's recorded Root.
type Challenge struct {
	File    Hash   `cbor:"file" json:"file"`
	Segment uint32 `cbor:"segment" json:"segment"`
	Index   uint32 `cbor:"index" json:"index"`
	Piece   Hash   `cbor:"piece" json:"piece"`
	Leaf    uint64 `cbor:"leaf" json:"leaf"`
}

// ChallengeSet is the answer to the /challenges/<holder> query: the
// challenges of Holder in epoch Epoch (whose seed is Seed), drawn over the
// Pieces pieces, Bytes bytes in all, it is recorded to hold at the queried
// height. While the holder is contained (Contained, contain.go) the
// challenges are the ones it missed, not drawn from Seed.
type ChallengeSet struct {
	Epoch      uint64      `cbor:"epoch" json:"epoch"`
	Seed       Hash        `cbor:"seed" json:"seed"`
	Holder     Address     `cbor:"holder" json:"holder"`
	Pieces     uint64      `cbor:"pieces" json:"pieces"`
	Bytes      uint64      `cbor:"bytes" json:"bytes"`
	Challenges []Challenge `cbor:"challenges" json:"challenges"`
	// Contained is true when Challenges are the holder's contained
	// challenges: those of an epoch it missed, asked again until it
	// answers (contain.go).
	Contained bool `cbor:"contained,omitempty" json:"contained,omitempty"`
}

// Challenges returns the c challenges of holder for an epoch with seed seed,
// over the pieces held. They are sampled by bytes: challenge j draws a byte
// offset uniformly from [0, Σ held sizes) and challenges the leaf holding
// that byte, so each piece is challenged in proportion to its size and a
// holder cannot hide a loss in its small pieces. Draws are independent (with
// replacement: a leaf may be challenged twice).
//
// The pieces are taken in canonical order, by (file, segment, index) — the
// order of the hold/ keys, which is how state lists them — so the result
// does not depend on the order of held; entries must have distinct (file,
// segment, index), as state's do. The random stream is SHA-256 in counter
// mode over challengeDomain ‖ seed ‖ holder ‖ counter (8 bytes,
// big-endian), read as big-endian uint64 words; an offset is drawn by
// rejection sampling (no modulo bias). Integer arithmetic only.
//
// No pieces, no bytes or c ≤ 0 give no challenges (nil), as do pieces whose
// sizes sum past 2^64 − 1, which state cannot hold (a node's Used, a uint64,
// counts them all).
func Challenges(seed Hash, holder Address, held []HeldPiece, c int) []Challenge {
	total, ok := heldBytes(held)
	if c <= 0 || total == 0 || !ok {
		return nil
	}
	pieces := slices.Clone(held)
	slices.SortStableFunc(pieces, func(a, b HeldPiece) int {
		if d := bytes.Compare(a.File[:], b.File[:]); d != 0 {
			return d
		}
		if d := cmp.Compare(a.Piece.Segment, b.Piece.Segment); d != 0 {
			return d
		}
		return cmp.Compare(a.Piece.Index, b.Piece.Index)
	})
	// ends[i] is the offset just past piece i: Σ sizes of pieces 0…i.
	ends := make([]uint64, len(pieces))
	var sum uint64
	for i, hp := range pieces {
		sum += hp.Piece.Size
		ends[i] = sum
	}
	r := newChallengeStream(seed, holder)
	out := make([]Challenge, 0, c)
	for range c {
		off := r.uniform(total)
		// The piece holding byte off: the first whose end is past it. Pieces
		// of size 0 end where their predecessor does and are never chosen.
		i := sort.Search(len(ends), func(i int) bool { return ends[i] > off })
		hp := pieces[i]
		start := ends[i] - hp.Piece.Size
		out = append(out, Challenge{
			File:    hp.File,
			Segment: hp.Piece.Segment,
			Index:   hp.Piece.Index,
			Piece:   hp.Piece.ID,
			Leaf:    (off - start) / proofs.LeafSize,
		})
	}
	return out
}

// heldBytes is Σ sizes of held, false if it overflows a uint64.
func heldBytes(held []HeldPiece) (uint64, bool) {
	var total uint64
	for _, hp := range held {
		var ok bool
		if total, ok = addUint64(total, hp.Piece.Size); !ok {
			return 0, false
		}
	}
	return total, true
}

// challengeStream is the random stream of one holder's challenges: blocks
// SHA-256(challengeDomain ‖ seed ‖ holder ‖ counter), counter 0, 1, …,
// each read as four big-endian uint64 words.
type challengeStream struct {
	prefix  []byte
	counter uint64
	block   [sha256.Size]byte
	used    int
}

func newChallengeStream(seed Hash, holder Address) *challengeStream {
	p := make([]byte, 0, len(challengeDomain)+HashSize+AddressSize+8)
	p = append(p, challengeDomain...)
	p = append(p, seed[:]...)
	p = append(p, holder[:]...)
	return &challengeStream{prefix: p, used: sha256.Size}
}

// next returns the stream's next 64-bit word.
func (s *challengeStream) next() uint64 {
	if s.used == sha256.Size {
		s.block = sha256.Sum256(binary.BigEndian.AppendUint64(s.prefix, s.counter))
		s.counter++
		s.used = 0
	}
	w := binary.BigEndian.Uint64(s.block[s.used:])
	s.used += 8
	return w
}

// uniform returns a uniform draw from [0, n), n > 0: words below 2^64 mod n
// are rejected, so the 2^64 − (2^64 mod n) accepted words, a multiple of n,
// map onto [0, n) evenly by x mod n. Fewer than half the words are rejected
// for any n.
func (s *challengeStream) uniform(n uint64) uint64 {
	if n == 0 {
		panic("chain: uniform draw from an empty range")
	}
	reject := -n % n // 2^64 mod n
	for {
		if x := s.next(); x >= reject {
			return x % n
		}
	}
}

// queryChallenges answers /challenges/<holder>: the current epoch's
// challenges over every piece the holder is recorded to hold at the state
// st, read in key order (all of them, not a page; more than
// challengePiecesLimit is refused) — or, while the holder is contained,
// the challenges it missed (contain.go). It computes them as the
// ProveStorage rule does (epochChallenges).
func queryChallenges(st kvIterReader, p Params, holder Address) ([]byte, error) {
	e, found, err := currentEpoch(st)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("%w: no epoch yet", ErrNotFound)
	}
	held, total, cs, contained, err := epochChallenges(st, p, e.Seed, holder)
	if err != nil {
		return nil, err
	}
	set := ChallengeSet{Epoch: e.Number, Seed: e.Seed, Holder: holder, Pieces: uint64(len(held)), Bytes: total, Challenges: []Challenge{}, Contained: contained}
	set.Challenges = append(set.Challenges, cs...)
	return Marshal(&set)
}

// holderChallenges reads every piece holder is recorded to hold in st (in
// key order, which is Challenges' canonical order) and returns them, their
// total bytes and the holder's c fresh challenges for seed (nil when it
// holds nothing). A holder with more than challengePiecesLimit
// pieces is refused with ErrInvalid, never challenged over part of them.
// st is the committed or working tree or an overlay on either.
func holderChallenges(st kvReader, seed Hash, holder Address, c int) (held []HeldPiece, total uint64, cs []Challenge, err error) {
	entries, err := scanPrefix(st, heldPrefix(holder), challengePiecesLimit+1)
	if err != nil {
		return nil, 0, nil, err
	}
	if len(entries) > challengePiecesLimit {
		return nil, 0, nil, fmt.Errorf("%w: holder %s holds more than %d pieces, the most challenges are drawn over (docs/proofs.md)", ErrInvalid, holder, challengePiecesLimit)
	}
	held = make([]HeldPiece, 0, len(entries))
	for _, e := range entries {
		var hp HeldPiece
		if err := Unmarshal(e.value, &hp); err != nil {
			return nil, 0, nil, fmt.Errorf("state at %q: %w", e.key, err)
		}
		held = append(held, hp)
	}
	total, ok := heldBytes(held)
	if !ok {
		return nil, 0, nil, fmt.Errorf("%w: holder %s's piece sizes sum past 2^64 bytes", ErrOverflow, holder)
	}
	return held, total, Challenges(seed, holder, held, c), nil
}
