package exchange

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"

	"github.com/coop-network/coop/node/capseal"
	"github.com/coop-network/coop/node/p2p"
	"github.com/coop-network/coop/storage"
)

// jobPair is newPair with the client's account key kept.
func jobPair(t *testing.T) (*pair, ed25519.PrivateKey) {
	t.Helper()
	var p pair
	var ka ed25519.PrivateKey
	p.a, ka = p2p.NewTestHost(t, p2p.TestConfig())
	p.b, _ = p2p.NewTestHost(t, p2p.TestConfig())
	p.xa, p.sa = NewTestExchange(t, p.a.Libp2p(), DefaultConfig())
	p.xb, p.sb = NewTestExchange(t, p.b.Libp2p(), DefaultConfig())
	if err := p.a.Connect(context.Background(), p.b.AddrInfo()); err != nil {
		t.Fatal(err)
	}
	return &p, ka
}

func randomCap(t *testing.T) storage.Capability {
	var c storage.Capability
	_, _ = rand.Read(c.FileID[:])
	_, _ = rand.Read(c.Key[:])
	return c
}

// An authorized worker gets the job's module and input capabilities,
// sealed to its own key: the submitter's authorization callback saw the
// worker's peer id and the job, the keys open with the worker's account
// key and with no other, and only for that job.
func TestJobKeysRoundTrip(t *testing.T) {
	p, ka := jobPair(t)
	job := [32]byte{0xaa, 1}
	module, input := randomCap(t), randomCap(t)
	var asked JobKeyRequest
	p.sb.AuthorizeJob = func(r JobKeyRequest) error { asked = r; return nil }
	p.sb.JobKeyList = func(r JobKeyRequest) ([]JobKey, error) {
		if r.Job != job {
			return nil, fmt.Errorf("%w: job %x", ErrNotFound, r.Job[:4])
		}
		return []JobKey{{Role: capseal.RoleModule, Cap: module}, {Role: capseal.RoleInput, Cap: input}}, nil
	}
	sealed, err := p.xa.RequestJobKeys(testCtx(t), p.b.ID(), job)
	if err != nil {
		t.Fatal(err)
	}
	if asked.From != p.a.ID() || asked.Job != job {
		t.Fatalf("the source was asked %+v, want from %s for job %x", asked, p.a.ID(), job[:4])
	}
	keys, err := OpenJobKeys(ka, job, sealed)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].Role != capseal.RoleModule || keys[0].Cap != module || keys[1].Role != capseal.RoleInput || keys[1].Cap != input {
		t.Fatalf("opened %d keys, not the module and input sent", len(keys))
	}
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	if _, err := OpenJobKeys(other, job, sealed); !errors.Is(err, capseal.ErrOpen) {
		t.Fatalf("another key opened the answer: %v", err)
	}
	if _, err := OpenJobKeys(ka, [32]byte{0xbb}, sealed); !errors.Is(err, capseal.ErrOpen) {
		t.Fatalf("the answer opened for another job: %v", err)
	}

	// A job with an inline input has only the module's key.
	p.sb.JobKeyList = func(JobKeyRequest) ([]JobKey, error) { return []JobKey{{Role: capseal.RoleModule, Cap: module}}, nil }
	sealed, err = p.xa.RequestJobKeys(testCtx(t), p.b.ID(), job)
	if err != nil || len(sealed) != 1 {
		t.Fatalf("module only: %d keys, %v", len(sealed), err)
	}

	// A worker's node hands the submitter its output's key, kept sealed
	// to the submitter: sent as it is, it opens with the submitter's key.
	output := randomCap(t)
	pre, err := capseal.Seal(ka.Public().(ed25519.PublicKey), job, capseal.RoleOutput, output)
	if err != nil {
		t.Fatal(err)
	}
	p.sb.JobKeyList = func(JobKeyRequest) ([]JobKey, error) { return []JobKey{{Role: capseal.RoleOutput, Sealed: pre}}, nil }
	sealed, err = p.xa.RequestJobKeys(testCtx(t), p.b.ID(), job)
	if err != nil {
		t.Fatal(err)
	}
	keys, err = OpenJobKeys(ka, job, sealed)
	if err != nil || len(keys) != 1 || keys[0].Role != capseal.RoleOutput || keys[0].Cap != output {
		t.Fatalf("output key: %d keys, %v", len(keys), err)
	}
}

// Refusals: a node that hands out no job keys, an unauthorized peer
// (ErrRejected, and the source is never asked for the keys), an unknown
// job (ErrNotFound), and a source whose answer is not sendable (no module,
// too many keys, a bad role): StatusInternal, nothing leaked.
func TestJobKeysRefusals(t *testing.T) {
	p, _ := jobPair(t)
	job := [32]byte{3}
	var re *RemoteError
	if _, err := p.xa.RequestJobKeys(testCtx(t), p.b.ID(), job); !errors.As(err, &re) || re.Status != StatusRejected {
		t.Fatalf("no source: %v", err)
	}
	listed := false
	p.sb.AuthorizeJob = func(r JobKeyRequest) error { return fmt.Errorf("%w: %s is not assigned", ErrRejected, r.From) }
	p.sb.JobKeyList = func(JobKeyRequest) ([]JobKey, error) {
		listed = true
		return []JobKey{{Role: capseal.RoleModule, Cap: randomCap(t)}}, nil
	}
	if _, err := p.xa.RequestJobKeys(testCtx(t), p.b.ID(), job); !errors.Is(err, ErrRejected) {
		t.Fatalf("unauthorized: %v", err)
	}
	if listed {
		t.Fatal("the keys were read for an unauthorized peer")
	}
	p.sb.AuthorizeJob = func(JobKeyRequest) error { return fmt.Errorf("%w: no such job", ErrNotFound) }
	if _, err := p.xa.RequestJobKeys(testCtx(t), p.b.ID(), job); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown job: %v", err)
	}
	p.sb.AuthorizeJob = func(JobKeyRequest) error { return nil }
	for name, keys := range map[string][]JobKey{
		"no key":                 nil,
		"input only":             {{Role: capseal.RoleInput, Cap: randomCap(t)}},
		"two modules":            {{Role: capseal.RoleModule}, {Role: capseal.RoleModule}},
		"module and output":      {{Role: capseal.RoleModule}, {Role: capseal.RoleOutput}},
		"a short pre-sealed key": {{Role: capseal.RoleOutput, Sealed: make([]byte, 10)}},
		"three keys":             {{Role: capseal.RoleModule}, {Role: capseal.RoleInput}, {Role: capseal.RoleInput}},
		"an unknown role":        {{Role: capseal.Role(7)}},
	} {
		p.sb.JobKeyList = func(JobKeyRequest) ([]JobKey, error) { return keys, nil }
		if _, err := p.xa.RequestJobKeys(testCtx(t), p.b.ID(), job); !errors.As(err, &re) || re.Status != StatusInternal {
			t.Errorf("%s: %v, want an internal error", name, err)
		}
	}
}

// The client refuses answers that break the rules even when the server
// sent them: jobKeysOf and OpenJobKeys check roles, count and sizes.
func TestJobKeysAnswerChecks(t *testing.T) {
	good := make([]byte, capseal.SealedSize)
	for name, m := range map[string]*Message{
		"an error status":      {Version: Version, Type: TypeResponse, Status: StatusNotFound},
		"no keys":              {Version: Version, Type: TypeResponse, Status: StatusOK},
		"input only":           {Version: Version, Type: TypeResponse, Status: StatusOK, Sealed: []SealedJobKey{{Role: capseal.RoleInput, Sealed: good}}},
		"output and input":     {Version: Version, Type: TypeResponse, Status: StatusOK, Sealed: []SealedJobKey{{Role: capseal.RoleOutput, Sealed: good}, {Role: capseal.RoleInput, Sealed: good}}},
		"a short sealed key":   {Version: Version, Type: TypeResponse, Status: StatusOK, Sealed: []SealedJobKey{{Role: capseal.RoleModule, Sealed: good[:50]}}},
		"a request, no answer": {Version: Version, Type: TypeJobKeys, Job: good[:32]},
	} {
		if _, err := jobKeysOf(m); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	if _, err := OpenJobKeys(k, [32]byte{}, []SealedJobKey{{Role: capseal.RoleModule, Sealed: good}}); !errors.Is(err, capseal.ErrOpen) {
		t.Errorf("zeros opened: %v", err)
	}
}
