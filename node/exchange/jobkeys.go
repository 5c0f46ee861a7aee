package exchange

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/coop-network/coop/node/capseal"
	"github.com/coop-network/coop/node/p2p"
	"github.com/coop-network/coop/storage"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// MaxJobKeys bounds the capabilities one job-keys answer carries: a job
// has a module and at most one input file.
const MaxJobKeys = 2

// JobKeyRequest asks (TypeJobKeys) for the capabilities of job Job's
// files: a worker asks the node of the job's submitter for the module's
// and input's, the submitter asks a worker's node for the output's.
type JobKeyRequest struct {
	From peer.ID // the requesting peer (set by the server)
	Job  [32]byte
}

// JobKey is one capability of a job: its module's, its input's, or a
// worker's output's.
type JobKey struct {
	Role capseal.Role
	Cap  storage.Capability
	// Sealed, when set, is Cap already sealed to the requester for the
	// job and Role (capseal.Seal): it is sent as it is (a worker keeps
	// its output's capability only sealed to the submitter).
	Sealed []byte
}

// SealedJobKey is a JobKey as it travels: the capability sealed
// (capseal.Seal) to the requesting peer's account key for the job and role.
type SealedJobKey struct {
	_      struct{} `cbor:",toarray"`
	Role   capseal.Role
	Sealed []byte // capseal.SealedSize bytes
}

// JobKeySource answers job-keys requests. A Sink that implements it
// serves them; otherwise they are refused (StatusRejected).
type JobKeySource interface {
	// AuthorizeJobKeys returns nil only if r.From may read job r.Job's
	// files (a node's peer id is its account key): the submitter's node
	// allows the accounts the ledger assigns the job, a worker's node
	// the job's submitter. Else an error wrapping ErrRejected (not
	// allowed) or ErrNotFound (no such job here).
	AuthorizeJobKeys(ctx context.Context, r JobKeyRequest) error
	// JobKeys returns the capabilities r.From may have: the module's and
	// the input's (unless the input is inline), or the output's. An error
	// wrapping ErrNotFound if this node does not know them.
	JobKeys(ctx context.Context, r JobKeyRequest) ([]JobKey, error)
}

// RequestJobKeys asks p for job's capabilities, sealed to this node's key
// (open them with OpenJobKeys): the submitter's node for the module and
// input, a worker's node for its output. A refusal is a *RemoteError
// (ErrRejected: not allowed; ErrNotFound: the node does not know the
// job). An answer that is neither a module's key (and an input's) nor an
// output's, or with a sealed capability of the wrong size, is
// ErrMalformed.
func (x *Exchange) RequestJobKeys(ctx context.Context, p peer.ID, job [32]byte) ([]SealedJobKey, error) {
	m := &Message{Version: Version, Type: TypeJobKeys, Job: job[:]}
	s, br, stop, err := x.request(ctx, p, m)
	if err != nil {
		return nil, err
	}
	defer stop()
	defer s.Reset()
	_ = s.CloseWrite()
	// The submitter reads the ledger before answering; allow it the idle timeout.
	resp, err := x.readResponse(ctx, s, br, x.cfg.IdleTimeout)
	if err != nil {
		return nil, err
	}
	keys, err := jobKeysOf(resp)
	if err != nil {
		return nil, fmt.Errorf("peer %s: %w", shortID(p), err)
	}
	return keys, nil
}

// jobKeysOf reads the sealed keys of an OK response to a job-keys request.
func jobKeysOf(resp *Message) ([]SealedJobKey, error) {
	if resp.Type != TypeResponse || resp.Status != StatusOK {
		return nil, fmt.Errorf("%w: a %s (%s) is no job-keys answer", ErrMalformed, resp.Type, resp.Status)
	}
	if err := checkSealedKeys(resp.Sealed, true); err != nil {
		return nil, err
	}
	return resp.Sealed, nil
}

// checkSealedKeys checks a list of sealed job keys: at most MaxJobKeys,
// each of capseal.SealedSize bytes, no role twice, and either the module's
// (and the input's) or the output's alone. Without complete, a list
// without the module's or the output's key passes too (Validate: the
// decoder checks shapes, the client completeness).
func checkSealedKeys(keys []SealedJobKey, complete bool) error {
	if len(keys) > MaxJobKeys {
		return fmt.Errorf("%w: %d job keys, at most %d", ErrMalformed, len(keys), MaxJobKeys)
	}
	seen := map[capseal.Role]bool{}
	for i, k := range keys {
		if !k.Role.Valid() {
			return fmt.Errorf("%w: job key %d has role %s", ErrMalformed, i, k.Role)
		}
		if seen[k.Role] {
			return fmt.Errorf("%w: two job keys for the %s", ErrMalformed, k.Role)
		}
		seen[k.Role] = true
		if len(k.Sealed) != capseal.SealedSize {
			return fmt.Errorf("%w: sealed %s key of %d bytes, want %d", ErrMalformed, k.Role, len(k.Sealed), capseal.SealedSize)
		}
	}
	if seen[capseal.RoleOutput] && len(keys) > 1 {
		return fmt.Errorf("%w: an output key beside the job's own keys", ErrMalformed)
	}
	if complete && !seen[capseal.RoleModule] && !seen[capseal.RoleOutput] {
		return fmt.Errorf("%w: a job-keys answer without the module's or the output's key", ErrMalformed)
	}
	return nil
}

// OpenJobKeys opens the sealed keys of job with this node's account key.
// Any that does not open (not sealed to key, for another job or role,
// tampered) fails the whole answer with capseal.ErrOpen.
func OpenJobKeys(key ed25519.PrivateKey, job [32]byte, sealed []SealedJobKey) ([]JobKey, error) {
	if err := checkSealedKeys(sealed, true); err != nil {
		return nil, err
	}
	out := make([]JobKey, len(sealed))
	for i, s := range sealed {
		c, err := capseal.Open(key, job, s.Role, s.Sealed)
		if err != nil {
			return nil, fmt.Errorf("the job's %s key: %w", s.Role, err)
		}
		out[i] = JobKey{Role: s.Role, Cap: c}
	}
	return out, nil
}

// serveJobKeys answers a job-keys request: only if the source authorizes
// the requesting peer, with the job's capabilities sealed to that peer's
// key (its account key), so the answer opens for no one else.
func (x *Exchange) serveJobKeys(ctx context.Context, s network.Stream, req *Message) error {
	src, ok := x.sink.(JobKeySource)
	if !ok {
		return x.fail(s, StatusRejected, fmt.Errorf("%w: this node hands out no job keys", ErrRejected))
	}
	r := JobKeyRequest{From: s.Conn().RemotePeer(), Job: [32]byte(req.Job)}
	pub, err := p2p.PublicKeyFromPeerID(r.From)
	if err != nil {
		return x.fail(s, StatusRejected, fmt.Errorf("%w: %w", ErrRejected, err))
	}
	if err := src.AuthorizeJobKeys(ctx, r); err != nil {
		return x.fail(s, statusOf(err, StatusRejected), fmt.Errorf("job %x: %w", r.Job[:8], err))
	}
	keys, err := src.JobKeys(ctx, r)
	if err != nil {
		return x.fail(s, statusOf(err, StatusInternal), fmt.Errorf("job %x: %w", r.Job[:8], err))
	}
	resp := &Message{Version: Version, Type: TypeResponse, Status: StatusOK, Sealed: make([]SealedJobKey, len(keys))}
	for i, k := range keys {
		sealed := k.Sealed
		if sealed == nil {
			if sealed, err = capseal.Seal(pub, r.Job, k.Role, k.Cap); err != nil {
				return x.fail(s, StatusInternal, fmt.Errorf("sealing job %x's %s key: %w", r.Job[:8], k.Role, err))
			}
		}
		resp.Sealed[i] = SealedJobKey{Role: k.Role, Sealed: sealed}
	}
	if err := checkSealedKeys(resp.Sealed, true); err != nil {
		return x.fail(s, StatusInternal, fmt.Errorf("the node's keys of job %x: %w", r.Job[:8], err))
	}
	_ = s.SetWriteDeadline(time.Now().Add(x.cfg.HeaderTimeout))
	if err := writeMessage(s, resp); err != nil {
		return fmt.Errorf("answering job-keys request: %w", err)
	}
	return nil
}
