package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/node/capseal"
	"github.com/coop-network/coop/node/exchange"
	"github.com/coop-network/coop/node/p2p"
	"github.com/coop-network/coop/node/worker"
	"github.com/coop-network/coop/storage"
	"github.com/libp2p/go-libp2p/core/peer"
)

// jobKeyServer serves job-keys requests: the module and input keys of
// the jobs this node's account submitted (own), to a peer whose account
// the ledger assigns the job (assigned); the output key of a job this
// node ran, to the job's submitter (submitter, output).
type jobKeyServer struct {
	// own returns the module and input keys of job if this node's account
	// submitted it (ok), from the ledger's record of the job and of its
	// files (whose keys are sealed to the account).
	own func(ctx context.Context, job [32]byte) (keys []exchange.JobKey, ok bool, err error)
	// assigned reports whether the ledger assigns job to worker and the
	// job still runs; an error wrapping chain.ErrNotFound for no such
	// job.
	assigned func(ctx context.Context, job [32]byte, worker chain.Address) (bool, error)
	// submitter is the account that submitted job (chain.ErrNotFound:
	// none); output the output key this node kept for job, sealed to the
	// submitter. Either may be nil: no output keys are served.
	submitter func(ctx context.Context, job [32]byte) (chain.Address, error)
	output    func(job [32]byte) ([]byte, bool)
}

var _ exchange.JobKeySource = (*jobKeyServer)(nil)

// AuthorizeJobKeys implements exchange.JobKeySource.
func (s *jobKeyServer) AuthorizeJobKeys(ctx context.Context, r exchange.JobKeyRequest) error {
	pub, err := p2p.PublicKeyFromPeerID(r.From)
	if err != nil {
		return fmt.Errorf("%w: %w", exchange.ErrRejected, err)
	}
	from := chain.AddressOf(pub)
	_, mine, err := s.own(ctx, r.Job)
	if err != nil && !errors.Is(err, chain.ErrNotFound) {
		return fmt.Errorf("reading the job: %w", err)
	}
	if mine {
		if s.assigned == nil {
			return fmt.Errorf("%w: this node reads no job assignments", exchange.ErrRejected)
		}
		ok, err := s.assigned(ctx, r.Job, from)
		if errors.Is(err, chain.ErrNotFound) {
			return fmt.Errorf("%w: job %x is not on the ledger", exchange.ErrNotFound, r.Job[:8])
		}
		if err != nil {
			return fmt.Errorf("reading the job's assignments: %w", err)
		}
		if !ok {
			return fmt.Errorf("%w: the ledger does not assign job %x to %s", exchange.ErrRejected, r.Job[:8], from)
		}
		return nil
	}
	if s.output == nil || s.submitter == nil {
		return fmt.Errorf("%w: job %x was not submitted from this node", exchange.ErrNotFound, r.Job[:8])
	}
	if _, ok := s.output(r.Job); !ok {
		return fmt.Errorf("%w: job %x was neither submitted nor run here", exchange.ErrNotFound, r.Job[:8])
	}
	sub, err := s.submitter(ctx, r.Job)
	if errors.Is(err, chain.ErrNotFound) {
		return fmt.Errorf("%w: job %x is not on the ledger", exchange.ErrNotFound, r.Job[:8])
	}
	if err != nil {
		return fmt.Errorf("reading the job: %w", err)
	}
	if sub != from {
		return fmt.Errorf("%w: only the job's submitter gets its output", exchange.ErrRejected)
	}
	return nil
}

// JobKeys implements exchange.JobKeySource.
func (s *jobKeyServer) JobKeys(ctx context.Context, r exchange.JobKeyRequest) ([]exchange.JobKey, error) {
	keys, mine, err := s.own(ctx, r.Job)
	if err != nil && !errors.Is(err, chain.ErrNotFound) {
		return nil, err
	}
	if mine {
		return keys, nil
	}
	if s.output == nil {
		return nil, fmt.Errorf("%w: job %x was not submitted from this node", exchange.ErrNotFound, r.Job[:8])
	}
	sealed, ok := s.output(r.Job)
	if !ok {
		return nil, fmt.Errorf("%w: no output of job %x here", exchange.ErrNotFound, r.Job[:8])
	}
	return []exchange.JobKey{{Role: capseal.RoleOutput, Sealed: sealed}}, nil
}

// jobSink is the exchange's sink of a node that hands out job keys: the
// holder for pieces, receipts and leaves, and the job-key server.
type jobSink struct {
	*holder
	*jobKeyServer
}

// workerKeys fetches a job's capabilities from its submitter's node and
// opens them with the node's account key (worker.Keys).
type workerKeys struct {
	x   *exchange.Exchange
	key ed25519.PrivateKey
	// peer resolves the submitter's peer (nil: p2p.PeerIDFromPublicKey,
	// with whatever addresses the host knows).
	peer func(ctx context.Context, pub ed25519.PublicKey) (peer.ID, error)
}

var _ worker.Keys = workerKeys{}

// A worker's asks for a job's keys: again after keyRetryFirst, then twice
// as long each time while the wait is at most keyRetryLast (about 4 s in
// all: ten 400 ms blocks).
const (
	keyRetryFirst = 250 * time.Millisecond
	keyRetryLast  = 2 * time.Second
)

// JobKeys implements worker.Keys.
func (k workerKeys) JobKeys(ctx context.Context, job worker.Job) (worker.Capabilities, error) {
	var out worker.Capabilities
	resolve := k.peer
	if resolve == nil {
		resolve = func(_ context.Context, pub ed25519.PublicKey) (peer.ID, error) { return p2p.PeerIDFromPublicKey(pub) }
	}
	p, err := resolve(ctx, job.Submitter)
	if err != nil {
		return out, fmt.Errorf("the submitter's key: %w", err)
	}
	// The submitter's node reads the job from its own ledger node, which
	// may not have committed the block that assigned this worker yet
	// (assignment is in the submission's block, and this worker saw it
	// first): a refusal or "not found" is asked again a few times, a block
	// or so apart, before the run counts as failed.
	var sealed []exchange.SealedJobKey
	for delay := keyRetryFirst; ; delay *= 2 {
		sealed, err = k.x.RequestJobKeys(ctx, p, job.ID)
		if err == nil || delay > keyRetryLast || !errors.Is(err, exchange.ErrNotFound) && !errors.Is(err, exchange.ErrRejected) {
			break
		}
		select {
		case <-ctx.Done():
			return out, ctx.Err()
		case <-time.After(delay):
		}
	}
	if err != nil {
		return out, err
	}
	keys, err := exchange.OpenJobKeys(k.key, job.ID, sealed)
	if err != nil {
		return out, err
	}
	for _, jk := range keys {
		switch jk.Role {
		case capseal.RoleModule:
			out.Module = jk.Cap
		case capseal.RoleInput:
			out.Input, out.HasInput = jk.Cap, true
		}
	}
	return out, nil
}

// workerFiles reads and stores a worker's files through the node
// (worker.Files).
type workerFiles struct{ n *Node }

var _ worker.Files = workerFiles{}

// ReadFile implements worker.Files.
func (f workerFiles) ReadFile(ctx context.Context, c storage.Capability, max int64) ([]byte, error) {
	rc, size, err := f.n.Open(ctx, c.String())
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if size > max {
		return nil, fmt.Errorf("%w: file of %d bytes, a job takes at most %d", ErrInvalidArgument, size, max)
	}
	b, err := io.ReadAll(io.LimitReader(rc, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) != size {
		return nil, fmt.Errorf("node: file %s: read %d bytes, want %d", c.FileID, len(b), size)
	}
	return b, nil
}

// OutputCopies is how a worker stores its output file: whole copies on
// this many holders (outputs are small; this works on small networks).
const OutputCopies = 2

// PutFile implements worker.Files.
func (f workerFiles) PutFile(ctx context.Context, data []byte, name string) (storage.Capability, error) {
	res, err := f.n.Put(ctx, bytes.NewReader(data), int64(len(data)), api.PutOptions{Name: name, Copies: OutputCopies})
	if err != nil {
		return storage.Capability{}, err
	}
	return storage.ParseCapability(res.Capability)
}
