package scrub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/ledger"
	"github.com/coop-network/coop/proofs"
)

// Defaults of Config.
const (
	// DefaultInterval is the time between the starts of two background
	// passes: every held piece is read once a day.
	DefaultInterval = 24 * time.Hour
	// DefaultRate bounds a pass's reads: 4 MiB/s, about 337 GiB a day, a
	// small share of a disk's bandwidth. A background pass goes slower
	// when it can (passRate).
	DefaultRate = 4 << 20
	// DefaultFirstDelay is how long after start the first background pass
	// waits at least, so a node's start is not slowed by a scrub.
	DefaultFirstDelay = 10 * time.Minute
)

// minPassRate is the slowest a background pass reads (unless Config.Rate
// is lower): 1 MiB/s, so a small store is done in minutes, not spread over
// the whole interval.
const minPassRate = 1 << 20

// chunk is how much a pass reads at once; the rate limit allows a burst
// of one chunk.
const chunk = 256 << 10

// Ledger is what a Scrubber reads from and sends to the ledger, for the
// node's own account (*ledger.Client).
type Ledger interface {
	// Pieces are the pieces holder is credited with (the whole list).
	Pieces(ctx context.Context, holder chain.Address) ([]chain.HeldPiece, error)
	// BroadcastCommit signs body with the account's key and waits for it
	// to commit; a refusal is a *ledger.RejectedError.
	BroadcastCommit(ctx context.Context, body chain.Body) (ledger.Result, error)
}

var _ Ledger = (*ledger.Client)(nil)

// Piece is a stored piece open for reading.
type Piece interface {
	io.ReaderAt
	io.Closer
	// Size is the stored length in bytes.
	Size() int64
}

// Store holds the node's pieces (the block store and what is kept beside
// each piece).
type Store interface {
	// Open opens a stored piece; an error wrapping fs.ErrNotExist if it is
	// not stored.
	Open(ctx context.Context, id chain.Hash) (Piece, error)
	// Drop deletes a piece and what is kept beside it (its Merkle levels),
	// so it is no longer served or proved from; a piece not stored is not
	// an error.
	Drop(ctx context.Context, id chain.Hash) error
}

// Config configures a Scrubber.
type Config struct {
	// Interval is the time between the starts of two background passes
	// (DefaultInterval); 0 or less: no background passes (Loop returns at
	// once), Run still scrubs on demand.
	Interval time.Duration
	// Rate bounds the bytes read per second (DefaultRate); 0 or less: no
	// bound. A background pass reads at passRate, at most Rate.
	Rate int64
	// FirstDelay is the least time from Loop's start to its first pass
	// (DefaultFirstDelay when 0).
	FirstDelay time.Duration
	// StateFile, if set, keeps the last report across restarts, so the
	// next background pass is due Interval after the last one started.
	StateFile string
	// Clock paces and schedules passes; nil means the wall clock.
	Clock Clock
	// Logger receives the scrubber's lines; nil means slog.Default().
	Logger *slog.Logger
}

// DefaultConfig is a daily scrub at most DefaultRate.
func DefaultConfig() Config {
	return Config{Interval: DefaultInterval, Rate: DefaultRate, FirstDelay: DefaultFirstDelay}
}

// Problems a pass finds with a piece (Finding.Problem).
const (
	Corrupt = "corrupt" // stored, but its bytes do not match its id, root or size
	Missing = "missing" // credited by the ledger, not in the store
)

// Finding is one piece a pass found corrupt or missing.
type Finding struct {
	Piece   chain.Hash `json:"piece"`
	Problem string     `json:"problem"`
	Detail  string     `json:"detail,omitempty"`
	// Entries are the ledger's entries of the piece (one per file it
	// belongs to).
	Entries []chain.PieceRef `json:"entries"`
}

// Report is what one pass did.
type Report struct {
	Started    time.Time     `json:"started"`
	Duration   time.Duration `json:"duration"`
	Background bool          `json:"background"`
	// Pieces is the number of distinct pieces checked, of TotalPieces the
	// ledger credits; Bytes the bytes read, of TotalBytes.
	Pieces      int   `json:"pieces"`
	TotalPieces int   `json:"total_pieces"`
	Bytes       int64 `json:"bytes"`
	TotalBytes  int64 `json:"total_bytes"`
	// OK, Corrupt and Missing count the checked pieces by verdict;
	// Unreadable the ones a read error other than a short piece stopped
	// (kept, not reported: the next pass tries again).
	OK         int `json:"ok"`
	Corrupt    int `json:"corrupt"`
	Missing    int `json:"missing"`
	Unreadable int `json:"unreadable"`
	// Reported is the number of ledger entries reported lost (a piece in
	// two files is two entries), in ReportTxs transactions.
	Reported  int `json:"reported"`
	ReportTxs int `json:"report_txs"`
	// Findings are the corrupt and missing pieces; the last report (Last,
	// the state file) keeps the first MaxKeptFindings and counts the rest
	// in FindingsOmitted.
	Findings        []Finding `json:"findings,omitempty"`
	FindingsOmitted int       `json:"findings_omitted,omitempty"`
	// Error says why the pass stopped early or its report failed.
	Error string `json:"error,omitempty"`
}

// Progress is how far a pass is, given after each piece.
type Progress struct {
	Pieces      int   `json:"pieces"`
	TotalPieces int   `json:"total_pieces"`
	Bytes       int64 `json:"bytes"`
	TotalBytes  int64 `json:"total_bytes"`
}

// Options are the settings of one pass on demand.
type Options struct {
	// Rate bounds the bytes read per second; 0 means Config.Rate.
	Rate int64
	// Progress, if set, is called after each piece.
	Progress func(Progress)
}

// Scrubber checks the pieces of holder Self. Its methods are safe for
// concurrent use.
type Scrubber struct {
	self  chain.Address
	lc    Ledger
	store Store
	cfg   Config
	clock Clock
	log   *slog.Logger

	sem chan struct{} // one pass at a time

	mu       sync.Mutex
	bgCancel context.CancelFunc // cancels the background pass in progress
	manual   int                // passes on demand waiting or running
	last     *Report
	changed  chan struct{} // closed when a pass on demand ends
	// unreported are dropped pieces whose report failed (or whose pass
	// stopped before reporting), since unreportedAt; Loop retries them.
	unreported   []Finding
	unreportedAt time.Time
}

// New returns a Scrubber of holder self's pieces. It reads the last report
// from cfg.StateFile if there is one.
func New(self chain.Address, lc Ledger, store Store, cfg Config) *Scrubber {
	if cfg.FirstDelay <= 0 {
		cfg.FirstDelay = DefaultFirstDelay
	}
	clock := cfg.Clock
	if clock == nil {
		clock = realClock{}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Scrubber{self: self, lc: lc, store: store, cfg: cfg, clock: clock, log: log, sem: make(chan struct{}, 1), changed: make(chan struct{})}
	if cfg.StateFile != "" {
		if b, err := os.ReadFile(cfg.StateFile); err == nil {
			var r Report
			if err := json.Unmarshal(b, &r); err != nil {
				log.Warn("ignoring an unreadable scrub state file", "file", cfg.StateFile, "err", err)
			} else {
				s.last = &r
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			log.Warn("reading the scrub state file", "file", cfg.StateFile, "err", err)
		}
	}
	return s
}

// Last returns the report of the last pass that checked the credited
// pieces to the end (its report may still carry an Error from reporting),
// false before any.
func (s *Scrubber) Last() (Report, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		return Report{}, false
	}
	return *s.last, true
}

// Run scrubs now: it cancels a background pass in progress, waits for any
// other pass on demand, then checks every credited piece at opts.Rate
// (Config.Rate if 0), drops the corrupt and missing ones from the store
// and reports them lost on the ledger. The error is ctx's if it ended,
// else a failure to list the credited pieces or to report; the report is
// filled as far as the pass went.
func (s *Scrubber) Run(ctx context.Context, opts Options) (Report, error) {
	s.mu.Lock()
	s.manual++
	if s.bgCancel != nil {
		s.bgCancel()
	}
	s.mu.Unlock()
	held := false
	defer func() {
		// Done before the semaphore is free, so the loop, once it takes
		// it, sees no pass on demand waiting; and the loop waiting for
		// this pass wakes.
		s.mu.Lock()
		s.manual--
		close(s.changed)
		s.changed = make(chan struct{})
		s.mu.Unlock()
		if held {
			<-s.sem
		}
	}()
	select {
	case s.sem <- struct{}{}:
		held = true
	case <-ctx.Done():
		return Report{}, ctx.Err()
	}
	rate := opts.Rate
	if rate == 0 {
		rate = s.cfg.Rate
	}
	rep, err := s.pass(ctx, func(int64) int64 { return rate }, opts.Progress)
	if ctx.Err() == nil && (err == nil || rep.TotalPieces > 0) {
		// A pass that could not even list the pieces checked nothing: it
		// does not stand for the next background pass.
		s.setLast(rep)
	}
	return rep, err
}

// Loop runs a background pass every Config.Interval until ctx ends: the
// first at least Config.FirstDelay after it starts, and Interval after the
// last pass started (on demand or in the background, before a restart
// too, from Config.StateFile). A pass on demand cancels a background one
// in progress, which then counts as done by it. A pass that could not read
// the credited list is tried again FirstDelay later, and pieces dropped but
// not reported (the report failed, or the pass stopped first) are
// reported again every FirstDelay until the ledger takes them.
func (s *Scrubber) Loop(ctx context.Context) {
	if s.cfg.Interval <= 0 {
		return
	}
	earliest := s.clock.Now().Add(s.cfg.FirstDelay)
	for {
		due := s.nextDue(earliest)
		if r := s.retryDue(); !r.IsZero() && r.Before(due) {
			due = r
		}
		if d := due.Sub(s.clock.Now()); d > 0 {
			select {
			case <-ctx.Done():
				return
			case <-s.clock.After(d):
			}
			continue // a pass on demand may have moved the due time
		}
		select {
		case s.sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		if r := s.retryDue(); !r.IsZero() && !r.After(s.clock.Now()) && s.nextDue(earliest).After(s.clock.Now()) {
			// Only a report to retry, no pass due yet.
			s.retryReport(ctx)
			<-s.sem
			continue
		}
		s.mu.Lock()
		if s.manual > 0 {
			// A pass on demand is waiting: it goes first, and counts.
			changed := s.changed
			s.mu.Unlock()
			<-s.sem
			select {
			case <-ctx.Done():
				return
			case <-changed:
			}
			continue
		}
		if s.nextDueLocked(earliest).After(s.clock.Now()) {
			// A pass on demand ran while this one waited its turn.
			s.mu.Unlock()
			<-s.sem
			continue
		}
		pctx, cancel := context.WithCancel(ctx)
		s.bgCancel = cancel
		s.mu.Unlock()
		rep, err := s.pass(pctx, s.passRate, nil)
		rep.Background = true
		s.mu.Lock()
		s.bgCancel = nil
		s.mu.Unlock()
		preempted := pctx.Err() != nil
		cancel()
		switch {
		case ctx.Err() != nil:
			<-s.sem
			return
		case preempted:
			s.log.Debug("background scrub gave way to a scrub on demand")
		case err != nil && rep.TotalPieces == 0 && rep.Pieces == 0:
			// The credited list could not be read: nothing was checked, so
			// try again after FirstDelay rather than an interval.
			s.log.Warn("background scrub", "err", err)
			earliest = s.clock.Now().Add(s.cfg.FirstDelay)
		default:
			s.setLast(rep)
			if err != nil {
				s.log.Warn("background scrub", "err", err)
			}
		}
		<-s.sem
	}
}

// nextDue is when the next background pass is due: Interval after the
// last pass started, not before earliest.
func (s *Scrubber) nextDue(earliest time.Time) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nextDueLocked(earliest)
}

func (s *Scrubber) nextDueLocked(earliest time.Time) time.Time {
	if s.last == nil {
		return earliest
	}
	if due := s.last.Started.Add(s.cfg.Interval); due.After(earliest) {
		return due
	}
	return earliest
}

// passRate is a background pass's rate for total bytes: fast enough to
// read them in half the interval, at least minPassRate, at most
// Config.Rate.
func (s *Scrubber) passRate(total int64) int64 {
	secs := int64(s.cfg.Interval / time.Second / 2)
	r := int64(minPassRate)
	if secs > 0 && total/secs > r {
		r = total / secs
	}
	if s.cfg.Rate > 0 && r > s.cfg.Rate {
		r = s.cfg.Rate
	}
	return r
}

// MaxKeptFindings bounds the findings the last report keeps.
const MaxKeptFindings = 1000

func (s *Scrubber) setLast(rep Report) {
	if n := len(rep.Findings); n > MaxKeptFindings {
		rep.Findings, rep.FindingsOmitted = rep.Findings[:MaxKeptFindings:MaxKeptFindings], rep.FindingsOmitted+n-MaxKeptFindings
	}
	s.mu.Lock()
	s.last = &rep
	s.mu.Unlock()
	if s.cfg.StateFile == "" {
		return
	}
	if err := writeState(s.cfg.StateFile, rep); err != nil {
		s.log.Warn("saving the scrub report", "err", err)
	}
}

// writeState writes rep as JSON to path through a temporary file.
func writeState(path string, rep Report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
	}
	return err
}

// setUnreported records the findings a pass dropped but did not report
// (nil: none). A later complete pass replaces them: it finds those pieces
// missing.
func (s *Scrubber) setUnreported(f []Finding) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(f) == 0 {
		s.unreported = nil
		return
	}
	s.unreported, s.unreportedAt = append([]Finding(nil), f...), s.clock.Now()
}

// retryDue is when Loop should retry the unreported findings (zero: none).
func (s *Scrubber) retryDue() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.unreported) == 0 {
		return time.Time{}
	}
	return s.unreportedAt.Add(s.cfg.FirstDelay)
}

// retryReport reports the unreported findings again; the caller holds
// the semaphore. Entries reported meanwhile are no longer credited and
// are skipped.
func (s *Scrubber) retryReport(ctx context.Context) {
	s.mu.Lock()
	rep := Report{Findings: s.unreported}
	s.mu.Unlock()
	if len(rep.Findings) == 0 {
		return
	}
	if err := s.reportLost(ctx, &rep); err != nil {
		if ctx.Err() == nil {
			s.log.Warn("scrub: reporting lost pieces again", "pieces", len(rep.Findings), "err", err)
			s.setUnreported(rep.Findings)
		}
		return
	}
	s.log.Info("scrub: reported lost pieces", "entries", rep.Reported)
	s.setUnreported(nil)
}

// held is one distinct credited piece and its ledger entries.
type held struct {
	id      chain.Hash
	size    uint64
	entries []chain.HeldPiece
}

// pass checks every piece the ledger credits, reading at rateFor(total
// bytes), drops the corrupt and missing ones and reports them lost.
func (s *Scrubber) pass(ctx context.Context, rateFor func(total int64) int64, progress func(Progress)) (rep Report, _ error) {
	rep.Started = s.clock.Now()
	defer func() { rep.Duration = s.clock.Now().Sub(rep.Started) }()
	list, err := s.lc.Pieces(ctx, s.self)
	if err != nil {
		err = fmt.Errorf("scrub: listing the credited pieces: %w", err)
		rep.Error = err.Error()
		return rep, err
	}
	var pieces []*held
	byID := make(map[chain.Hash]*held, len(list))
	for _, hp := range list {
		h := byID[hp.Piece.ID]
		if h == nil {
			h = &held{id: hp.Piece.ID, size: hp.Piece.Size}
			byID[hp.Piece.ID] = h
			pieces = append(pieces, h)
			rep.TotalBytes += int64(min(hp.Piece.Size, 1<<62))
		}
		h.entries = append(h.entries, hp)
	}
	rep.TotalPieces = len(pieces)
	lim := newLimiter(s.clock, rateFor(rep.TotalBytes), chunk)
	buf := make([]byte, chunk)
	for _, h := range pieces {
		problem, detail, n, err := s.check(ctx, lim, buf, h)
		rep.Bytes += n
		if ctx.Err() != nil {
			rep.Error = ctx.Err().Error()
			s.setUnreported(rep.Findings)
			return rep, ctx.Err()
		}
		rep.Pieces++
		switch {
		case err != nil:
			rep.Unreadable++
			s.log.Warn("scrub: cannot read a piece; keeping it for the next pass", "piece", h.id, "err", err)
		case problem == "":
			rep.OK++
		default:
			if problem == Corrupt {
				rep.Corrupt++
			} else {
				rep.Missing++
			}
			f := Finding{Piece: h.id, Problem: problem, Detail: detail}
			for _, e := range h.entries {
				f.Entries = append(f.Entries, chain.PieceRef{File: e.File, Segment: e.Piece.Segment, Index: e.Piece.Index})
			}
			rep.Findings = append(rep.Findings, f)
			s.log.Warn("scrub: dropping a piece", "piece", h.id, "problem", problem, "detail", detail)
			if err := s.store.Drop(ctx, h.id); err != nil {
				s.log.Warn("scrub: dropping a piece", "piece", h.id, "err", err)
			}
		}
		if progress != nil {
			progress(Progress{Pieces: rep.Pieces, TotalPieces: rep.TotalPieces, Bytes: rep.Bytes, TotalBytes: rep.TotalBytes})
		}
	}
	if len(rep.Findings) > 0 {
		if err := s.reportLost(ctx, &rep); err != nil {
			err = fmt.Errorf("scrub: reporting %d lost pieces: %w", len(rep.Findings), err)
			rep.Error = err.Error()
			s.setUnreported(rep.Findings)
			return rep, err
		}
	}
	s.setUnreported(nil)
	if rep.Corrupt+rep.Missing > 0 {
		s.log.Warn("scrub found lost pieces", "corrupt", rep.Corrupt, "missing", rep.Missing, "reported", rep.Reported)
	} else {
		s.log.Info("scrub passed", "pieces", rep.Pieces, "bytes", rep.Bytes, "unreadable", rep.Unreadable)
	}
	return rep, nil
}

// check reads piece h through the limiter and returns its problem
// (Corrupt, Missing or "" if it is sound) with a detail, and the bytes
// read. An error is a read failure that says nothing of the bytes.
func (s *Scrubber) check(ctx context.Context, lim *limiter, buf []byte, h *held) (problem, detail string, n int64, err error) {
	r, err := s.store.Open(ctx, h.id)
	if errors.Is(err, fs.ErrNotExist) {
		return Missing, "not in the store", 0, nil
	}
	if err != nil {
		return "", "", 0, err
	}
	defer r.Close()
	if size := r.Size(); size < 0 || uint64(size) != h.size {
		return Corrupt, fmt.Sprintf("%d bytes stored, %d recorded", size, h.size), 0, nil
	}
	size := int64(h.size)
	tree := proofs.NewBuilder() // the piece id binds its Merkle root: one pass checks both
	for n < size {
		m := int(min(int64(len(buf)), size-n))
		k, err := r.ReadAt(buf[:m], n)
		_, _ = tree.Write(buf[:k])
		n += int64(k)
		if k < m {
			if err == nil || errors.Is(err, io.EOF) {
				return Corrupt, fmt.Sprintf("ends after %d of %d bytes", n, size), n, nil
			}
			return "", "", n, err
		}
		if err := lim.wait(ctx, int64(k)); err != nil {
			return "", "", n, err
		}
	}
	if got := tree.ID(); got != proofs.Hash(h.id) {
		return Corrupt, fmt.Sprintf("bytes have id %x, not the piece id", got[:8]), n, nil
	}
	root := tree.Root()
	for _, e := range h.entries {
		if chain.Hash(root) != e.Piece.Root {
			return Corrupt, fmt.Sprintf("Merkle root %s, recorded %s", root, e.Piece.Root), n, nil
		}
	}
	return "", "", n, nil
}

// reportLost reports the findings' entries lost with chain.ReportLost, at
// most chain.MaxReportLostPieces per transaction. It reads the credited
// list again first and reports only entries still credited with the same
// piece (a file removed during the pass is not lost); a batch refused as
// not found (removed meanwhile) is filtered again and retried once.
func (s *Scrubber) reportLost(ctx context.Context, rep *Report) error {
	credited, err := s.creditedRefs(ctx)
	if err != nil {
		return err
	}
	var refs []chain.PieceRef
	for _, f := range rep.Findings {
		for _, r := range f.Entries {
			if credited[r] == f.Piece {
				refs = append(refs, r)
			}
		}
	}
	for len(refs) > 0 {
		batch := refs[:min(len(refs), chain.MaxReportLostPieces)]
		refs = refs[len(batch):]
		_, err := s.lc.BroadcastCommit(ctx, &chain.ReportLost{Pieces: batch})
		if errors.Is(err, chain.ErrNotFound) {
			if credited, err = s.creditedRefs(ctx); err != nil {
				return err
			}
			var still []chain.PieceRef
			for _, r := range batch {
				if !credited[r].IsZero() {
					still = append(still, r)
				}
			}
			if batch = still; len(batch) == 0 {
				continue
			}
			_, err = s.lc.BroadcastCommit(ctx, &chain.ReportLost{Pieces: batch})
		}
		if err != nil {
			return err
		}
		rep.Reported += len(batch)
		rep.ReportTxs++
	}
	return nil
}

// creditedRefs maps each entry the ledger credits this node with to its
// piece id.
func (s *Scrubber) creditedRefs(ctx context.Context) (map[chain.PieceRef]chain.Hash, error) {
	list, err := s.lc.Pieces(ctx, s.self)
	if err != nil {
		return nil, fmt.Errorf("listing the credited pieces: %w", err)
	}
	m := make(map[chain.PieceRef]chain.Hash, len(list))
	for _, hp := range list {
		m[chain.PieceRef{File: hp.File, Segment: hp.Piece.Segment, Index: hp.Piece.Index}] = hp.Piece.ID
	}
	return m, nil
}
