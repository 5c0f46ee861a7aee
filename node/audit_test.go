package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/node/audit"
	"github.com/coop-network/coop/node/exchange"
	"github.com/coop-network/coop/proofs"
	"github.com/coop-network/coop/storage/blockstore"
)

// corruptSink is a holder whose copy of every piece has the first byte of
// each leaf flipped and that signs its answers without checking them
// against the recorded root: it serves a corrupted piece.
type corruptSink struct{ *holder }

func (s corruptSink) AnswerLeaf(ctx context.Context, r exchange.LeafRequest) (exchange.LeafAnswer, error) {
	rd, err := s.store.Open(ctx, blockstore.ID(r.Piece))
	if err != nil {
		return exchange.LeafAnswer{}, err
	}
	b, err := io.ReadAll(io.NewSectionReader(rd, 0, rd.Size()))
	rd.Close()
	if err != nil {
		return exchange.LeafAnswer{}, err
	}
	for off := 0; off < len(b); off += proofs.LeafSize {
		b[off] ^= 0xff
	}
	pr, err := proofs.ProveAt(bytes.NewReader(b), int64(len(b)), r.Leaf)
	if err != nil {
		return exchange.LeafAnswer{}, err
	}
	raw, _ := pr.MarshalBinary()
	a := chain.LeafAnswer{File: chain.Hash(r.File), Segment: r.Segment, Index: r.Index, Piece: chain.Hash(r.Piece), Leaf: r.Leaf, Proof: raw}
	a.Sign(s.key, s.lc.ChainID())
	return exchange.LeafAnswer{Proof: raw, PubKey: a.PubKey, Sig: a.Sig}, nil
}

// TestAuditCatchesAHolderServingACorruptedPiece runs four real nodes on the
// real ledger rules. One holder serves corrupted leaves, signed: the audit
// shows every check of it wrong, with evidence, and every check of the
// honest holders passing with a measured latency; with Submit the evidence
// goes on the ledger as ReportFault, which counts: the liar's score drops,
// its faults count, a piece of it is lost (reason fault); the evidence
// cannot be counted twice.
func TestAuditCatchesAHolderServingACorruptedPiece(t *testing.T) {
	nodes, l := startMemNetwork(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	data := make([]byte, 3<<20+777)
	_, _ = rand.Read(data)
	res, err := nodes[0].Put(ctx, bytes.NewReader(data), int64(len(data)), api.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitCredited(t, nodes, res)
	holders := map[string]bool{}
	for _, p := range res.Pieces {
		holders[p.Holder] = true
	}
	var liar *Node
	for _, n := range nodes[1:] {
		if holders[n.addr.String()] {
			liar = n
			break
		}
	}
	if liar == nil {
		t.Fatalf("no holder besides the putter: %+v", res.Pieces)
	}
	_ = liar.x.Close()
	x, err := exchange.New(liar.host.Libp2p(), liar.cfg.Exchange, storeSource{liar.store}, corruptSink{liar.hold})
	if err != nil {
		t.Fatal(err)
	}
	liar.x = x
	auditor := nodes[0]

	const leaves = 6
	rep, err := auditor.Audit(ctx, audit.Options{Leaves: leaves})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Nodes) != 4 || rep.Leaves != leaves || rep.ChainID != l.chainID {
		t.Fatalf("report of %d nodes, %d leaves, chain %q", len(rep.Nodes), rep.Leaves, rep.ChainID)
	}
	sawHonest := false
	for _, nr := range rep.Nodes {
		pieces, err := auditor.lc.Pieces(ctx, nr.Address)
		if err != nil {
			t.Fatal(err)
		}
		node, _ := auditor.lc.Node(ctx, nr.Address)
		var total uint64
		for _, hp := range pieces {
			total += hp.Piece.Leaves
		}
		want := int(min(leaves, total)) // distinct leaves
		if nr.Pieces != len(pieces) || nr.Stored != node.Used || nr.Pledged != node.Pledge || nr.Status != chain.NodeActive || nr.Score != 1000 {
			t.Fatalf("report %+v does not match the ledger record %+v (%d pieces)", nr, node, len(pieces))
		}
		switch {
		case nr.Address == auditor.addr:
			if len(nr.Checks) != 0 {
				t.Fatalf("the auditor checked itself: %+v", nr.Checks)
			}
		case len(pieces) == 0:
			if len(nr.Checks) != 0 || nr.Error != "" {
				t.Fatalf("a node holding nothing: %+v", nr)
			}
		case nr.Address == liar.addr:
			if nr.Failed != want || nr.Passed != 0 || len(nr.Evidence) != want {
				t.Fatalf("liar: %d failed, %d passed, %d evidence: %+v", nr.Failed, nr.Passed, len(nr.Evidence), nr.Checks)
			}
			for i, c := range nr.Checks {
				if c.Result != audit.ResultWrong || !strings.Contains(c.Error, "root") {
					t.Fatalf("liar check %d: %+v", i, c)
				}
				ev := nr.Evidence[i]
				if ev.Holder != liar.addr || ev.Piece != c.Piece || ev.Leaf != c.Leaf || ev.VerifySignature(l.chainID) != nil {
					t.Fatalf("evidence %d %+v for check %+v", i, ev, c)
				}
			}
		default:
			sawHonest = true
			if nr.Passed != want || nr.Failed != 0 || len(nr.Evidence) != 0 || nr.LatencyMaxMicros <= 0 || nr.LatencyMedianMicros > nr.LatencyMaxMicros {
				t.Fatalf("honest holder %s: %+v", nr.Address, nr)
			}
		}
	}
	if !sawHonest {
		t.Fatal("no honest holder was spot-checked")
	}

	// Submit: the ledger verifies and counts the evidence.
	rep, err = auditor.Audit(ctx, audit.Options{Target: liar.host.ID().String(), Leaves: 3, Submit: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Nodes) != 1 || rep.Nodes[0].Address != liar.addr {
		t.Fatalf("audit by peer id reported %+v", rep.Nodes)
	}
	nr := rep.Nodes[0]
	if len(nr.Submitted) != len(nr.Evidence) || len(nr.Evidence) == 0 {
		t.Fatalf("%d evidence, %d submitted", len(nr.Evidence), len(nr.Submitted))
	}
	committed := 0
	for _, s := range nr.Submitted {
		switch {
		case s.Error == "":
			committed++
			var rec chain.FaultRecord
			if err := l.query(ctx, chain.QueryFault+s.Evidence.String(), &rec); err != nil || rec.Holder != liar.addr || rec.Reporter != auditor.addr {
				t.Fatalf("fault record %+v: %v", rec, err)
			}
		case strings.Contains(s.Error, "not credited"): // a second wrong leaf of a piece already lost
		default:
			t.Fatalf("submission refused: %+v", s)
		}
	}
	if committed == 0 {
		t.Fatal("no evidence was counted")
	}
	after, err := auditor.lc.Node(ctx, liar.addr)
	if err != nil {
		t.Fatal(err)
	}
	if after.Faults != uint64(committed) || after.PiecesLost != uint64(committed) || chain.AuditScore(&after) >= 1000 {
		t.Fatalf("liar after %d counted faults: %+v (score %d)", committed, after, chain.AuditScore(&after))
	}
	lost, err := list[chain.LostPiece](ctx, l, chain.QueryLost)
	if err != nil {
		t.Fatal(err)
	}
	if len(lost) != committed || lost[0].Reason != chain.LostFault || lost[0].Piece.Holder != liar.addr {
		t.Fatalf("lost %+v after %d faults", lost, committed)
	}
	// The same evidence again is refused as counted.
	_, err = auditor.lc.BroadcastCommit(ctx, &chain.ReportFault{Answer: nr.Evidence[0]})
	if !errors.Is(err, chain.ErrExists) && !errors.Is(err, chain.ErrNotFound) {
		t.Fatalf("replayed evidence: %v", err)
	}
	// The next report reads the new record.
	rep, err = auditor.Audit(ctx, audit.Options{Target: liar.addr.String(), Leaves: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got := rep.Nodes[0]; got.Faults != after.Faults || got.PiecesLost != after.PiecesLost || got.Score != chain.AuditScore(&after) {
		t.Fatalf("report after the faults: %+v, ledger %+v", got, after)
	}

	// An honest holder signs only proofs of the root the request names: a
	// wrong root or a leaf past the piece's end is refused, unsigned.
	for _, h := range nodes[1:] {
		if h == liar {
			continue
		}
		pieces, err := auditor.lc.Pieces(ctx, h.addr)
		if err != nil || len(pieces) == 0 {
			continue
		}
		pc := pieces[0].Piece
		req := exchange.LeafRequest{File: pieces[0].File, Segment: pc.Segment, Index: pc.Index, Piece: exchange.PieceID(pc.ID), Root: pc.Root, Leaf: pc.Leaves - 1}
		ans, err := auditor.x.RequestLeaf(ctx, h.host.ID(), req)
		if err != nil {
			t.Fatal(err)
		}
		la := chain.LeafAnswer{Holder: h.addr, File: req.File, Segment: pc.Segment, Index: pc.Index, Piece: pc.ID, Leaf: req.Leaf, Proof: ans.Proof, PubKey: ans.PubKey, Sig: ans.Sig}
		if la.VerifySignature(l.chainID) != nil || la.Judge(pc) != nil {
			t.Fatalf("honest answer does not verify: %v %v", la.VerifySignature(l.chainID), la.Judge(pc))
		}
		wrongRoot := req
		wrongRoot.Root[0] ^= 1
		var re *exchange.RemoteError
		if _, err := auditor.x.RequestLeaf(ctx, h.host.ID(), wrongRoot); !errors.As(err, &re) || re.Status != exchange.StatusNotFound {
			t.Fatalf("wrong root: %v", err)
		}
		past := req
		past.Leaf = pc.Leaves
		if _, err := auditor.x.RequestLeaf(ctx, h.host.ID(), past); !errors.As(err, &re) || re.Status != exchange.StatusBadRequest {
			t.Fatalf("leaf past the end: %v", err)
		}
		break
	}

	// The HTTP API serves the same report.
	home := t.TempDir()
	tok, err := api.EnsureToken(home)
	if err != nil {
		t.Fatal(err)
	}
	acfg := api.DefaultConfig()
	acfg.Listen = "127.0.0.1:0"
	srv, err := api.Start(acfg, home, tok, auditor)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	viaAPI, err := api.NewClient(srv.URL(), tok).Audit(ctx, audit.Options{Target: liar.addr.String(), Leaves: 2})
	if err != nil {
		t.Fatal(err)
	}
	left, err := auditor.lc.Pieces(ctx, liar.addr)
	if err != nil {
		t.Fatal(err)
	}
	var leftLeaves uint64
	for _, hp := range left {
		leftLeaves += hp.Piece.Leaves
	}
	if got := viaAPI.Nodes[0]; len(viaAPI.Nodes) != 1 || got.Faults != after.Faults || got.Pieces != len(left) ||
		got.Failed != len(got.Checks) || len(got.Evidence) != got.Failed || uint64(got.Failed) != min(2, leftLeaves) {
		t.Fatalf("report via the API: %+v", viaAPI.Nodes)
	}
	if _, err := api.NewClient(srv.URL(), tok).Audit(ctx, audit.Options{Target: "nobody"}); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("unknown target via the API: %v", err)
	}

	// Unknown targets and bad options are refused with their API class.
	if _, err := auditor.Audit(ctx, audit.Options{Target: "12D3KooWnotanode"}); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("unknown target: %v", err)
	}
	if _, err := auditor.Audit(ctx, audit.Options{Leaves: audit.MaxLeaves + 1}); !errors.Is(err, api.ErrInvalid) {
		t.Fatalf("too many leaves: %v", err)
	}
}
