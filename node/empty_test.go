package node

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/coop-network/coop/node/api"
)

// TestEmptyFileRoundTrips: a file of 0 bytes can be stored and read back,
// as 0 bytes, from the node that put it and from another one.
func TestEmptyFileRoundTrips(t *testing.T) {
	nodes, _ := startMemNetwork(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := nodes[0].Put(ctx, bytes.NewReader(nil), 0, api.PutOptions{Name: "empty"})
	if err != nil {
		t.Fatalf("put of an empty file: %v", err)
	}
	if res.Size != 0 {
		t.Fatalf("put result %+v", res)
	}
	for i, n := range nodes {
		got, err := readAll(ctx, n, res.Capability)
		if err != nil || len(got) != 0 {
			t.Fatalf("node %d reads %d bytes (%v), want 0", i, len(got), err)
		}
	}
	if got, err := readAll(ctx, nodes[0], res.FileID); err != nil || len(got) != 0 {
		t.Fatalf("by file id: %d bytes (%v), want 0", len(got), err)
	}
	if err := nodes[0].Remove(ctx, res.FileID); err != nil {
		t.Fatalf("removing the empty file: %v", err)
	}
	if _, err := readAll(ctx, nodes[1], res.Capability); !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrUnavailable) {
		t.Fatalf("reading the removed empty file: %v", err)
	}
}
