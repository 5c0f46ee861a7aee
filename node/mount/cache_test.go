package mount

import (
	"context"
	"errors"
	"log/slog"
	"testing"
)

func TestBlockCacheStaysWithinItsBoundAndSurvivesReopening(t *testing.T) {
	dir := t.TempDir()
	c, err := openBlockCache(dir, 10<<10, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	block := func(i int) []byte { return randomData(4<<10, byte(i)) }
	key := func(i int) blockKey { return blockKey{id: [32]byte{byte(i)}, block: int64(i)} }
	for i := range 3 { // 12 KiB into 10 KiB: block 0 goes
		c.put(key(i), block(i))
	}
	p := make([]byte, 4<<10)
	if c.read(key(0), 4<<10, p, 0) {
		t.Fatal("the least recently used block was kept over the bound")
	}
	for i := 1; i < 3; i++ {
		if !c.read(key(i), 4<<10, p, 0) || string(p) != string(block(i)) {
			t.Fatalf("block %d lost or changed", i)
		}
	}
	c2, err := openBlockCache(dir, 10<<10, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	if c2.size != 8<<10 || !c2.read(key(2), 4<<10, p[:100], 50) || string(p[:100]) != string(block(2)[50:150]) {
		t.Fatalf("reopened cache: %d bytes, block 2 not read back", c2.size)
	}
	// A fetch error reaches the reader and caches nothing.
	boom := errors.New("boom")
	if err := c2.get(context.Background(), key(7), 10, make([]byte, 10), 0, func(context.Context, []byte) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("get with a failing fetch: %v", err)
	}
	if c2.read(key(7), 10, make([]byte, 10), 0) {
		t.Fatal("a failed fetch was cached")
	}
}
