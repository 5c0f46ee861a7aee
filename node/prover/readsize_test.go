package prover

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/proofs"
)

// synthHolder is a holder of n pieces of one size that all have the same
// content (so one Levels, built once, serves them all), each under its
// own id, with its Levels in a LevelStore and an epoch-1 challenge set.
// Its piece and level reads are counted.
type synthHolder struct {
	self   chain.Address
	lc     *fakeLedger
	pieces *readLog
	levels *levelLog
	root   proofs.Hash
	stored int64
}

func newSynthHolder(t testing.TB, pieceSize int64, n int) *synthHolder {
	t.Helper()
	var seed [32]byte
	binary.BigEndian.PutUint64(seed[:], uint64(pieceSize))
	data := make([]byte, pieceSize)
	_, _ = rand.NewChaCha8(seed).Read(data)
	b := proofs.NewLevelsBuilder()
	_, _ = b.Write(data)
	lv, err := b.Levels()
	if err != nil {
		t.Fatal(err)
	}
	ls, err := OpenLevelStore(filepath.Join(t.TempDir(), "levels"))
	if err != nil {
		t.Fatal(err)
	}
	h := &synthHolder{
		self: chain.Address{1}, lc: &fakeLedger{epoch: 1}, pieces: &readLog{data: map[chain.Hash][]byte{}},
		levels: &levelLog{LevelStore: ls}, root: b.Root(), stored: pieceSize * int64(n),
	}
	for i := range n {
		id := chain.Hash(sha256.Sum256(binary.BigEndian.AppendUint64([]byte("synthetic piece"), uint64(i))))
		if err := ls.Put(id, lv); err != nil {
			t.Fatal(err)
		}
		h.pieces.data[id] = data
		h.lc.held = append(h.lc.held, chain.HeldPiece{File: chain.Hash{9}, Piece: chain.Piece{
			Segment: uint32(i), Holder: h.self, ID: id, Size: uint64(pieceSize), Root: chain.Hash(h.root), Leaves: proofs.LeafCount(pieceSize),
		}})
	}
	h.lc.sets = []chain.ChallengeSet{{Holder: h.self, Challenges: chain.Challenges(chain.Hash{7}, h.self, h.lc.held, chain.ChallengesPerEpoch)}}
	return h
}

func (h *synthHolder) prover(levels Levels) *Prover {
	return New(h.self, h.lc, h.pieces, levels, Config{Logger: slog.New(slog.DiscardHandler)})
}

// nextEpoch moves the fake ledger one epoch on (same challenges).
func (h *synthHolder) nextEpoch() {
	h.lc.mu.Lock()
	h.lc.epoch++
	h.lc.mu.Unlock()
}

// readLog serves pieces from memory and records every ReadAt's size.
type readLog struct {
	mu      sync.Mutex
	data    map[chain.Hash][]byte
	total   int64
	largest int
	reads   int
}

type loggedPiece struct {
	l    *readLog
	data []byte
}

func (p loggedPiece) ReadAt(b []byte, off int64) (int, error) {
	if off < 0 || off > int64(len(p.data)) {
		return 0, fmt.Errorf("read at %d of %d bytes", off, len(p.data))
	}
	n := copy(b, p.data[off:])
	p.l.mu.Lock()
	p.l.total += int64(n)
	p.l.largest = max(p.l.largest, n)
	p.l.reads++
	p.l.mu.Unlock()
	if n < len(b) {
		return n, fmt.Errorf("short read at %d", off)
	}
	return n, nil
}

func (loggedPiece) Close() error { return nil }

func (l *readLog) Open(ctx context.Context, id chain.Hash) (Piece, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.data[id]
	if !ok {
		return nil, fmt.Errorf("piece %s: %w", id, fs.ErrNotExist)
	}
	return loggedPiece{l, b}, nil
}

// reset zeroes the counts and returns them.
func (l *readLog) reset() (total int64, largest, reads int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	total, largest, reads = l.total, l.largest, l.reads
	l.total, l.largest, l.reads = 0, 0, 0
	return total, largest, reads
}

// levelLog is a LevelStore that counts the encoded Levels bytes it reads.
type levelLog struct {
	*LevelStore
	mu   sync.Mutex
	read int64
}

func (l *levelLog) Levels(id chain.Hash) (*proofs.Levels, error) {
	lv, err := l.LevelStore.Levels(id)
	if err == nil {
		l.mu.Lock()
		l.read += int64(lv.EncodedSize())
		l.mu.Unlock()
	}
	return lv, err
}

func (l *levelLog) reset() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.read
	l.read = 0
	return r
}

// The piece bytes the prover reads per epoch do not grow with the piece
// size: with Levels every challenge is one read of one 64 KiB chunk, for
// 1 MiB pieces and for 64 MiB ones alike (10 challenges: 640 KiB per
// epoch, whether the holder stores 4 MiB or 256 MiB). What grows is the
// Levels it reads beside them, 32 bytes per 64 KiB of piece (0.05 %).
func TestProverReadsDoNotGrowWithPieceSize(t *testing.T) {
	const chunk = proofs.SubtreeLeaves * proofs.LeafSize
	var perEpoch []int64
	for _, size := range []int64{1 << 20, 64 << 20} {
		h := newSynthHolder(t, size, 4)
		p := h.prover(h.levels)
		for range 2 { // two epochs
			if err := p.Round(context.Background()); err != nil {
				t.Fatal(err)
			}
			total, largest, reads := h.pieces.reset()
			lvRead := h.levels.reset()
			n := len(h.lc.sets[0].Challenges)
			if reads != n || largest > chunk || total > int64(n)*chunk {
				t.Fatalf("%d MiB pieces: %d reads, largest %d B, %d B in all for %d challenges; want one read of ≤ %d B each", size>>20, reads, largest, total, n, chunk)
			}
			if want := int64(n) * proofs.LevelsSize(size); lvRead != want {
				t.Fatalf("%d MiB pieces: read %d B of levels, want %d", size>>20, lvRead, want)
			}
			t.Logf("%d MiB pieces, %d MiB stored: %d B of pieces read per epoch (%d reads, largest %d B), %d B of levels", size>>20, h.stored>>20, total, reads, largest, lvRead)
			perEpoch = append(perEpoch, total)
			h.nextEpoch()
		}
		if sent := h.lc.sentTxs(); len(sent) != 2 {
			t.Fatalf("sent %d txs in two epochs", len(sent))
		}
		for _, tx := range h.lc.sentTxs() {
			for i, raw := range tx.Proofs {
				pr, err := proofs.DecodeProof(raw)
				if err != nil {
					t.Fatal(err)
				}
				if err := proofs.Verify(h.root, pr); err != nil {
					t.Fatalf("proof %d: %v", i, err)
				}
			}
		}
	}
	for _, r := range perEpoch[1:] {
		if r != perEpoch[0] {
			t.Fatalf("piece bytes read per epoch %v: not the same for 1 MiB and 64 MiB pieces", perEpoch)
		}
	}
}
