package sim

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	dht "github.com/libp2p/go-libp2p-kad-dht"
	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/core/routing"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	ma "github.com/multiformats/go-multiaddr"
)

// DHTPrefix is the DHT protocol prefix the simulated nodes use: coop's
// (node/p2p's default DHTPrefix).
const DHTPrefix = "/coop"

// BucketSize is kad-dht's k, the number of closest peers a lookup returns.
const BucketSize = 20

// Options configure a lookup experiment.
type Options struct {
	// Nodes is the number of DHT nodes (at least 2).
	Nodes int
	// Seed fixes identities, join order, bootstrap peers, refresh targets,
	// lookup origins and keys.
	Seed uint64
	// Bootstrap is how many random earlier nodes each joining node connects
	// to (fewer for the first nodes). Default 3.
	Bootstrap int
	// RefreshRounds is how many times every node refreshes its routing
	// table once all have joined. A refresh is a lookup of the node's own
	// ID, then one of a seeded random key at each common prefix length
	// 0..c with the node's ID, where c is the longest common prefix in its
	// routing table (at most 15), as kad-dht's own refresh does. Default 1.
	RefreshRounds int
	// Lookups is how many lookups to measure, each from a random node for
	// a random 32-byte key. Default 200.
	Lookups int
	// LookupTimeout bounds each lookup. Default 30s.
	LookupTimeout time.Duration
	// JoinTimeout bounds the wait for a joining node's routing table to
	// hold one of its bootstrap peers. Default 30s.
	JoinTimeout time.Duration
}

func (o *Options) defaults() error {
	if o.Nodes < 2 {
		return fmt.Errorf("sim: Nodes = %d, need at least 2", o.Nodes)
	}
	if o.Bootstrap == 0 {
		o.Bootstrap = 3
	}
	if o.Bootstrap < 1 {
		return fmt.Errorf("sim: Bootstrap = %d, need at least 1", o.Bootstrap)
	}
	if o.RefreshRounds == 0 {
		o.RefreshRounds = 1
	}
	if o.RefreshRounds < 0 {
		return fmt.Errorf("sim: RefreshRounds = %d, must not be negative", o.RefreshRounds)
	}
	if o.Lookups == 0 {
		o.Lookups = 200
	}
	if o.Lookups < 1 {
		return fmt.Errorf("sim: Lookups = %d, need at least 1", o.Lookups)
	}
	if o.LookupTimeout == 0 {
		o.LookupTimeout = 30 * time.Second
	}
	if o.JoinTimeout == 0 {
		o.JoinTimeout = 30 * time.Second
	}
	return nil
}

// Lookup is the record of one measured lookup.
type Lookup struct {
	// Origin is the node that ran the lookup; Key the key it looked up.
	Origin peer.ID
	Key    string
	// Hops is the depth, in the lookup's discovery tree, of the true
	// closest peer to the key (see Trace.Depth). -1 if the lookup never
	// heard of it.
	Hops int
	// Contacted is how many distinct peers the lookup sent a query to.
	Contacted int
	// Errors is how many of those queries (or dials) failed, and
	// FirstError the first failure's message.
	Errors     int
	FirstError string
	// Exact reports whether the lookup returned exactly the true k closest
	// peers to the key (brute force over XOR distance, the origin excluded).
	Exact bool
	// Found is how many of the true k closest the lookup returned.
	Found int
	// Err is the lookup's error, if any.
	Err error
}

// Result is the outcome of one experiment.
type Result struct {
	Options Options
	// Lookups holds every measured lookup in order.
	Lookups []Lookup
	// Setup is the time to build the network (join and refresh), Measure
	// the time of the measured lookups.
	Setup, Measure time.Duration
	// MeanRoutingTable is the mean routing-table size after refresh.
	MeanRoutingTable float64
}

// Summary is the aggregate of a Result.
type Summary struct {
	Nodes                  int
	Log2N                  float64
	Lookups                int
	MeanHops               float64
	P95Hops, MaxHops       int
	MeanContacted          float64
	P95Contacted           int
	Exact                  int // lookups that returned the true k closest
	Missed                 int // lookups that never heard of the closest peer
	Failed                 int // lookups that returned an error
	MeanRoutingTable       float64
	SetupSecs, MeasureSecs float64
}

// Summarize aggregates r. p95 is the nearest-rank 95th percentile.
func (r *Result) Summarize() Summary {
	s := Summary{
		Nodes:            r.Options.Nodes,
		Log2N:            math.Log2(float64(r.Options.Nodes)),
		Lookups:          len(r.Lookups),
		MeanRoutingTable: r.MeanRoutingTable,
		SetupSecs:        r.Setup.Seconds(),
		MeasureSecs:      r.Measure.Seconds(),
	}
	var hops, contacted []int
	for _, l := range r.Lookups {
		if l.Err != nil {
			s.Failed++
		}
		if l.Exact {
			s.Exact++
		}
		if l.Hops < 0 {
			s.Missed++
		} else {
			hops = append(hops, l.Hops)
		}
		contacted = append(contacted, l.Contacted)
	}
	s.MeanHops, s.P95Hops, s.MaxHops = stats(hops)
	s.MeanContacted, s.P95Contacted, _ = stats(contacted)
	return s
}

// stats returns the mean, nearest-rank 95th percentile and maximum of xs.
func stats(xs []int) (mean float64, p95, maxV int) {
	if len(xs) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	sum := 0
	for _, x := range s {
		sum += x
	}
	rank := int(math.Ceil(0.95*float64(len(s)))) - 1
	return float64(sum) / float64(len(s)), s[rank], s[len(s)-1]
}

// Trace is the discovery tree of one lookup, built from the query events
// kad-dht publishes (routing.RegisterForQueryEvents).
//
// The origin knows some peers before the lookup (its routing table): a peer
// the lookup queries without any earlier response having named it has depth
// 0. A peer first named in the response of a peer of depth d has depth d+1;
// the responder is its parent. "First" is the order in which the events
// reached the trace. The hops of a lookup are the depth of the true closest
// peer to the key: the number of responses, one after another, that led
// from the origin's own knowledge to that peer (0 if the origin already knew
// it). Equivalently, the depth of the peer that first returned it, counting
// the origin's routing-table peers as depth 1.
type Trace struct {
	depth   map[peer.ID]int
	parent  map[peer.ID]peer.ID
	queried map[peer.ID]bool
	errors  int
	first   string
}

func newTrace() *Trace {
	return &Trace{depth: map[peer.ID]int{}, parent: map[peer.ID]peer.ID{}, queried: map[peer.ID]bool{}}
}

func (t *Trace) add(ev *routing.QueryEvent) {
	switch ev.Type {
	case routing.SendingQuery:
		t.queried[ev.ID] = true
		if _, ok := t.depth[ev.ID]; !ok {
			t.depth[ev.ID] = 0
		}
	case routing.PeerResponse:
		d, ok := t.depth[ev.ID]
		if !ok { // a response without a send event: treat as known
			d = 0
			t.depth[ev.ID] = 0
		}
		for _, ai := range ev.Responses {
			if ai == nil {
				continue
			}
			if _, ok := t.depth[ai.ID]; !ok {
				t.depth[ai.ID] = d + 1
				t.parent[ai.ID] = ev.ID
			}
		}
	case routing.QueryError:
		if t.errors == 0 {
			t.first = ev.Extra
		}
		t.errors++
	}
}

// Depth returns p's depth in the tree, or -1 if the lookup never heard of p.
func (t *Trace) Depth(p peer.ID) int {
	if d, ok := t.depth[p]; ok {
		return d
	}
	return -1
}

// Network is a running set of simulated nodes.
type Network struct {
	mn    mocknet.Mocknet
	ids   []peer.ID // in join order
	dhts  []*dht.IpfsDHT
	seed  uint64
	keyOf map[peer.ID]kb.ID
}

// Streams of the seeded generator: each use draws from its own stream so
// that what one use consumes (which can depend on scheduling, as the
// refresh's does) cannot shift another's numbers.
const (
	streamNetwork uint64 = iota + 1 // identities, bootstrap picks, refresh order
	streamLookups                   // lookup origins and keys
	streamRefresh                   // + round*nodes + node: refresh keys
)

func newRand(seed, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, 0x636f6f702d73696d^stream)) // "coop-sim"
}

// Close stops every DHT and host.
func (n *Network) Close() error {
	var errs []error
	for _, d := range n.dhts {
		errs = append(errs, d.Close())
	}
	errs = append(errs, n.mn.Close())
	return errors.Join(errs...)
}

// IDs returns the node IDs in join order.
func (n *Network) IDs() []peer.ID { return slices.Clone(n.ids) }

// Build starts o.Nodes nodes, joins them one by one and refreshes their
// routing tables. The caller closes the returned network (also after an
// error, if it is not nil).
func Build(ctx context.Context, o Options) (*Network, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	rng := newRand(o.Seed, streamNetwork)
	n := &Network{mn: mocknet.New(), seed: o.Seed, keyOf: map[peer.ID]kb.ID{}}
	for i := range o.Nodes {
		var seed [ed25519.SeedSize]byte
		randomBytes(rng, seed[:])
		sk, err := crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(seed[:]))
		if err != nil {
			return n, fmt.Errorf("sim: node %d key: %w", i, err)
		}
		// mocknet binds nothing; the address only labels the peer.
		addr, err := ma.NewMultiaddr(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", 10000+i))
		if err != nil {
			return n, err
		}
		h, err := n.mn.AddPeer(sk, addr)
		if err != nil {
			return n, fmt.Errorf("sim: node %d host: %w", i, err)
		}
		d, err := dht.New(h,
			dht.Mode(dht.ModeServer),
			dht.ProtocolPrefix(protocol.ID(DHTPrefix)),
			dht.DisableValues(),
			dht.DisableAutoRefresh(),
			dht.BucketSize(BucketSize),
		)
		if err != nil {
			_ = h.Close()
			return n, fmt.Errorf("sim: node %d DHT: %w", i, err)
		}
		n.ids = append(n.ids, h.ID())
		n.dhts = append(n.dhts, d)
		n.keyOf[h.ID()] = kb.ConvertPeerID(h.ID())
	}
	// Link every pair once (mocknet's LinkAll links each ordered pair and
	// each node to itself: twice the memory).
	for i := range n.ids {
		for j := i + 1; j < len(n.ids); j++ {
			if _, err := n.mn.LinkPeers(n.ids[i], n.ids[j]); err != nil {
				return n, fmt.Errorf("sim: link %d-%d: %w", i, j, err)
			}
		}
	}
	// Join: node i connects to up to o.Bootstrap distinct random earlier
	// nodes and waits until its routing table holds one of them.
	for i := 1; i < len(n.ids); i++ {
		b := min(o.Bootstrap, i)
		picks := rng.Perm(i)[:b]
		h := n.mn.Host(n.ids[i])
		for _, j := range picks {
			pi := peer.AddrInfo{ID: n.ids[j], Addrs: n.mn.Host(n.ids[j]).Addrs()}
			if err := h.Connect(ctx, pi); err != nil {
				return n, fmt.Errorf("sim: node %d connecting to node %d: %w", i, j, err)
			}
		}
		if err := waitFor(ctx, o.JoinTimeout, func() bool { return n.dhts[i].RoutingTable().Size() > 0 }); err != nil {
			return n, fmt.Errorf("sim: node %d routing table stayed empty after connecting to %v: %w", i, picks, err)
		}
	}
	// Refresh, one node at a time in a seeded order.
	for round := range o.RefreshRounds {
		for _, i := range rng.Perm(len(n.ids)) {
			r := newRand(o.Seed, streamRefresh+uint64(round*len(n.ids)+i))
			if err := n.refresh(ctx, i, r, o.LookupTimeout); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// waitFor polls cond until it holds, ctx ends or timeout passes.
func waitFor(ctx context.Context, timeout time.Duration, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// maxRefreshCpl is the longest common prefix length refreshed (kad-dht's
// refresh stops at 15 too).
const maxRefreshCpl = 15

// refresh runs node i's routing-table refresh: a lookup of its own ID, then
// one lookup per common prefix length 0..c of a seeded random key.
func (n *Network) refresh(ctx context.Context, i int, rng *rand.Rand, timeout time.Duration) error {
	d := n.dhts[i]
	self := n.ids[i]
	lookup := func(key string) error {
		lctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		_, err := d.GetClosestPeers(lctx, key)
		return err
	}
	if err := lookup(string(self)); err != nil {
		return fmt.Errorf("sim: node %d self lookup: %w", i, err)
	}
	local := n.keyOf[self]
	maxCpl := 0
	for _, p := range d.RoutingTable().ListPeers() {
		maxCpl = max(maxCpl, kb.CommonPrefixLen(local, n.keyOf[p]))
	}
	maxCpl = min(maxCpl, maxRefreshCpl)
	for cpl := 0; cpl <= maxCpl; cpl++ {
		if err := lookup(keyWithCpl(rng, local, cpl)); err != nil {
			return fmt.Errorf("sim: node %d refresh at cpl %d: %w", i, cpl, err)
		}
	}
	return nil
}

// keyWithCpl draws seeded random keys until one's kad key (sha256) shares
// exactly cpl leading bits with local: 2^(cpl+1) draws on average.
func keyWithCpl(rng *rand.Rand, local kb.ID, cpl int) string {
	var b [32]byte
	for {
		randomBytes(rng, b[:])
		h := sha256.Sum256(b[:])
		if commonPrefix(h[:], local) == cpl {
			return string(b[:])
		}
	}
}

func randomBytes(rng *rand.Rand, b []byte) {
	for j := 0; j < len(b); j += 8 {
		binary.LittleEndian.PutUint64(b[j:], rng.Uint64())
	}
}

func commonPrefix(a, b []byte) int {
	for i := range a {
		if x := a[i] ^ b[i]; x != 0 {
			return i*8 + bits.LeadingZeros8(x)
		}
	}
	return len(a) * 8
}

// Closest returns the k peers other than origin closest to key by XOR
// distance of their kad keys (sha256 of the peer ID and of the key), by
// brute force over every node.
func (n *Network) Closest(key string, origin peer.ID, k int) []peer.ID {
	target := kb.ConvertKey(key)
	ps := make([]peer.ID, 0, len(n.ids))
	for _, p := range n.ids {
		if p != origin {
			ps = append(ps, p)
		}
	}
	slices.SortFunc(ps, func(a, b peer.ID) int {
		return slices.Compare(xor(n.keyOf[a], target), xor(n.keyOf[b], target))
	})
	return ps[:min(k, len(ps))]
}

func xor(a, b kb.ID) []byte {
	out := make([]byte, len(a))
	for i := range a {
		out[i] = a[i] ^ b[i]
	}
	return out
}

// Lookup runs one lookup of key from node origin (an index into IDs) and
// traces it.
func (n *Network) Lookup(ctx context.Context, origin int, key string, timeout time.Duration) Lookup {
	self := n.ids[origin]
	lctx, cancel := context.WithTimeout(ctx, timeout)
	ectx, events := routing.RegisterForQueryEvents(lctx)
	tr := newTrace()
	var wg sync.WaitGroup
	wg.Go(func() {
		for ev := range events { // closed once lctx is cancelled
			tr.add(ev)
		}
	})
	got, err := n.dhts[origin].GetClosestPeers(ectx, key)
	cancel()
	wg.Wait()

	truth := n.Closest(key, self, BucketSize)
	l := Lookup{Origin: self, Key: key, Hops: tr.Depth(truth[0]), Contacted: len(tr.queried), Errors: tr.errors, FirstError: tr.first, Err: err}
	gotSet := map[peer.ID]bool{}
	for _, p := range got {
		gotSet[p] = true
	}
	for _, p := range truth {
		if gotSet[p] {
			l.Found++
		}
	}
	l.Exact = l.Found == len(truth) && len(got) == len(truth)
	return l
}

// Run builds a network as o says, measures o.Lookups lookups from random
// nodes for random keys, and closes the network.
func Run(ctx context.Context, o Options) (res *Result, err error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	start := time.Now()
	n, err := Build(ctx, o)
	if n != nil {
		defer func() { err = errors.Join(err, n.Close()) }()
	}
	if err != nil {
		return nil, err
	}
	res = &Result{Options: o, Setup: time.Since(start)}
	total := 0
	for _, d := range n.dhts {
		total += d.RoutingTable().Size()
	}
	res.MeanRoutingTable = float64(total) / float64(len(n.dhts))
	start = time.Now()
	rng := newRand(o.Seed, streamLookups)
	var key [32]byte
	for range o.Lookups {
		origin := rng.IntN(len(n.ids))
		randomBytes(rng, key[:])
		res.Lookups = append(res.Lookups, n.Lookup(ctx, origin, string(key[:]), o.LookupTimeout))
	}
	res.Measure = time.Since(start)
	return res, nil
}
