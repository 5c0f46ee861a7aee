package node

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/capseal"
	"github.com/coop-network/coop/node/exchange"
	"github.com/coop-network/coop/node/p2p"
	"github.com/coop-network/coop/node/worker"
	"github.com/coop-network/coop/storage"
)

// keySink is a test sink that hands out job keys.
type keySink struct {
	exchange.Sink
	*jobKeyServer
}

func randomCapability(t *testing.T) storage.Capability {
	var c storage.Capability
	_, _ = rand.Read(c.FileID[:])
	_, _ = rand.Read(c.Key[:])
	return c
}

// A worker the ledger assigns a job fetches its module and input
// capabilities from the submitter's node over real libp2p hosts; a peer
// not assigned is refused, and so is a job the submitter's node did not
// submit.
func TestJobKeysFromSubmitterToAssignedWorker(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sub, subKey := p2p.NewTestHost(t, p2p.TestConfig())
	job, other, unknown := [32]byte{1, 2, 3}, [32]byte{9}, [32]byte{4}
	module, input := randomCapability(t), randomCapability(t)
	own := func(_ context.Context, j [32]byte) ([]exchange.JobKey, bool, error) {
		switch j {
		case job:
			return []exchange.JobKey{{Role: capseal.RoleModule, Cap: module}, {Role: capseal.RoleInput, Cap: input}}, true, nil
		case other:
			return []exchange.JobKey{{Role: capseal.RoleModule, Cap: module}}, true, nil
		}
		return nil, false, chain.ErrNotFound
	}

	var workerAddr chain.Address
	srv := &jobKeyServer{own: own, assigned: func(_ context.Context, j [32]byte, w chain.Address) (bool, error) {
		if j == unknown {
			return false, chain.ErrNotFound
		}
		return j == job && w == workerAddr, nil
	}}
	xs, err := exchange.New(sub.Libp2p(), exchange.DefaultConfig(), exchange.NewMemStore(), keySink{exchange.NewMemStore(), srv})
	if err != nil {
		t.Fatal(err)
	}
	defer xs.Close()

	client := func() (*exchange.Exchange, ed25519.PrivateKey) {
		h, key := p2p.NewTestHost(t, p2p.TestConfig())
		x, _ := exchange.NewTestExchange(t, h.Libp2p(), exchange.DefaultConfig())
		if err := h.Connect(ctx, sub.AddrInfo()); err != nil {
			t.Fatal(err)
		}
		return x, key
	}
	xw, wKey := client()
	workerAddr = chain.AddressOf(wKey.Public().(ed25519.PublicKey))
	wj := worker.Job{ID: job, Submitter: subKey.Public().(ed25519.PublicKey)}
	caps, err := workerKeys{x: xw, key: wKey}.JobKeys(ctx, wj)
	if err != nil {
		t.Fatal(err)
	}
	if caps.Module != module || !caps.HasInput || caps.Input != input {
		t.Fatal("the worker got other capabilities than the submitter recorded")
	}

	xo, oKey := client()
	if _, err := (workerKeys{x: xo, key: oKey}).JobKeys(ctx, wj); !errors.Is(err, exchange.ErrRejected) {
		t.Fatalf("a peer not assigned: %v, want ErrRejected", err)
	}
	wj.ID = other
	if _, err := (workerKeys{x: xw, key: wKey}).JobKeys(ctx, wj); !errors.Is(err, exchange.ErrRejected) {
		t.Fatalf("a job the worker is not assigned: %v, want ErrRejected", err)
	}
	wj.ID = unknown
	if _, err := (workerKeys{x: xw, key: wKey}).JobKeys(ctx, wj); !errors.Is(err, exchange.ErrNotFound) {
		t.Fatalf("a job not submitted here: %v, want ErrNotFound", err)
	}

	// The other way: this node ran job ran and kept its output's key
	// sealed to the submitter (here the first client's account), which it
	// hands to the submitter only.
	ran := [32]byte{7}
	outCap := randomCapability(t)
	kept, err := capseal.Seal(wKey.Public().(ed25519.PublicKey), ran, capseal.RoleOutput, outCap)
	if err != nil {
		t.Fatal(err)
	}
	srv.output = func(j [32]byte) ([]byte, bool) { return kept, j == ran }
	srv.submitter = func(_ context.Context, j [32]byte) (chain.Address, error) {
		if j != ran {
			return chain.Address{}, chain.ErrNotFound
		}
		return workerAddr, nil
	}
	sealed, err := xw.RequestJobKeys(ctx, sub.ID(), ran)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := exchange.OpenJobKeys(wKey, ran, sealed)
	if err != nil || len(keys) != 1 || keys[0].Role != capseal.RoleOutput || keys[0].Cap != outCap {
		t.Fatalf("the submitter got %d keys: %v", len(keys), err)
	}
	if _, err := xo.RequestJobKeys(ctx, sub.ID(), ran); !errors.Is(err, exchange.ErrRejected) {
		t.Fatalf("another account asked for the output: %v, want ErrRejected", err)
	}
	if _, err := xw.RequestJobKeys(ctx, sub.ID(), [32]byte{8}); !errors.Is(err, exchange.ErrNotFound) {
		t.Fatalf("a job neither submitted nor run here: %v, want ErrNotFound", err)
	}
}
