package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"sync"
	"testing"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/exchange"
	"github.com/coop-network/coop/node/ledger"
	"github.com/coop-network/coop/proofs"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

const testChain = "audit-test"

// fakeLedger serves fixed nodes and pieces.
type fakeLedger struct {
	nodes  []chain.Node
	pieces map[chain.Address][]chain.HeldPiece
}

func (f *fakeLedger) ChainID() string { return testChain }
func (f *fakeLedger) Params(context.Context) (chain.Params, error) {
	return chain.DefaultParams(), nil
}
func (f *fakeLedger) Nodes(context.Context) ([]chain.Node, error) { return f.nodes, nil }
func (f *fakeLedger) Pieces(_ context.Context, a chain.Address) ([]chain.HeldPiece, error) {
	return f.pieces[a], nil
}

// holderKit is one holder: its key, peer id and the bytes of its pieces.
type holderKit struct {
	key  ed25519.PrivateKey
	addr chain.Address
	id   peer.ID
	data map[chain.Hash][]byte
}

func newHolderKit(t *testing.T) *holderKit {
	pub, key, _ := ed25519.GenerateKey(nil)
	lk, err := crypto.UnmarshalEd25519PublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPublicKey(lk)
	if err != nil {
		t.Fatal(err)
	}
	return &holderKit{key: key, addr: chain.AddressOf(pub), id: id, data: map[chain.Hash][]byte{}}
}

// fakeLeaves answers leaf requests per peer with answer.
type fakeLeaves map[peer.ID]func(exchange.LeafRequest) (exchange.LeafAnswer, error)

func (f fakeLeaves) RequestLeaf(_ context.Context, p peer.ID, r exchange.LeafRequest) (exchange.LeafAnswer, error) {
	if ans, ok := f[p]; ok {
		return ans(r)
	}
	return exchange.LeafAnswer{}, &exchange.UnreachableError{Peer: p, Err: errors.New("no route")}
}

// honest answers from h's bytes, signed by signer (h's key for an honest
// holder), with the leaf's first byte flipped if corrupt.
func (h *holderKit) answer(signer ed25519.PrivateKey, corrupt bool) func(exchange.LeafRequest) (exchange.LeafAnswer, error) {
	return func(r exchange.LeafRequest) (exchange.LeafAnswer, error) {
		b := bytes.Clone(h.data[chain.Hash(r.Piece)])
		if corrupt {
			b[r.Leaf*proofs.LeafSize] ^= 1
		}
		pr, err := proofs.ProveAt(bytes.NewReader(b), int64(len(b)), r.Leaf)
		if err != nil {
			return exchange.LeafAnswer{}, err
		}
		raw, _ := pr.MarshalBinary()
		a := chain.LeafAnswer{Holder: h.addr, File: chain.Hash(r.File), Segment: r.Segment, Index: r.Index, Piece: chain.Hash(r.Piece), Leaf: r.Leaf, Proof: raw}
		a.Sign(signer, testChain)
		return exchange.LeafAnswer{Proof: raw, PubKey: a.PubKey, Sig: a.Sig}, nil
	}
}

// hold gives h one piece of size bytes of file f.
func (h *holderKit) hold(l *fakeLedger, f chain.Hash, size int) {
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(i*7 + size)
	}
	id := chain.Hash(proofs.Root(append([]byte("id"), b...)))
	h.data[id] = b
	l.pieces[h.addr] = append(l.pieces[h.addr], chain.HeldPiece{File: f, Piece: chain.Piece{
		Segment: uint32(len(l.pieces[h.addr])), Holder: h.addr, ID: id, Size: uint64(size), Root: chain.Hash(proofs.Root(b)), Leaves: proofs.LeafCount(int64(size)),
	}})
}

type fakeSubmitter struct {
	mu  sync.Mutex
	got []chain.Body
}

func (s *fakeSubmitter) BroadcastCommit(_ context.Context, b chain.Body) (ledger.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, b)
	if len(s.got) > 1 {
		return ledger.Result{}, &ledger.RejectedError{Code: chain.CodeNotFound, Log: "not credited", Height: 9}
	}
	return ledger.Result{Hash: chain.Hash{1}, Height: 8}, nil
}

// Each kind of answer gets its result: honest → ok; signed wrong →
// wrong, with evidence that verifies; signed by another key → unsigned,
// no evidence; an error answer → refused; no answer → unreachable, and
// the node is not asked again. The
// report carries the ledger record (score, counters, uptime percent), the
// auditor itself is not spot-checked, a node holding nothing gets no
// checks, and Submit sends one ReportFault per piece of evidence,
// recording each outcome.
func TestAuditResults(t *testing.T) {
	l := &fakeLedger{pieces: map[chain.Address][]chain.HeldPiece{}}
	kits := make([]*holderKit, 7)
	for i := range kits {
		kits[i] = newHolderKit(t)
		if i < 6 {
			kits[i].hold(l, chain.Hash{byte(i)}, 3*proofs.LeafSize+100)
			kits[i].hold(l, chain.Hash{byte(i), 1}, 500)
		}
		l.nodes = append(l.nodes, chain.Node{Address: kits[i].addr, PeerID: kits[i].id.String(), Status: chain.NodeActive,
			Uptime: []bool{true, true, false, true}, ProofsPassed: 3, ProofsMissed: 1, Faults: uint64(i), Used: 1000, Pledge: 5000})
	}
	honest, liar, forger, refuser, gone, self, empty := kits[0], kits[1], kits[2], kits[3], kits[4], kits[5], kits[6]
	other := newHolderKit(t)
	lv := fakeLeaves{
		honest.id: honest.answer(honest.key, false),
		liar.id:   liar.answer(liar.key, true),
		forger.id: forger.answer(other.key, true),
		refuser.id: func(exchange.LeafRequest) (exchange.LeafAnswer, error) {
			return exchange.LeafAnswer{}, &exchange.RemoteError{Status: exchange.StatusNotFound}
		},
		self.id: honest.answer(honest.key, false),
	}
	sub := &fakeSubmitter{}
	a := New(l, lv, sub, Config{Self: self.addr})
	rep, err := a.Audit(context.Background(), Options{Leaves: 5, Submit: true})
	if err != nil {
		t.Fatal(err)
	}
	want := map[chain.Address]string{honest.addr: ResultOK, liar.addr: ResultWrong, forger.addr: ResultUnsigned, refuser.addr: ResultRefused, gone.addr: ResultUnreachable}
	if len(rep.Nodes) != 7 || rep.Leaves != 5 || rep.UptimeWindow != chain.DefaultParams().UptimeWindow {
		t.Fatalf("report %+v", rep)
	}
	for i, nr := range rep.Nodes {
		if nr.UptimePercent != 75 || nr.UptimeEpochs != 4 || nr.Score != 1000 || nr.ProofsMissed != 1 || nr.Faults != uint64(i) || nr.Stored != 1000 || nr.Pledged != 5000 {
			t.Fatalf("node %d ledger part %+v", i, nr)
		}
		switch nr.Address {
		case self.addr:
			if len(nr.Checks) != 0 || nr.Error == "" || nr.Pieces != 2 {
				t.Fatalf("self %+v", nr)
			}
			continue
		case empty.addr:
			if len(nr.Checks) != 0 || nr.Error != "" || nr.Pieces != 0 {
				t.Fatalf("empty %+v", nr)
			}
			continue
		}
		if nr.Address == gone.addr {
			// Unreachable once: not asked again.
			if len(nr.Checks) != 1 || nr.Checks[0].Result != ResultUnreachable || nr.Failed != 1 || nr.LatencyMaxMicros != 0 {
				t.Fatalf("unreachable node %+v", nr)
			}
			continue
		}
		if len(nr.Checks) != 5 {
			t.Fatalf("node %d: %d checks", i, len(nr.Checks))
		}
		for _, c := range nr.Checks {
			if c.Result != want[nr.Address] {
				t.Fatalf("node %d check %+v, want %s", i, c, want[nr.Address])
			}
		}
		if ok := want[nr.Address] == ResultOK; (nr.Passed == 5) != ok || (nr.Failed == 5) == ok {
			t.Fatalf("node %d: %d passed %d failed", i, nr.Passed, nr.Failed)
		}
		if nr.Address == liar.addr {
			if len(nr.Evidence) != 5 || len(nr.Submitted) != 5 {
				t.Fatalf("liar: %d evidence, %d submitted", len(nr.Evidence), len(nr.Submitted))
			}
			for _, ev := range nr.Evidence {
				if ev.VerifySignature(testChain) != nil || ev.Holder != liar.addr {
					t.Fatalf("evidence %+v", ev)
				}
			}
			if s := nr.Submitted[0]; s.Error != "" || s.Height != 8 || s.Evidence != nr.Evidence[0].EvidenceID(testChain) {
				t.Fatalf("first submission %+v", s)
			}
			if s := nr.Submitted[1]; s.Error == "" {
				t.Fatalf("refused submission %+v", s)
			}
		} else if len(nr.Evidence) != 0 || len(nr.Submitted) != 0 {
			t.Fatalf("node %d: evidence %+v", i, nr.Evidence)
		}
	}
	if len(sub.got) != 5 {
		t.Fatalf("%d submissions", len(sub.got))
	}
	if rf, ok := sub.got[0].(*chain.ReportFault); !ok || rf.Answer.Holder != liar.addr {
		t.Fatalf("submitted %+v", sub.got[0])
	}
}

// Targets by address and by peer id find the node; an unknown target,
// a leaf count out of range, and Submit without a submitter are refused.
func TestAuditTargetsAndOptions(t *testing.T) {
	l := &fakeLedger{pieces: map[chain.Address][]chain.HeldPiece{}}
	h := newHolderKit(t)
	l.nodes = []chain.Node{{Address: chain.Address{9}, PeerID: "x"}, {Address: h.addr, PeerID: h.id.String()}}
	a := New(l, fakeLeaves{}, nil, Config{})
	for _, target := range []string{h.addr.String(), h.id.String()} {
		rep, err := a.Audit(context.Background(), Options{Target: target})
		if err != nil || len(rep.Nodes) != 1 || rep.Nodes[0].Address != h.addr || rep.Leaves != DefaultLeaves {
			t.Fatalf("target %s: %+v %v", target, rep, err)
		}
	}
	for _, c := range []struct {
		opts Options
		want error
	}{
		{Options{Target: "nobody"}, ErrUnknownNode},
		{Options{Target: chain.Address{8}.String()}, ErrUnknownNode},
		{Options{Leaves: -1}, ErrInvalid},
		{Options{Leaves: MaxLeaves + 1}, ErrInvalid},
		{Options{Submit: true}, ErrInvalid},
	} {
		if _, err := a.Audit(context.Background(), c.opts); !errors.Is(err, c.want) {
			t.Fatalf("%+v: %v, want %v", c.opts, err, c.want)
		}
	}
}

// drawLeaves never asks for a leaf twice: with few leaves it takes all of
// them, with many it takes k distinct ones, each a leaf of its piece.
func TestDrawLeavesAreDistinct(t *testing.T) {
	rng := newRand()
	small := []chain.HeldPiece{{Piece: chain.Piece{Leaves: 3}}, {Piece: chain.Piece{Leaves: 1}}, {Piece: chain.Piece{Leaves: 0}}}
	if got := drawLeaves(rng, small, 10); len(got) != 4 {
		t.Fatalf("all of 4 leaves: %v", got)
	}
	if got := drawLeaves(rng, small, 3); len(got) != 3 {
		t.Fatalf("3 of 4 leaves: %v", got)
	}
	big := []chain.HeldPiece{{Piece: chain.Piece{Leaves: 20}}, {Piece: chain.Piece{Leaves: 1 << 40}}, {Piece: chain.Piece{Leaves: 1}}}
	for range 100 {
		for _, held := range [][]chain.HeldPiece{small, big} {
			got := drawLeaves(rng, held, 8)
			seen := map[draw]bool{}
			for _, d := range got {
				if seen[d] || d.leaf >= held[d.piece].Piece.Leaves {
					t.Fatalf("draws %v", got)
				}
				seen[d] = true
			}
			if len(held) == 3 && held[0].Piece.Leaves == 20 && len(got) != 8 {
				t.Fatalf("%d of 8 draws", len(got))
			}
		}
	}
}
