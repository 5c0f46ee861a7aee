// Package audit reports on storage nodes: what the ledger records of each
// (status, uptime, audit score, proof counts, lost pieces, stored and
// pledged bytes) and a live spot check over the piece exchange, where the
// node is asked for random leaves of random pieces the ledger credits to it
// and each signed answer is checked against the ledger's Merkle root. A
// signed wrong answer is evidence: with Submit it is put on the ledger as a
// chain.ReportFault, which the ledger verifies and counts against the node.
//
// The auditor is any node: it needs the ledger's records, the exchange and
// (to submit) an account that can send transactions.
package audit

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/exchange"
	"github.com/coop-network/coop/node/ledger"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Ledger is what the auditor reads from the ledger (*ledger.Client).
type Ledger interface {
	// ChainID is the chain leaf answers are signed for.
	ChainID() string
	Params(ctx context.Context) (chain.Params, error)
	// Nodes is every registered node.
	Nodes(ctx context.Context) ([]chain.Node, error)
	// Pieces is the whole list of pieces holder is credited with.
	Pieces(ctx context.Context, holder chain.Address) ([]chain.HeldPiece, error)
}

// Leaves asks holders for leaves (*exchange.Exchange).
type Leaves interface {
	RequestLeaf(ctx context.Context, p peer.ID, req exchange.LeafRequest) (exchange.LeafAnswer, error)
}

// Submitter sends a transaction and waits for it to commit; a refusal is a
// *ledger.RejectedError (*ledger.Client).
type Submitter interface {
	BroadcastCommit(ctx context.Context, body chain.Body) (ledger.Result, error)
}

var (
	_ Ledger    = (*ledger.Client)(nil)
	_ Leaves    = (*exchange.Exchange)(nil)
	_ Submitter = (*ledger.Client)(nil)
)

// Errors of Audit.
var (
	// ErrUnknownNode: the target names no registered node.
	ErrUnknownNode = errors.New("audit: no such node")
	// ErrInvalid: the options are out of range.
	ErrInvalid = errors.New("audit: invalid options")
)

// DefaultLeaves is how many leaves a spot check asks each node for.
const DefaultLeaves = 4

// MaxLeaves bounds the leaves one spot check asks a node for.
const MaxLeaves = 256

// Concurrency is how many nodes one audit spot-checks at a time (each
// node's leaves are asked one after another).
const Concurrency = 8

// DefaultTimeout bounds one leaf request.
const DefaultTimeout = 10 * time.Second

// Options are one audit's choices.
type Options struct {
	// Target is the node to audit, by account address or peer id; empty
	// audits every registered node.
	Target string `json:"target,omitempty"`
	// Leaves is how many random leaves each node is asked for (0:
	// DefaultLeaves, at most MaxLeaves).
	Leaves int `json:"leaves,omitempty"`
	// Submit puts the evidence of every wrong signed answer on the ledger
	// as a ReportFault.
	Submit bool `json:"submit,omitempty"`
}

// Config configures an Auditor.
type Config struct {
	// Timeout bounds each leaf request (DefaultTimeout if 0).
	Timeout time.Duration
	// Self is the auditing node's own address: its record is reported but
	// not spot-checked (a node cannot ask itself over the network).
	Self chain.Address
	// Logger receives the auditor's lines; nil means slog.Default().
	Logger *slog.Logger
}

// Auditor builds audit reports.
type Auditor struct {
	lc  Ledger
	lv  Leaves
	sub Submitter // nil: Submit is refused
	cfg Config
	log *slog.Logger
}

// New returns an Auditor reading lc, asking holders over lv and submitting
// evidence with sub (nil if it cannot).
func New(lc Ledger, lv Leaves, sub Submitter, cfg Config) *Auditor {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Auditor{lc: lc, lv: lv, sub: sub, cfg: cfg, log: log.With("component", "audit")}
}

// Check results.
const (
	// ResultOK: the holder's signed answer leads to the recorded root.
	ResultOK = "ok"
	// ResultWrong: a signed answer that does not: evidence of a fault.
	ResultWrong = "wrong"
	// ResultUnsigned: an answer whose signature is not the holder's: a
	// failed check, but no evidence.
	ResultUnsigned = "unsigned"
	// ResultRefused: the holder answered with an error (it does not hold
	// the piece, or cannot prove it).
	ResultRefused = "refused"
	// ResultUnreachable: no answer (the holder is offline or not serving).
	ResultUnreachable = "unreachable"
)

// Check is one leaf asked of a holder and what came of it.
type Check struct {
	File    chain.Hash `json:"file"`
	Segment uint32     `json:"segment"`
	Index   uint32     `json:"index"`
	Piece   chain.Hash `json:"piece"`
	Leaf    uint64     `json:"leaf"`
	// Result is one of the Result constants.
	Result string `json:"result"`
	// Error says what was wrong, for any result but ok.
	Error string `json:"error,omitempty"`
	// LatencyMicros is the time from sending the request to the answer
	// (or failure), in microseconds.
	LatencyMicros int64 `json:"latency_us"`
}

// Submission is the ReportFault of one piece of evidence.
type Submission struct {
	Evidence chain.Hash `json:"evidence"`
	// Tx and Height are the committed transaction; Error the refusal.
	Tx     chain.Hash `json:"tx,omitempty"`
	Height int64      `json:"height,omitempty"`
	Error  string     `json:"error,omitempty"`
}

// NodeReport is one node's audit.
type NodeReport struct {
	Address chain.Address `json:"address"`
	PeerID  string        `json:"peer_id"`
	// Status is the ledger's: active, suspended or disqualified.
	Status string `json:"status"`
	// UptimePercent is the share of proved epochs in the node's uptime
	// window (100 while it has none); UptimeEpochs the window's entries.
	UptimePercent uint64 `json:"uptime_percent"`
	UptimeEpochs  int    `json:"uptime_epochs"`
	// Score is the audit score in permille (chain.AuditScore).
	Score        uint64 `json:"score_permille"`
	ProofsPassed uint64 `json:"proofs_passed"`
	ProofsFailed uint64 `json:"proofs_failed"`
	ProofsMissed uint64 `json:"proofs_missed"`
	Faults       uint64 `json:"faults"`
	PiecesLost   uint64 `json:"pieces_lost"`
	// Stored is the bytes of the pieces credited to the node (Node.Used);
	// Pledged its offered capacity.
	Stored  uint64 `json:"stored"`
	Pledged uint64 `json:"pledged"`
	// Pieces is how many pieces it is credited with.
	Pieces int `json:"pieces"`
	// Checks are the spot check's leaves; Passed and Failed count them.
	Checks []Check `json:"checks"`
	Passed int     `json:"passed"`
	Failed int     `json:"failed"`
	// LatencyMedianMicros and LatencyMaxMicros summarize the answered
	// checks' latencies (0 without any).
	LatencyMedianMicros int64 `json:"latency_median_us"`
	LatencyMaxMicros    int64 `json:"latency_max_us"`
	// Evidence holds the signed wrong answers (chain.ReportFault bodies).
	Evidence []chain.LeafAnswer `json:"evidence,omitempty"`
	// Submitted holds their ReportFaults, with Options.Submit.
	Submitted []Submission `json:"submitted,omitempty"`
	// Error is why the node could not be spot-checked (no peer id, its
	// pieces unreadable), if it could not.
	Error string `json:"error,omitempty"`
}

// Report is an audit of one node or all of them.
type Report struct {
	ChainID string `json:"chain_id"`
	// UptimeWindow and the thresholds are the ledger's parameters the
	// report is read against.
	UptimeWindow            uint64       `json:"uptime_window"`
	SuspendBelowPermille    uint64       `json:"suspend_below_permille"`
	DisqualifyBelowPermille uint64       `json:"disqualify_below_permille"`
	Leaves                  int          `json:"leaves"`
	Nodes                   []NodeReport `json:"nodes"`
}

// Audit reports on the node opts.Target names (or on every registered
// node): its ledger record and a spot check of opts.Leaves leaves, and,
// with opts.Submit, puts the evidence of wrong signed answers on the
// ledger. A failure to reach one node is in its report, not an error.
func (a *Auditor) Audit(ctx context.Context, opts Options) (*Report, error) {
	if opts.Leaves == 0 {
		opts.Leaves = DefaultLeaves
	}
	if opts.Leaves < 0 || opts.Leaves > MaxLeaves {
		return nil, fmt.Errorf("%w: %d leaves per node, want 1 to %d", ErrInvalid, opts.Leaves, MaxLeaves)
	}
	if opts.Submit && a.sub == nil {
		return nil, fmt.Errorf("%w: this auditor cannot submit evidence (no ledger account)", ErrInvalid)
	}
	params, err := a.lc.Params(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: reading the ledger parameters: %w", err)
	}
	nodes, err := a.lc.Nodes(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: reading the nodes: %w", err)
	}
	if opts.Target != "" {
		i := slices.IndexFunc(nodes, func(n chain.Node) bool { return matches(n, opts.Target) })
		if i < 0 {
			return nil, fmt.Errorf("%w: %q is neither the address nor the peer id of a registered node", ErrUnknownNode, opts.Target)
		}
		nodes = nodes[i : i+1]
	}
	r := &Report{ChainID: a.lc.ChainID(), UptimeWindow: params.UptimeWindow, SuspendBelowPermille: params.SuspendBelowPermille,
		DisqualifyBelowPermille: params.DisqualifyBelowPermille, Leaves: opts.Leaves}
	r.Nodes = make([]NodeReport, len(nodes))
	var wg sync.WaitGroup
	sem := make(chan struct{}, Concurrency)
	for i := range nodes {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			r.Nodes[i] = a.auditNode(ctx, newRand(), &nodes[i], opts)
		}()
	}
	wg.Wait()
	return r, ctx.Err()
}

// matches reports whether target names n, by address or peer id.
func matches(n chain.Node, target string) bool {
	if a, err := chain.ParseAddress(target); err == nil {
		return a == n.Address
	}
	return n.PeerID != "" && n.PeerID == target
}

// newRand is a generator seeded from crypto/rand: a holder cannot predict
// which leaves it will be asked for.
func newRand() *rand.Rand {
	var seed [16]byte
	_, _ = crand.Read(seed[:])
	return rand.New(rand.NewPCG(binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:])))
}

// ledgerRecord is the part of a node's report read from its ledger record.
func ledgerRecord(n *chain.Node) NodeReport {
	up := uint64(100)
	if len(n.Uptime) > 0 {
		proved := 0
		for _, u := range n.Uptime {
			if u {
				proved++
			}
		}
		up = uint64(proved) * 100 / uint64(len(n.Uptime))
	}
	return NodeReport{
		Address: n.Address, PeerID: n.PeerID, Status: n.Status,
		UptimePercent: up, UptimeEpochs: len(n.Uptime), Score: chain.AuditScore(n),
		ProofsPassed: n.ProofsPassed, ProofsFailed: n.ProofsFailed, ProofsMissed: n.ProofsMissed,
		Faults: n.Faults, PiecesLost: n.PiecesLost, Stored: n.Used, Pledged: n.Pledge,
	}
}

func (a *Auditor) auditNode(ctx context.Context, rng *rand.Rand, n *chain.Node, opts Options) NodeReport {
	nr := ledgerRecord(n)
	held, err := a.lc.Pieces(ctx, n.Address)
	if err != nil {
		nr.Error = fmt.Sprintf("reading its pieces: %v", err)
		return nr
	}
	nr.Pieces = len(held)
	if len(held) == 0 {
		return nr
	}
	if n.Address == a.cfg.Self {
		nr.Error = "this is the auditing node: not spot-checked"
		return nr
	}
	pid, err := peer.Decode(n.PeerID)
	if err != nil {
		nr.Error = fmt.Sprintf("its peer id %q: %v", n.PeerID, err)
		return nr
	}
	var lat []int64
	for _, d := range drawLeaves(rng, held, opts.Leaves) {
		c, ev := a.check(ctx, pid, n.Address, held[d.piece], d.leaf)
		nr.Checks = append(nr.Checks, c)
		if c.Result == ResultOK {
			nr.Passed++
		} else {
			nr.Failed++
		}
		if c.Result != ResultUnreachable {
			lat = append(lat, c.LatencyMicros)
		}
		if ev != nil {
			nr.Evidence = append(nr.Evidence, *ev)
		}
		if ctx.Err() != nil || c.Result == ResultUnreachable {
			break // an unreachable node is not asked again in this audit
		}
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		nr.LatencyMedianMicros, nr.LatencyMaxMicros = lat[len(lat)/2], lat[len(lat)-1]
	}
	if opts.Submit {
		for _, ev := range nr.Evidence {
			nr.Submitted = append(nr.Submitted, a.submit(ctx, ev))
		}
	}
	return nr
}

// draw is one leaf to ask for: piece held[piece], leaf leaf.
type draw struct {
	piece int
	leaf  uint64
}

// drawLeaves picks k distinct leaves of the held pieces, each a random
// piece and then a random leaf of it: all of them (in random order) when
// the pieces have at most 2k leaves in all, else by rejection (at most 64k
// draws, so a holder of a few small pieces among large ones may get fewer
// than k).
func drawLeaves(rng *rand.Rand, held []chain.HeldPiece, k int) []draw {
	var total uint64
	for _, hp := range held {
		total += min(hp.Piece.Leaves, uint64(2*k+1)) // enough to compare with 2k, no overflow
	}
	var out []draw
	if total <= uint64(2*k) {
		for i, hp := range held {
			for l := range hp.Piece.Leaves {
				out = append(out, draw{i, l})
			}
		}
		rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
		return out[:min(k, len(out))]
	}
	seen := make(map[draw]bool, k)
	for tries := 0; len(out) < k && tries < 64*k; tries++ {
		i := rng.IntN(len(held))
		if held[i].Piece.Leaves == 0 {
			continue
		}
		d := draw{i, rng.Uint64N(held[i].Piece.Leaves)}
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

// check asks holder pid for one leaf of hp and judges the answer; a signed
// wrong answer is returned as evidence.
func (a *Auditor) check(ctx context.Context, pid peer.ID, holder chain.Address, hp chain.HeldPiece, leaf uint64) (Check, *chain.LeafAnswer) {
	pc := hp.Piece
	c := Check{File: hp.File, Segment: pc.Segment, Index: pc.Index, Piece: pc.ID, Leaf: leaf}
	rctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
	defer cancel()
	start := time.Now()
	ans, err := a.lv.RequestLeaf(rctx, pid, exchange.LeafRequest{
		File: hp.File, Segment: pc.Segment, Index: pc.Index, Piece: exchange.PieceID(pc.ID), Root: pc.Root, Leaf: leaf,
	})
	c.LatencyMicros = time.Since(start).Microseconds()
	if err != nil {
		var re *exchange.RemoteError
		if errors.As(err, &re) {
			c.Result = ResultRefused
		} else {
			c.Result = ResultUnreachable
		}
		c.Error = err.Error()
		return c, nil
	}
	la := chain.LeafAnswer{Holder: holder, File: hp.File, Segment: pc.Segment, Index: pc.Index, Piece: pc.ID, Leaf: leaf,
		Proof: ans.Proof, PubKey: ans.PubKey, Sig: ans.Sig}
	if err := la.VerifySignature(a.lc.ChainID()); err != nil {
		c.Result, c.Error = ResultUnsigned, err.Error()
		return c, nil
	}
	if err := la.Judge(pc); err != nil {
		c.Result, c.Error = ResultWrong, err.Error()
		a.log.Warn("a holder signed a wrong leaf answer", "holder", holder, "piece", pc.ID, "leaf", leaf, "err", err)
		return c, &la
	}
	c.Result = ResultOK
	return c, nil
}

// submit puts one piece of evidence on the ledger.
func (a *Auditor) submit(ctx context.Context, ev chain.LeafAnswer) Submission {
	s := Submission{Evidence: ev.EvidenceID(a.lc.ChainID())}
	res, err := a.sub.BroadcastCommit(ctx, &chain.ReportFault{Answer: ev})
	if err != nil {
		s.Error = err.Error()
		return s
	}
	s.Tx, s.Height = res.Hash, res.Height
	return s
}
