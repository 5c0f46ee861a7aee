package prover

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"sync"
	"time"

	"github.com/coop-network/coop/node/ticker"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/ledger"
	"github.com/coop-network/coop/proofs"
)

// DefaultInterval is how often a Prover polls the ledger's epoch. It must
// be well under an epoch or epochs go unanswered: a devnet epoch is 10
// blocks (chain.DefaultParams EpochLength) of at least 0.4 s (the devnet
// block time), 4 s or more. A proof sent half an epoch late (2 s, as this
// was) on a loaded machine could miss its epoch, and three misses in a row
// make a live holder's pieces repairable; 500 ms answers within an eighth
// of a devnet epoch, at one small query per poll.
const DefaultInterval = 500 * time.Millisecond

// Ledger is what a Prover reads from and sends to the ledger, for the
// node's own account (*ledger.Client).
type Ledger interface {
	// Epoch is the current epoch; before the first one an error wrapping
	// chain.ErrNotFound.
	Epoch(ctx context.Context) (chain.Epoch, error)
	// Challenges are holder's challenges of the current epoch.
	Challenges(ctx context.Context, holder chain.Address) (chain.ChallengeSet, error)
	// Pieces are the pieces holder is recorded to hold (the whole list).
	Pieces(ctx context.Context, holder chain.Address) ([]chain.HeldPiece, error)
	// Outcome is what the ledger recorded of holder's proof for epoch; an
	// error wrapping chain.ErrNotFound while nothing is.
	Outcome(ctx context.Context, epoch uint64, holder chain.Address) (chain.EpochOutcome, error)
	// BroadcastCommit signs body with the account's key and waits for it
	// to commit; a refusal is a *ledger.RejectedError.
	BroadcastCommit(ctx context.Context, body chain.Body) (ledger.Result, error)
}

var _ Ledger = (*ledger.Client)(nil)

// Piece is a stored piece open for reading at offsets.
type Piece interface {
	io.ReaderAt
	io.Closer
}

// Pieces opens stored pieces (the node's block store). Open returns an
// error wrapping fs.ErrNotExist for a piece not stored.
type Pieces interface {
	Open(ctx context.Context, id chain.Hash) (Piece, error)
}

// Levels returns the stored proofs.Levels of a piece, an error wrapping
// fs.ErrNotExist if there are none (*LevelStore).
type Levels interface {
	Levels(id chain.Hash) (*proofs.Levels, error)
}

var _ Levels = (*LevelStore)(nil)

// MaxStaleRetries bounds how many times the prover proves fresh challenges
// after a refusal as stale (chain.ErrStaleChallenges) in one epoch. Every
// placement on or removal from the holder between its read of the
// challenges and the proof's execution makes the proof stale: in a block
// (the change is committed, so the challenges read at once are fresh) or
// already in CheckTx, which judges against the committed state plus the
// mempool (a placement crediting the holder waits there, and challenges
// read now are still the old ones: the retry waits for the next poll).
// A holder given pieces in several blocks in a row (a busy network,
// repairs, a job's files) missed its epoch with a single retry. Each retry
// costs one proof (≤ 64 KiB read per challenge with Levels) and one
// transaction; the bound keeps a holder whose pieces change in every block
// from proving all epoch.
const MaxStaleRetries = 8

// Config configures a Prover.
type Config struct {
	// Interval is how often the ledger's epoch is polled (DefaultInterval).
	Interval time.Duration
	// NewTicker makes the loop's ticker; nil means time.NewTicker. Tests
	// pass one they drive.
	NewTicker func(d time.Duration) (<-chan time.Time, func())
	// Logger receives the prover's lines; nil means slog.Default().
	Logger *slog.Logger
	// Metrics, if not nil, is told of each proof sent (node/metrics).
	Metrics Metrics
}

// Metrics is what the prover reports to monitoring, from the goroutine
// running Round.
type Metrics interface {
	// Proved is told of each proof sent: its challenges, how many of them
	// it answered empty (a leaf that could not be proved), how long
	// building it took, and the ledger's answer (nil: committed; a proof
	// refused as stale and sent again is told twice).
	Proved(challenges, empty int, build time.Duration, err error)
}

// Prover answers the challenges of the holder Self, once per epoch.
type Prover struct {
	self   chain.Address
	lc     Ledger
	pieces Pieces
	levels Levels // may be nil
	cfg    Config
	log    *slog.Logger

	mu     sync.Mutex
	done   uint64 // the last epoch answered (or found without challenges)
	doneOK bool   // done is set

	staleEpoch uint64 // the epoch stales counts for (Round's goroutine only)
	stales     int    // stale refusals retried in staleEpoch
}

// New returns a Prover of holder self's challenges. levels may be nil
// (every proof then reads its whole piece).
func New(self chain.Address, lc Ledger, pieces Pieces, levels Levels, cfg Config) *Prover {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.NewTicker == nil {
		cfg.NewTicker = ticker.System
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Prover{self: self, lc: lc, pieces: pieces, levels: levels, cfg: cfg, log: log}
}

// Loop runs a Round at every tick until ctx ends. Errors are logged; the
// next tick tries again.
func (p *Prover) Loop(ctx context.Context) {
	c, stop := p.cfg.NewTicker(p.cfg.Interval)
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c:
		}
		if err := p.Round(ctx); err != nil && ctx.Err() == nil {
			var rej *ledger.RejectedError
			if errors.As(err, &rej) && rej.Code == chain.CodeUnknownType {
				// A ledger without the ProveStorage rule yet.
				p.log.Debug("the ledger does not take storage proofs", "err", err)
				continue
			}
			p.log.Warn("proving storage", "err", err)
		}
	}
}

// Answered returns the last epoch whose challenges were answered (or had
// none), false before any.
func (p *Prover) Answered() (uint64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done, p.doneOK
}

func (p *Prover) answered(epoch uint64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.doneOK && epoch <= p.done
}

func (p *Prover) markAnswered(epoch uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done, p.doneOK = epoch, true
}

// Round answers the current epoch's challenges unless they were answered:
// it reads the epoch, then (for a new epoch) the challenges, checks that
// the ledger has recorded no outcome for the epoch yet (/outcome: a node
// restarted after answering does not answer again), reads the held
// pieces, proves each challenge and sends one chain.ProveStorage. A
// refusal as stale (chain.ErrStaleChallenges, code 21: the held list
// changed between the read and the proof's execution) is retried with
// fresh challenges, up to MaxStaleRetries times in the epoch: at once
// after a refusal in a block, at the next Round after one in CheckTx
// (the change is still in the mempool).
//
// Any verdict of the ledger, acceptance or refusal, settles the epoch: it
// is not sent again. Two refusals are not errors: already answered
// (chain.ErrExists, code 9: an outcome was recorded meanwhile, e.g. by this
// node before a restart) settles the epoch quietly, and late
// (chain.ErrProofLate, code 20: the ledger moved into the next epoch while
// the proof waited, as it may at an epoch's edge, where CheckTx judges
// against the next epoch) is logged at debug and the round goes on to the
// new epoch's challenges. A failure to read or to reach the ledger does
// not settle the epoch, so the next Round tries again.
//
// A challenge the node cannot answer (piece missing, unreadable or
// corrupt, so no proof that proofs.Verify accepts against the recorded
// root) gets an empty proof, logged at warn, and the others are still
// sent. The ledger then records the epoch invalid (a fault, proofs_failed
// + 1) where sending nothing would record it missing: the node reports a
// lost piece as a failed challenge, not as downtime (a storj node that has
// lost a piece fails its audit likewise), so the ledger can tell data loss
// from an offline holder.
func (p *Prover) Round(ctx context.Context) error {
	e, err := p.lc.Epoch(ctx)
	if errors.Is(err, chain.ErrNotFound) {
		return nil // no epoch yet
	}
	if err != nil {
		return fmt.Errorf("reading the epoch: %w", err)
	}
	if p.answered(e.Number) {
		return nil
	}
	late := false // a late refusal was retried
	for {
		set, err := p.lc.Challenges(ctx, p.self)
		if err != nil {
			return fmt.Errorf("reading challenges: %w", err)
		}
		if p.answered(set.Epoch) {
			return nil
		}
		if len(set.Challenges) == 0 {
			p.markAnswered(set.Epoch)
			return nil
		}
		if done, err := p.recorded(ctx, set.Epoch); err != nil {
			return err
		} else if done {
			return nil
		}
		t0 := time.Now()
		tx, err := p.prove(ctx, set)
		if err != nil {
			return err
		}
		build := time.Since(t0)
		_, err = p.lc.BroadcastCommit(ctx, tx)
		if p.cfg.Metrics != nil {
			p.cfg.Metrics.Proved(len(set.Challenges), emptyProofs(tx), build, err)
		}
		var rej *ledger.RejectedError
		switch {
		case err == nil:
			p.markAnswered(set.Epoch)
			p.log.Info("storage proved", "epoch", set.Epoch, "challenges", len(set.Challenges))
			return nil
		case errors.Is(err, chain.ErrStaleChallenges) && p.staleRetry(set.Epoch):
			if errors.As(err, &rej) && rej.Height == 0 {
				// Refused in CheckTx: the change waits in the mempool, and
				// the committed challenges are still the ones answered.
				p.log.Debug("challenges change in a pending block; proving fresh ones at the next poll", "epoch", set.Epoch, "retry", p.stales)
				return nil
			}
			p.log.Debug("challenges changed before the proof committed; proving fresh ones", "epoch", set.Epoch, "retry", p.stales)
			continue
		case errors.Is(err, chain.ErrExists):
			p.markAnswered(set.Epoch)
			p.log.Debug("the ledger already has this epoch's outcome", "epoch", set.Epoch)
			return nil
		case errors.Is(err, chain.ErrProofLate) && !late:
			// The ledger moved on while the proof waited: this epoch is
			// over (missing, for this node), the next one is open.
			late = true
			p.markAnswered(set.Epoch)
			p.log.Debug("proof refused as late at an epoch's edge; proving the new epoch", "epoch", set.Epoch, "err", err)
			continue
		case errors.As(err, &rej):
			p.markAnswered(set.Epoch)
			return fmt.Errorf("epoch %d: %w", set.Epoch, err)
		default:
			return fmt.Errorf("sending the proofs of epoch %d: %w", set.Epoch, err)
		}
	}
}

// staleRetry counts a stale refusal of epoch's proof and reports whether
// it may be retried (at most MaxStaleRetries per epoch).
func (p *Prover) staleRetry(epoch uint64) bool {
	if p.staleEpoch != epoch {
		p.staleEpoch, p.stales = epoch, 0
	}
	if p.stales >= MaxStaleRetries {
		return false
	}
	p.stales++
	return true
}

// recorded reports whether the ledger already holds an outcome of this
// node for epoch, marking the epoch answered if so. A read failing for
// another reason than no outcome is logged and answered false: the proof
// is sent, and the ledger refuses a second one (chain.ErrExists).
func (p *Prover) recorded(ctx context.Context, epoch uint64) (bool, error) {
	o, err := p.lc.Outcome(ctx, epoch, p.self)
	switch {
	case err == nil:
		p.markAnswered(epoch)
		p.log.Debug("epoch already answered", "epoch", epoch, "outcome", o.Outcome)
		return true, nil
	case errors.Is(err, chain.ErrNotFound):
		return false, nil
	case ctx.Err() != nil:
		return false, ctx.Err()
	default:
		p.log.Debug("reading this node's outcome of the epoch; proving anyway", "epoch", epoch, "err", err)
		return false, nil
	}
}

// emptyProofs counts the challenges tx answers empty.
func emptyProofs(tx *chain.ProveStorage) int {
	n := 0
	for _, b := range tx.Proofs {
		if len(b) == 0 {
			n++
		}
	}
	return n
}

// prove builds the ProveStorage answering set.
func (p *Prover) prove(ctx context.Context, set chain.ChallengeSet) (*chain.ProveStorage, error) {
	held, err := p.lc.Pieces(ctx, p.self)
	if err != nil {
		return nil, fmt.Errorf("listing held pieces: %w", err)
	}
	byID := make(map[chain.Hash]chain.Piece, len(held))
	for _, hp := range held {
		byID[hp.Piece.ID] = hp.Piece
	}
	tx := &chain.ProveStorage{Epoch: set.Epoch, Challenges: chain.ChallengesHash(set.Challenges), Proofs: make([][]byte, len(set.Challenges))}
	for i, c := range set.Challenges {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		pc, ok := byID[c.Piece]
		if !ok {
			// Placed or removed since the challenges were read: the ledger
			// will find them stale.
			p.log.Warn("challenged piece is not in the held list", "piece", c.Piece, "epoch", set.Epoch)
			tx.Proofs[i] = []byte{}
			continue
		}
		b, err := p.proveOne(ctx, c, pc)
		if err != nil {
			p.log.Warn("cannot prove a challenged leaf; answering it empty", "piece", c.Piece, "leaf", c.Leaf, "epoch", set.Epoch, "err", err)
			b = []byte{}
		}
		tx.Proofs[i] = b
	}
	return tx, nil
}

// proveOne proves leaf c.Leaf of piece pc, with its Levels if they check
// against pc.Root, else by reading the whole piece, and returns the proof's
// encoding once proofs.Verify accepts it against pc.Root.
func (p *Prover) proveOne(ctx context.Context, c chain.Challenge, pc chain.Piece) ([]byte, error) {
	if pc.Size > 1<<62 {
		return nil, fmt.Errorf("piece size %d out of range", pc.Size)
	}
	size := int64(pc.Size)
	r, err := p.pieces.Open(ctx, c.Piece)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	root := proofs.Hash(pc.Root)
	var pr *proofs.Proof
	if lv := p.levelsOf(c.Piece, root); lv != nil {
		pr, err = proofs.ProveWithLevels(r, size, c.Leaf, lv)
		if err != nil {
			p.log.Debug("proving with levels failed; reading the whole piece", "piece", c.Piece, "err", err)
			pr = nil
		}
	}
	if pr == nil {
		if pr, err = proofs.ProveAt(r, size, c.Leaf); err != nil {
			return nil, err
		}
	}
	if err := proofs.Verify(root, pr); err != nil {
		return nil, fmt.Errorf("the stored piece does not match its recorded root: %w", err)
	}
	return pr.MarshalBinary()
}

// levelsOf returns the stored Levels of a piece if they belong to the
// commitment root, else nil.
func (p *Prover) levelsOf(id chain.Hash, root proofs.Hash) *proofs.Levels {
	if p.levels == nil {
		return nil
	}
	lv, err := p.levels.Levels(id)
	if err == nil {
		err = lv.Check(root)
	}
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			p.log.Debug("unusable levels; reading the whole piece", "piece", id, "err", err)
		}
		return nil
	}
	return lv
}
