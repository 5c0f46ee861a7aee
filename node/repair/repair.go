package repair

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/coop-network/coop/node/ticker"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/ledger"
	"github.com/coop-network/coop/storage"
	"github.com/coop-network/coop/storage/blockstore"
)

// DefaultInterval is how often a Repairer polls the ledger's height; a
// round runs only when a new block was committed.
const DefaultInterval = 2 * time.Second

// MarginAll, as Config.Margin, repairs a segment as soon as any of its
// pieces is lost (margin = the file's M).
const MarginAll = -1

// DefaultOthersWait is Config.OthersWait's default: another owner's file is
// repaired from the epoch after the node first saw it needing repair.
const DefaultOthersWait = 1

// Ledger is what a Repairer reads from and sends to the ledger
// (*ledger.Client, of the node's own account). List methods return the
// whole list or an error.
type Ledger interface {
	// Height is the latest committed height.
	Height(ctx context.Context) (int64, []byte, error)
	Params(ctx context.Context) (chain.Params, error)
	// Epoch is the current epoch (an error wrapping chain.ErrNotFound
	// before the first).
	Epoch(ctx context.Context) (chain.Epoch, error)
	Nodes(ctx context.Context) ([]chain.Node, error)
	// File fails with an error wrapping chain.ErrNotFound for an unknown file.
	File(ctx context.Context, id chain.Hash) (chain.File, error)
	Files(ctx context.Context, owner chain.Address) ([]chain.File, error)
	Pieces(ctx context.Context, holder chain.Address) ([]chain.HeldPiece, error)
	// Lost lists the pieces recorded lost (/lost).
	Lost(ctx context.Context) ([]chain.LostPiece, error)
	// Account reads an account (its quota).
	Account(ctx context.Context, a chain.Address) (chain.AccountView, error)
	// BroadcastCommit signs body with the node's key and waits for it to
	// commit; a refusal is a *ledger.RejectedError.
	BroadcastCommit(ctx context.Context, body chain.Body) (ledger.Result, error)
}

var _ Ledger = (*ledger.Client)(nil)

// Network is the node's side of a repair: fetching pieces, storing the
// rebuilt ones, and placing them.
type Network interface {
	// Source fetches pieces of file f from their recorded holders, for
	// storage.Rebuild.
	Source(ctx context.Context, f *chain.File) storage.PieceSource
	// Sink stores rebuilt pieces locally; they stay until Release.
	Sink() storage.BlockSink
	// Place gives each rebuilt piece a new holder that is not in
	// avoid[segment], pushes it there (with the file's manifest) and
	// collects the holders' receipts for f's owner: the replacements in
	// the order of pieces, and one receipt per distinct new holder in
	// order of first appearance, as chain.ReplacePieces wants them.
	Place(ctx context.Context, f *chain.File, pieces []storage.PieceInfo, avoid map[uint32]map[chain.Address]bool) ([]chain.Replacement, []chain.Receipt, error)
	// Answering lists the nodes a placement would use now: active, with
	// room, and answering (this node included if it has room).
	Answering(ctx context.Context) (map[chain.Address]bool, error)
	// PlaceAdded gives each parity piece added to f (raise.go; f is this
	// node's own file) a new holder that is not in avoid[segment], pushes
	// it there and collects the holders' receipts: the pieces as
	// chain.RaisePieces lists them (in the order given: segment by
	// segment, by index), and one receipt per distinct new holder in order
	// of first appearance.
	PlaceAdded(ctx context.Context, f *chain.File, pieces []storage.PieceInfo, avoid map[uint32]map[chain.Address]bool) ([]chain.Piece, []chain.Receipt, error)
	// Release drops the local copies of rebuilt (or added) pieces, but
	// keeps those replacements (nil when the repair was not recorded)
	// give to this node.
	Release(ctx context.Context, f *chain.File, pieces []storage.PieceInfo, replaced []chain.Replacement)
}

// Config configures a Repairer.
type Config struct {
	// Interval is how often the ledger's height is polled
	// (DefaultInterval); a round runs once per new block.
	Interval time.Duration
	// Margin: a segment is repaired when fewer than K + Margin of its
	// pieces are live. MarginAll (any negative value, the default) means
	// the file's M: any loss is repaired. It is capped at M.
	Margin int
	// Others makes the node repair other owners' files too (its own are
	// always watched).
	Others bool
	// OthersWait is how many epochs another owner's segment waits, after
	// this node first saw it needing repair, before this node takes a
	// turn (see the package doc).
	OthersWait uint64
	// NewTicker makes the loop's ticker; nil means time.NewTicker.
	NewTicker func(d time.Duration) (<-chan time.Time, func())
	// Logger receives the repairer's lines; nil means slog.Default().
	Logger *slog.Logger
}

// DefaultConfig is the configuration a node uses unless told otherwise:
// poll every 2 s, repair any loss, repair others' files after one epoch.
func DefaultConfig() Config {
	return Config{Interval: DefaultInterval, Margin: MarginAll, Others: true, OthersWait: DefaultOthersWait}
}

// Repairer repairs the files of the node Self.
type Repairer struct {
	self chain.Address
	lc   Ledger
	net  Network
	cfg  Config
	log  *slog.Logger

	seen   map[segKey]uint64     // segment → epoch this node first saw it needing repair
	failed map[chain.Hash]uint64 // file → epoch its last repair failed (tried again the next epoch)
	warned map[segKey]bool       // segments reported unrecoverable
	short  map[chain.Hash]bool   // files reported too large for the quota left to raise

	mu         sync.Mutex
	repaired   uint64 // pieces moved by this node's ReplacePieces
	raised     uint64 // pieces added by this node's RaisePieces
	lastHeight int64  // the height the last complete round started at
}

type segKey struct {
	file    chain.Hash
	segment uint32
}

// New returns a Repairer for node self.
func New(self chain.Address, lc Ledger, net Network, cfg Config) *Repairer {
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
	return &Repairer{self: self, lc: lc, net: net, cfg: cfg, log: log,
		seen: map[segKey]uint64{}, failed: map[chain.Hash]uint64{}, warned: map[segKey]bool{}, short: map[chain.Hash]bool{}}
}

// Repaired is the number of pieces this node's repairs moved so far.
func (r *Repairer) Repaired() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.repaired
}

// Loop runs a Round at every tick on which the ledger has a new block,
// until ctx ends. Errors are logged; the next block tries again.
func (r *Repairer) Loop(ctx context.Context) {
	c, stop := r.cfg.NewTicker(r.cfg.Interval)
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c:
		}
		h, _, err := r.lc.Height(ctx)
		if err != nil {
			if ctx.Err() == nil {
				r.log.Debug("repair: reading the ledger height", "err", err)
			}
			continue
		}
		if h == r.LastHeight() {
			continue
		}
		if err := r.Round(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("repair round", "err", err)
			continue
		}
		r.mu.Lock()
		r.lastHeight = h
		r.mu.Unlock()
	}
}

// LastHeight is the ledger height at which the loop's last complete round
// started (0 before the first): everything committed up to it has been
// looked at, and repaired if due.
func (r *Repairer) LastHeight() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastHeight
}

// view is one round's reading of the ledger.
type view struct {
	params chain.Params
	epoch  uint64
	nodes  map[chain.Address]*chain.Node
	lost   map[segKey]map[uint32]bool                // segment → lost piece indices
	byFile map[chain.Hash]map[uint32]map[uint32]bool // the same, by file then segment
}

// Round reads the ledger once and repairs every watched segment that needs
// it: the node's own files, and (Config.Others) the other files with a
// repairable piece whose turn it is. Then it raises the node's own files
// stored below their asked parity as far as the nodes allow (raise.go). A failed file is logged and tried
// again from the next epoch; Round returns an error only when the ledger
// could not be read.
func (r *Repairer) Round(ctx context.Context) error {
	v, err := r.read(ctx)
	if err != nil {
		return err
	}
	files, err := r.lc.Files(ctx, r.self)
	if err != nil {
		return fmt.Errorf("listing own files: %w", err)
	}
	if r.cfg.Others {
		others, err := r.othersFiles(ctx, v)
		if err != nil {
			return err
		}
		files = append(files, others...)
	}
	active := map[segKey]bool{}
	for i := range files {
		f := &files[i]
		segs := r.due(f, v, active)
		if len(segs) == 0 {
			continue
		}
		if e, ok := r.failed[f.ID]; ok && v.epoch <= e {
			continue
		}
		if err := r.repair(ctx, f, segs, v); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			r.failed[f.ID] = v.epoch
			r.log.Warn("repair failed; trying again next epoch", "file", f.ID, "err", err)
			continue
		}
		delete(r.failed, f.ID)
	}
	var answering map[chain.Address]bool // read once per round, when a file could be raised
	for i := range files {
		f := &files[i]
		if f.Owner != r.self || !f.Raising() {
			continue
		}
		if e, ok := r.failed[f.ID]; ok && v.epoch <= e {
			continue
		}
		if r.raiseStep(f, v, nil) == 0 {
			continue
		}
		if answering == nil {
			if answering, err = r.net.Answering(ctx); err != nil {
				return fmt.Errorf("listing the nodes that answer: %w", err)
			}
		}
		step := r.raiseStep(f, v, answering)
		if step == 0 {
			continue
		}
		if ok, err := r.quotaAllows(ctx, f, step); err != nil {
			return err
		} else if !ok {
			continue
		}
		if err := r.raise(ctx, f, step, v); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			r.failed[f.ID] = v.epoch
			r.log.Warn("raising a file failed; trying again next epoch", "file", f.ID, "err", err)
			continue
		}
		delete(r.failed, f.ID)
	}
	for k := range r.seen {
		if !active[k] {
			delete(r.seen, k)
		}
	}
	return nil
}

func (r *Repairer) read(ctx context.Context) (*view, error) {
	v := &view{nodes: map[chain.Address]*chain.Node{}, lost: map[segKey]map[uint32]bool{}, byFile: map[chain.Hash]map[uint32]map[uint32]bool{}}
	var err error
	if v.params, err = r.lc.Params(ctx); err != nil {
		return nil, fmt.Errorf("reading the ledger parameters: %w", err)
	}
	e, err := r.lc.Epoch(ctx)
	if err != nil && !errors.Is(err, chain.ErrNotFound) {
		return nil, fmt.Errorf("reading the epoch: %w", err)
	}
	v.epoch = e.Number
	nodes, err := r.lc.Nodes(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing nodes: %w", err)
	}
	for i := range nodes {
		v.nodes[nodes[i].Address] = &nodes[i]
	}
	lost, err := r.lc.Lost(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing lost pieces: %w", err)
	}
	for _, lp := range lost {
		k := segKey{lp.File, lp.Piece.Segment}
		if v.lost[k] == nil {
			v.lost[k] = map[uint32]bool{}
		}
		v.lost[k][lp.Piece.Index] = true
		if v.byFile[lp.File] == nil {
			v.byFile[lp.File] = map[uint32]map[uint32]bool{}
		}
		v.byFile[lp.File][lp.Piece.Segment] = v.lost[k]
	}
	return v, nil
}

// othersFiles lists the files of other owners with a repairable piece: those
// with a lost record and those held by offline or disqualified nodes.
func (r *Repairer) othersFiles(ctx context.Context, v *view) ([]chain.File, error) {
	ids := map[chain.Hash]bool{}
	for k := range v.lost {
		ids[k.file] = true
	}
	for a, n := range v.nodes {
		if chain.Repairable(v.params, false, n) == "" || n.Used == 0 {
			continue
		}
		held, err := r.lc.Pieces(ctx, a)
		if err != nil {
			return nil, fmt.Errorf("listing the pieces of failed holder %s: %w", a, err)
		}
		for _, hp := range held {
			ids[hp.File] = true
		}
	}
	sorted := make([]chain.Hash, 0, len(ids))
	for id := range ids {
		sorted = append(sorted, id)
	}
	slices.SortFunc(sorted, func(a, b chain.Hash) int { return bytes.Compare(a[:], b[:]) })
	var out []chain.File
	for _, id := range sorted {
		f, err := r.lc.File(ctx, id)
		if errors.Is(err, chain.ErrNotFound) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("reading file %s: %w", id, err)
		}
		if f.Owner != r.self {
			out = append(out, f)
		}
	}
	return out, nil
}

// Margin is the number of pieces above K a segment of f keeps before it
// is repaired, for Config.Margin margin: the file's M when margin is
// negative (MarginAll) or above M.
func Margin(margin int, f *chain.File) int {
	if margin < 0 || margin > int(f.M) {
		return int(f.M)
	}
	return margin
}

// SegmentNeed is a segment of a file that needs repair.
type SegmentNeed struct {
	// Segment is the segment's number.
	Segment uint32
	// Lost lists the indices of its repairable pieces (chain.Repairable).
	Lost []uint32
	// Live is the number of its pieces that are not repairable; below the
	// file's K the segment cannot be rebuilt.
	Live int
}

// Need is the repair decision for file f on one reading of the ledger:
// the segments with a repairable piece (chain.Repairable under params,
// with holders looked up in nodes and lost[segment][index] the pieces
// recorded lost) whose live pieces are fewer than K + margin (see
// Margin). It leaves out who repairs (the owner, or others in turns:
// Turn) and does not check that K live pieces remain.
func Need(f *chain.File, params chain.Params, nodes map[chain.Address]*chain.Node, lost map[uint32]map[uint32]bool, margin int) []SegmentNeed {
	width := int(f.K + f.M)
	if width == 0 || len(f.Pieces)%width != 0 {
		return nil
	}
	keep := int(f.K) + Margin(margin, f)
	var out []SegmentNeed
	for s := 0; s < len(f.Pieces)/width; s++ {
		seg := f.Pieces[s*width : (s+1)*width]
		var gone []uint32
		for _, p := range seg {
			if chain.Repairable(params, lost[uint32(s)][p.Index], nodes[p.Holder]) != "" {
				gone = append(gone, p.Index)
			}
		}
		live := width - len(gone)
		if len(gone) == 0 || live >= keep {
			continue
		}
		out = append(out, SegmentNeed{Segment: uint32(s), Lost: gone, Live: live})
	}
	return out
}

// segment is one segment to repair: its number and the indices of its
// repairable pieces.
type segment struct {
	n    uint32
	lost []uint32
}

// due returns the segments of f to repair now, marking in active every
// segment that needs repair (due or not).
func (r *Repairer) due(f *chain.File, v *view, active map[segKey]bool) []segment {
	var out []segment
	for _, sn := range Need(f, v.params, v.nodes, v.byFile[f.ID], r.cfg.Margin) {
		s := sn.Segment
		k := segKey{f.ID, s}
		active[k] = true
		if sn.Live < int(f.K) {
			if !r.warned[k] {
				r.warned[k] = true
				r.log.Error("segment cannot be repaired: fewer than k pieces are live", "file", f.ID, "segment", s, "live", sn.Live, "k", f.K)
			}
			continue
		}
		if f.Owner != r.self && !r.othersTurn(f, s, v) {
			continue
		}
		out = append(out, segment{n: s, lost: sn.Lost})
	}
	return out
}

// othersTurn reports whether this node may repair segment s of another
// owner's file now: OthersWait epochs after it first saw the segment need
// repair, the first node in the segment's ranking may; each epoch after
// that, one more.
func (r *Repairer) othersTurn(f *chain.File, s uint32, v *view) bool {
	k := segKey{f.ID, s}
	first, ok := r.seen[k]
	if !ok {
		first = v.epoch
		r.seen[k] = first
	}
	if v.epoch < first+r.cfg.OthersWait {
		return false
	}
	turns := v.epoch - first - r.cfg.OthersWait + 1
	return Ahead(f.ID, s, r.self, v.params, v.nodes) < turns
}

// Ahead is node self's place in the turns to repair segment s of another
// owner's file: how many of the active nodes that are not themselves
// repairable (chain.Repairable) rank before it by RankKey. OthersWait
// epochs after a node first saw the segment need repair, the nodes with
// Ahead 0 may repair it, and each epoch after that the next one.
func Ahead(file chain.Hash, s uint32, self chain.Address, params chain.Params, nodes map[chain.Address]*chain.Node) uint64 {
	mine := RankKey(file, s, self)
	var ahead uint64
	for a, n := range nodes {
		if a == self || !Ranked(params, n) {
			continue
		}
		if rk := RankKey(file, s, a); bytes.Compare(rk[:], mine[:]) < 0 {
			ahead++
		}
	}
	return ahead
}

// Ranked reports whether node n takes part in the turns to repair others'
// segments: it is active and not itself repairable.
func Ranked(params chain.Params, n *chain.Node) bool {
	return n.Status == chain.NodeActive && chain.Repairable(params, false, n) == ""
}

// RankKey is node a's key in the turns to repair segment s of file: the
// lowest key goes first.
func RankKey(file chain.Hash, s uint32, a chain.Address) [32]byte {
	b := append(append([]byte("coop/repair-rank/v1\x00"), file[:]...), byte(s>>24), byte(s>>16), byte(s>>8), byte(s))
	return sha256.Sum256(append(b, a[:]...))
}

// repair rebuilds the lost pieces of segs, checks them against the ledger,
// places them and records the move with one ReplacePieces.
func (r *Repairer) repair(ctx context.Context, f *chain.File, segs []segment, v *view) error {
	t0 := time.Now()
	width := int(f.K + f.M)
	src := r.net.Source(ctx, f)
	var rebuilt []storage.PieceInfo
	avoid := map[uint32]map[chain.Address]bool{}
	committed := false
	var replaced []chain.Replacement
	defer func() {
		if !committed {
			replaced = nil
		}
		if len(rebuilt) > 0 {
			r.net.Release(context.WithoutCancel(ctx), f, rebuilt, replaced)
		}
	}()
	for _, s := range segs {
		seg := f.Pieces[int(s.n)*width : (int(s.n)+1)*width]
		l := storage.SegmentLayout{K: int(f.K), M: int(f.M)}
		avoid[s.n] = map[chain.Address]bool{}
		for _, p := range seg {
			l.Pieces = append(l.Pieces, storage.PieceRef{FileID: blockstore.ID(f.ID), Segment: int(s.n), Index: int(p.Index), ID: blockstore.ID(p.ID), Size: int64(p.Size)})
			avoid[s.n][p.Holder] = true // live holders, and the failed ones
		}
		want := make([]int, len(s.lost))
		for i, idx := range s.lost {
			want[i] = int(idx)
		}
		got, err := storage.Rebuild(ctx, l, src, r.net.Sink(), want)
		rebuilt = append(rebuilt, got...)
		if err != nil {
			return fmt.Errorf("rebuilding segment %d: %w", s.n, err)
		}
		for _, p := range got {
			rec := seg[p.Index]
			if chain.Hash(p.ID) != rec.ID || uint64(p.Size) != rec.Size || chain.Hash(p.Root) != rec.Root || p.Leaves != rec.Leaves {
				return fmt.Errorf("rebuilt piece %d/%d does not match the ledger's record (id %s root %s, want %s %s)", s.n, p.Index, p.ID, p.Root, rec.ID, rec.Root)
			}
		}
	}
	tRebuilt := time.Now()
	reps, receipts, err := r.net.Place(ctx, f, rebuilt, avoid)
	if err != nil {
		return fmt.Errorf("placing rebuilt pieces: %w", err)
	}
	replaced = reps
	if _, err := r.lc.BroadcastCommit(ctx, &chain.ReplacePieces{FileID: f.ID, Pieces: reps, Receipts: receipts}); err != nil {
		return fmt.Errorf("recording the repair: %w", err)
	}
	committed = true
	r.mu.Lock()
	r.repaired += uint64(len(reps))
	r.mu.Unlock()
	holders := make([]string, len(reps))
	for i, rp := range reps {
		holders[i] = fmt.Sprintf("%d/%d→%s", rp.Segment, rp.Index, rp.Holder.String()[:8])
	}
	r.log.Info("repaired pieces", "file", f.ID, "owner", f.Owner, "own", f.Owner == r.self, "pieces", len(reps), "moves", holders,
		"epoch", v.epoch, "rebuild", tRebuilt.Sub(t0).Round(time.Millisecond), "place_and_record", time.Since(tRebuilt).Round(time.Millisecond))
	return nil
}
