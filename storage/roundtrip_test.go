package storage

import (
	"bytes"
	"context"
	"math/rand/v2"
	"testing"

	"github.com/coop-network/coop/storage/blockstore"
)

// randomBytes returns n deterministic pseudo-random bytes.
func randomBytes(seed uint64, n int) []byte {
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16)})
	b := make([]byte, n)
	r.Read(b)
	return b
}

// smallConfig makes multi-segment files cheap: 8 KiB... segments.
func smallConfig(k, m int) Config {
	return Config{K: k, M: m, SegmentSize: 200 << 10, StripeUnit: 4 << 10}
}

func putBytes(t *testing.T, s *blockstore.Store, data []byte, cfg Config) *PutResult {
	t.Helper()
	res, err := Put(context.Background(), bytes.NewReader(data), StoreSink(s, blockstore.Pinned), cfg)
	if err != nil {
		t.Fatalf("put %d bytes: %v", len(data), err)
	}
	return res
}

func getBytes(t *testing.T, s *blockstore.Store, c Capability) ([]byte, error) {
	t.Helper()
	var out bytes.Buffer
	err := GetFromStore(context.Background(), s, c, &out)
	return out.Bytes(), err
}

func TestSmokeRoundTrip(t *testing.T) {
	s := NewTestStore(t, blockstore.DefaultConfig())
	for _, n := range []int{0, 1, 1000, 200 << 10, 200<<10 + 1, 777777} {
		data := randomBytes(uint64(n), n)
		res := putBytes(t, s, data, smallConfig(4, 2))
		got, err := getBytes(t, s, res.Capability)
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("%d bytes: round trip differs", n)
		}
	}
}
