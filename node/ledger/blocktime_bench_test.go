package ledger

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/proofs"
)

// BenchmarkBlockTimeWithProvers measures the block interval of a loopback
// devnet of in-process validators configured as `coop devnet` configures
// them (400 ms blocks; 10-block epochs, 4 s) while 100 registered holders
// each hold one 16 MiB piece and send their ProveStorage every epoch,
// against the same network while they hold nothing and send nothing.
//
// The phases run on one network, epoch by epoch: k idle epochs, an epoch
// that places the pieces (K = 1, M = 99: one piece per holder), k proving
// epochs, an epoch that removes the file, k idle epochs again (k = 3·b.N).
// The place and remove epochs are left out of both means. Each proving
// epoch, once every validator has executed its first block, the bench
// reads each holder's challenges, answers them from the piece's tree (one
// synthetic content, built once) and spreads the 100 signed txs over the
// validators' mempools; afterwards it checks every holder was recorded
// proved in every proving epoch.
//
// It reports the mean block interval (consensus header times, node 0's
// block store) of the idle and proving epochs in seconds, their ratio
// (interval-ratio, the figure), the mean interval that follows a block
// carrying proofs over the idle mean (proof-block-ratio), the proof tx
// bytes per epoch and the largest block.
func BenchmarkBlockTimeWithProvers(b *testing.B) {
	if testing.Short() {
		b.Skip("starts 1- and 4-validator devnets and runs 11 epochs of 4 s on each (about 2 min): not under -short")
	}
	for _, vals := range []int{1, 4} {
		b.Run(fmt.Sprintf("validators=%d/holders=100", vals), func(b *testing.B) {
			benchProvers(b, vals, 100)
		})
	}
}

func benchProvers(b *testing.B, vals, holders int) {
	const (
		pieceSize   = 16 << 20
		epochLength = 10
	)
	k := 3 * b.N
	dc := TestNetConfig(b, vals)
	dc.BlockTime = DefaultDevnetConfig().BlockTime
	dc.Genesis.Params.EpochLength = epochLength
	dc.Genesis.Params.Allowance = 1 << 40
	owner := testAccountKey(10_000)
	keys := make([]ed25519.PrivateKey, holders)
	dc.ExtraAccounts = append(dc.ExtraAccounts, chain.GenesisAccount{Address: AddressOf(owner), Credits: 1 << 40})
	for i := range keys {
		keys[i] = testAccountKey(10_001 + i)
		dc.ExtraAccounts = append(dc.ExtraAccounts, chain.GenesisAccount{Address: AddressOf(keys[i]), Credits: 1 << 40})
	}
	piece := newSynthPiece(b, pieceSize)

	tn := StartTestNet(b, dc)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	pb := &proverBench{b: b, tn: tn, ctx: ctx, nonces: map[chain.Address]uint64{}, epochLength: epochLength}

	// Register the holders.
	var regs []signedTx
	for _, k := range keys {
		pid, err := chain.PeerIDOf(k.Public().(ed25519.PublicKey))
		if err != nil {
			b.Fatal(err)
		}
		regs = append(regs, pb.sign(k, &chain.RegisterNode{PeerID: pid, Addrs: []string{"/ip4/127.0.0.1/tcp/4001"}, Pledge: 1 << 40, CPU: 1}))
	}
	pb.submitAll(regs)
	pb.waitCommitted(regs)

	// One file whose single segment has one piece on each holder.
	file := chain.Hash(sha256.Sum256([]byte("proving holders")))
	place := &chain.PlaceFile{FileID: file, Size: pieceSize, K: 1, M: uint32(holders - 1)}
	for i, k := range keys {
		id := sha256.Sum256(binary.BigEndian.AppendUint64([]byte("synthetic piece"), uint64(i)))
		place.Pieces = append(place.Pieces, chain.Piece{Segment: 0, Index: uint32(i), Holder: AddressOf(k), ID: id, Size: pieceSize, Root: piece.root, Leaves: proofs.LeafCount(pieceSize)})
	}

	b.ResetTimer()
	var idle, proving []int64 // epochs
	e := pb.nextEpoch()
	for range k {
		idle = append(idle, e)
		e = pb.nextEpoch()
	}
	expires := pb.tn.Height(0) + 100
	for _, k := range keys {
		ps := []chain.ReceiptPiece{}
		for _, p := range place.Pieces {
			if p.Holder == AddressOf(k) {
				ps = append(ps, chain.ReceiptPiece{ID: p.ID, Root: p.Root, Size: p.Size, Leaves: p.Leaves})
			}
		}
		place.Receipts = append(place.Receipts, chain.SignReceipt(k, dc.ChainID, file, AddressOf(owner), expires, ps))
	}
	tx := pb.sign(owner, place)
	pb.submitAll([]signedTx{tx})
	pb.waitCommitted([]signedTx{tx})
	e = pb.nextEpoch()
	for range k {
		proving = append(proving, e)
		var txs []signedTx
		for _, hk := range keys {
			set := pb.challenges(AddressOf(hk))
			if int64(set.Epoch) != e || len(set.Challenges) == 0 {
				b.Fatalf("holder %s: %d challenges of epoch %d in epoch %d", AddressOf(hk), len(set.Challenges), set.Epoch, e)
			}
			txs = append(txs, pb.sign(hk, piece.answer(b, set)))
		}
		pb.submitAll(txs)
		pb.proofBytes += bytesOf(txs)
		e = pb.nextEpoch()
	}
	tx = pb.sign(owner, &chain.RemoveFile{FileID: file})
	pb.submitAll([]signedTx{tx})
	pb.waitCommitted([]signedTx{tx})
	e = pb.nextEpoch()
	for range k {
		idle = append(idle, e)
		e = pb.nextEpoch()
	}
	b.StopTimer()

	for _, pe := range proving {
		for _, hk := range keys {
			var o chain.EpochOutcome
			if err := pb.query(fmt.Sprintf("%s%d/%s", chain.QueryOutcome, pe, AddressOf(hk)), &o); err != nil || o.Outcome != chain.OutcomeProved {
				b.Fatalf("holder %s epoch %d: %+v %v", AddressOf(hk), pe, o, err)
			}
		}
	}
	bs := tn.Nodes[0].Comet().BlockStore()
	// interval(h) is the time from block h−1 to block h; it belongs to the
	// epoch of h.
	interval := func(h int64) float64 {
		return bs.LoadBlockMeta(h).Header.Time.Sub(bs.LoadBlockMeta(h - 1).Header.Time).Seconds()
	}
	mean := func(epochs []int64) float64 {
		var sum float64
		var n int
		for _, ep := range epochs {
			for h := ep*epochLength + 1; h <= (ep+1)*epochLength; h++ {
				sum += interval(h)
				n++
			}
		}
		return sum / float64(n)
	}
	var after float64
	var carrying, largest int
	for _, ep := range proving {
		for h := ep*epochLength + 1; h <= (ep+1)*epochLength; h++ {
			blk, _ := bs.LoadBlock(h)
			if len(blk.Data.Txs) > 0 {
				after += interval(h + 1)
				carrying++
				largest = max(largest, blk.Size())
			}
		}
	}
	idleMean, provingMean := mean(idle), mean(proving)
	b.ReportMetric(idleMean, "s/block-idle")
	b.ReportMetric(provingMean, "s/block-proving")
	b.ReportMetric(provingMean/idleMean, "interval-ratio")
	b.ReportMetric(after/float64(carrying)/idleMean, "proof-block-ratio")
	b.ReportMetric(float64(pb.proofBytes)/float64(len(proving)), "proof-B/epoch")
	b.ReportMetric(float64(largest), "B/largest-block")
	b.ReportMetric(float64(carrying)/float64(len(proving)), "proof-blocks/epoch")
}

// proverBench drives the devnet of BenchmarkBlockTimeWithProvers.
type proverBench struct {
	b           *testing.B
	tn          *TestNet
	ctx         context.Context
	nonces      map[chain.Address]uint64
	epochLength int64
	proofBytes  int
	next        int // the validator the next tx goes to
}

type signedTx struct {
	from  chain.Address
	nonce uint64
	raw   []byte
}

func bytesOf(txs []signedTx) int {
	n := 0
	for _, t := range txs {
		n += len(t.raw)
	}
	return n
}

func (pb *proverBench) sign(k ed25519.PrivateKey, body chain.Body) signedTx {
	a := AddressOf(k)
	tx, err := chain.NewTx(pb.tn.Config.ChainID, body, k, pb.nonces[a])
	if err != nil {
		pb.b.Fatal(err)
	}
	pb.nonces[a]++
	return signedTx{from: a, nonce: pb.nonces[a] - 1, raw: tx.Bytes()}
}

// submitAll hands the txs to the validators' mempools, round robin, each
// validator's share from its own goroutine.
func (pb *proverBench) submitAll(txs []signedTx) {
	vals := len(pb.tn.Nodes)
	byNode := make([][]signedTx, vals)
	for _, t := range txs {
		byNode[pb.next%vals] = append(byNode[pb.next%vals], t)
		pb.next++
	}
	var wg sync.WaitGroup
	errs := make(chan error, vals)
	for v, share := range byNode {
		rpc := pb.tn.Nodes[v].rpcLocal()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, t := range share {
				if err := submit(pb.ctx, rpc, t.raw); err != nil {
					errs <- fmt.Errorf("validator %d, tx of %s: %w", v, t.from, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		pb.b.Fatal(err)
	}
}

func (pb *proverBench) query(path string, v any) error {
	res, err := pb.tn.Nodes[0].App().Query(pb.ctx, &abci.QueryRequest{Path: path})
	if err != nil {
		return err
	}
	if res.Code != 0 {
		return fmt.Errorf("code %d: %s", res.Code, res.Log)
	}
	return chain.Unmarshal(res.Value, v)
}

// waitCommitted waits until node 0 has executed every tx (their signers'
// nonces moved past them) and every validator has caught up with it.
func (pb *proverBench) waitCommitted(txs []signedTx) {
	for _, t := range txs {
		for {
			var a chain.AccountView
			if err := pb.query(chain.QueryAccount+t.from.String(), &a); err != nil {
				pb.b.Fatal(err)
			}
			if a.Nonce > t.nonce {
				break
			}
			select {
			case <-pb.ctx.Done():
				pb.b.Fatalf("tx %d of %s not committed", t.nonce, t.from)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	pb.tn.WaitHeight(pb.tn.Height(0), time.Minute)
}

// nextEpoch waits until every validator has executed the first block of
// the epoch after node 0's current one, and returns its number.
func (pb *proverBench) nextEpoch() int64 {
	e := (pb.tn.Height(0)-1)/pb.epochLength + 1
	pb.tn.WaitHeight(e*pb.epochLength+1, time.Minute)
	return e
}

func (pb *proverBench) challenges(holder chain.Address) chain.ChallengeSet {
	var set chain.ChallengeSet
	if err := pb.query(chain.QueryChallenges+holder.String(), &set); err != nil {
		pb.b.Fatal(err)
	}
	return set
}

// synthPiece is one piece content (ChaCha8 bytes) and its tree, which
// answers the challenges of every holder's copy.
type synthPiece struct {
	data []byte
	tree *proofs.Tree
	root chain.Hash
}

func newSynthPiece(b testing.TB, size int) *synthPiece {
	var seed [32]byte
	binary.BigEndian.PutUint64(seed[:], uint64(size))
	data := make([]byte, size)
	_, _ = rand.NewChaCha8(seed).Read(data)
	tree, err := proofs.BuildTree(bytes.NewReader(data))
	if err != nil {
		b.Fatal(err)
	}
	return &synthPiece{data: data, tree: tree, root: chain.Hash(proofs.Root(data))}
}

// answer is the ProveStorage answering set.
func (p *synthPiece) answer(b testing.TB, set chain.ChallengeSet) *chain.ProveStorage {
	body := &chain.ProveStorage{Epoch: set.Epoch, Challenges: chain.ChallengesHash(set.Challenges)}
	for _, c := range set.Challenges {
		lo := c.Leaf * proofs.LeafSize
		pr, err := p.tree.Prove(c.Leaf, p.data[lo:min(lo+proofs.LeafSize, uint64(len(p.data)))])
		if err != nil {
			b.Fatal(err)
		}
		raw, err := pr.MarshalBinary()
		if err != nil {
			b.Fatal(err)
		}
		body.Proofs = append(body.Proofs, raw)
	}
	return body
}
