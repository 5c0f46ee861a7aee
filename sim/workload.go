package sim

import (
	"crypto/sha256"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/storage"
)

// GiB and MiB are byte units of the workloads.
const (
	MiB = 1 << 20
	GiB = 1 << 30
)

// Pledge classes of the simulated nodes (see NewPledge). The pledges are
// scaled down about 100 times from real disks (a home node pledges 0.5 to
// 2 GiB, 32 to 128 full pieces) so that a thousand-node network fills up
// with a few hundred thousand pieces, which the placement rule (one sort
// of the candidates per piece) places in seconds; what the rule does
// depends on pledges counted in pieces, which this keeps at home-disk
// proportions: many small pledges, a few large.
var pledgeClasses = []struct {
	name     string
	share    float64 // of the nodes
	min, max uint64  // bytes, log-uniform
}{
	{"home", 0.85, GiB / 2, 2 * GiB},
	{"enthusiast", 0.13, 4 * GiB, 16 * GiB},
	{"large", 0.02, 32 * GiB, 128 * GiB},
}

// NewPledge draws a node's pledge: 85 % home nodes (0.5–2 GiB), 13 %
// enthusiasts (4–16 GiB), 2 % large (32–128 GiB), log-uniform within each
// class.
func NewPledge(r *rand.Rand) uint64 {
	x := r.Float64()
	for _, c := range pledgeClasses {
		if x < c.share {
			return logUniform(r, c.min, c.max)
		}
		x -= c.share
	}
	c := pledgeClasses[len(pledgeClasses)-1]
	return logUniform(r, c.min, c.max)
}

// NewFileSize draws a file's size: 70 % small files of 1–16 MiB (photos,
// documents), 25 % of 16–256 MiB, 5 % of 256 MiB–2 GiB (video), log-uniform
// within each class.
func NewFileSize(r *rand.Rand) int64 {
	x := r.Float64()
	switch {
	case x < 0.70:
		return int64(logUniform(r, MiB, 16*MiB))
	case x < 0.95:
		return int64(logUniform(r, 16*MiB, 256*MiB))
	default:
		return int64(logUniform(r, 256*MiB, 2*GiB))
	}
}

func logUniform(r *rand.Rand, lo, hi uint64) uint64 {
	l, h := math.Log(float64(lo)), math.Log(float64(hi))
	return uint64(math.Exp(l + r.Float64()*(h-l)))
}

// newAddress is simulated node i's ledger address (derived from the seed
// and i, as the real one is derived from the node's key).
func newAddress(seed uint64, i int) chain.Address {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], seed)
	binary.BigEndian.PutUint64(b[8:], uint64(i))
	h := sha256.Sum256(append([]byte("coop/sim/node\x00"), b[:]...))
	return chain.Address(h[:20])
}

// newFileID is simulated file i's id.
func newFileID(seed uint64, i int) chain.Hash {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], seed)
	binary.BigEndian.PutUint64(b[8:], uint64(i))
	return chain.Hash(sha256.Sum256(append([]byte("coop/sim/file\x00"), b[:]...)))
}

// DefaultStorage is the redundancy and layout of a put with coop's
// defaults (storage.DefaultConfig: k = 4, m = 2, 64 MiB segments), which
// `coop node` uses unless -k or -m say otherwise.
func DefaultStorage() storage.Config { return storage.DefaultConfig() }

// Dist summarizes a distribution.
type Dist struct {
	Mean float64 `json:"mean"`
	P5   float64 `json:"p5"`
	P50  float64 `json:"p50"`
	P95  float64 `json:"p95"`
	Max  float64 `json:"max"`
	// CV is the coefficient of variation (standard deviation ÷ mean).
	CV float64 `json:"cv"`
	// Gini is the Gini coefficient (0: all equal).
	Gini float64 `json:"gini"`
}

// Summarize returns the distribution of xs (nearest-rank percentiles).
func Summarize(xs []float64) Dist {
	if len(xs) == 0 {
		return Dist{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	var sum float64
	for _, x := range s {
		sum += x
	}
	mean := sum / float64(len(s))
	var v, g float64
	for i, x := range s {
		v += (x - mean) * (x - mean)
		g += float64(2*(i+1)-len(s)-1) * x
	}
	d := Dist{Mean: mean, P5: rank(s, 0.05), P50: rank(s, 0.50), P95: rank(s, 0.95), Max: s[len(s)-1]}
	if mean > 0 {
		d.CV = math.Sqrt(v/float64(len(s))) / mean
		d.Gini = g / (float64(len(s)) * sum)
	}
	return d
}

// rank is the nearest-rank q-quantile of sorted s.
func rank(s []float64, q float64) float64 {
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}
