package compute

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/coop-network/coop/compute/instrument"
	"github.com/fxamacker/cbor/v2"
)

// Hash is a SHA-256 digest: module ids, input ids, job ids, output hashes.
type Hash [32]byte

// String is the lowercase hex form.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// IsZero reports whether h is all zeros (unset).
func (h Hash) IsZero() bool { return h == Hash{} }

// ErrBadHash reports a malformed hex hash.
var ErrBadHash = errors.New("bad hash")

// ParseHash parses 64 lowercase hex characters.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != 64 {
		return h, fmt.Errorf("%w: %d characters, want 64", ErrBadHash, len(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return h, fmt.Errorf("%w: character %q at %d is not lowercase hex", ErrBadHash, c, i)
		}
	}
	_, _ = hex.Decode(h[:], []byte(s))
	return h, nil
}

// Sum is the SHA-256 of b.
func Sum(b []byte) Hash { return sha256.Sum256(b) }

// PageSize is the WebAssembly page size; memory limits are multiples of it.
const PageSize = 64 << 10

// JobSpec describes one job. Its canonical encoding is hashed into the job
// id, which seeds the job's random numbers.
type JobSpec struct {
	// Module is the SHA-256 of the module bytes.
	Module Hash `cbor:"module"`
	// InputID is the SHA-256 of the input when the input is stored
	// separately; zero when Input is inline.
	InputID Hash `cbor:"input_id"`
	// Input is the inline input (stdin); empty when InputID is set.
	Input []byte `cbor:"input"`
	// Args are the program arguments after argv[0], which is always "job".
	Args []string `cbor:"args"`
	// FuelLimit is the fuel the job may use (cost table version
	// instrument.CostTableVersion).
	FuelLimit uint64 `cbor:"fuel_limit"`
	// MemoryLimit caps linear memory, in bytes (a multiple of PageSize).
	MemoryLimit uint64 `cbor:"memory_limit"`
	// MaxOutput caps stdout, in bytes; writing more traps.
	MaxOutput uint32 `cbor:"max_output"`
	// Replicas is how many workers run the job (used by the ledger).
	Replicas uint8 `cbor:"replicas"`
}

// Limits on a JobSpec's own fields, independent of a Runner's Config.
const (
	MaxArgs        = 64
	MaxArgsBytes   = 4 << 10
	MaxInlineInput = 1 << 20
	MaxReplicas    = 32
)

// ErrInvalidSpec reports a JobSpec that breaks a rule of its own.
var ErrInvalidSpec = errors.New("invalid job spec")

// Validate checks the spec's internal rules.
func (s *JobSpec) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidSpec, fmt.Sprintf(format, args...))
	}
	if s.Module.IsZero() {
		return bad("no module hash")
	}
	if !s.InputID.IsZero() && len(s.Input) > 0 {
		return bad("both an input id and an inline input")
	}
	if len(s.Input) > MaxInlineInput {
		return bad("inline input of %d bytes exceeds %d", len(s.Input), MaxInlineInput)
	}
	if len(s.Args) > MaxArgs {
		return bad("%d args exceed %d", len(s.Args), MaxArgs)
	}
	n := 0
	for _, a := range s.Args {
		n += len(a) + 1
		for i := 0; i < len(a); i++ {
			if a[i] == 0 {
				return bad("argument contains a NUL byte")
			}
		}
	}
	if n > MaxArgsBytes {
		return bad("args take %d bytes, more than %d", n, MaxArgsBytes)
	}
	if s.FuelLimit == 0 || s.FuelLimit > 1<<62 {
		return bad("fuel limit %d out of range [1, 2^62]", s.FuelLimit)
	}
	if s.MemoryLimit < PageSize || s.MemoryLimit%PageSize != 0 || s.MemoryLimit > 1<<32 {
		return bad("memory limit %d is not a multiple of 64 KiB in [64 KiB, 4 GiB]", s.MemoryLimit)
	}
	if s.Replicas == 0 || s.Replicas > MaxReplicas {
		return bad("replicas %d out of range [1, %d]", s.Replicas, MaxReplicas)
	}
	return nil
}

// ID is the job id: the SHA-256 of the spec's canonical encoding.
func (s *JobSpec) ID() Hash {
	b, err := encMode.Marshal(s)
	if err != nil {
		panic(fmt.Sprintf("compute: encoding a JobSpec: %v", err)) // plain struct: cannot fail
	}
	return Sum(b)
}

// Status says how a run ended.
type Status string

// Run outcomes that are part of a Result (and so of consensus).
const (
	// StatusExited: the program returned from _start or called proc_exit.
	StatusExited Status = "exited"
	// StatusTrapped: the program trapped; Result.Trap says why.
	StatusTrapped Status = "trapped"
	// StatusRejected: the module was refused before running (malformed,
	// unsupported feature, over a limit, unknown import, no _start).
	StatusRejected Status = "rejected"
)

// TrapKind classifies traps and rejections independently of the runtime's
// messages, so that every runtime reports the same kind.
type TrapKind string

// Trap kinds.
const (
	TrapOutOfFuel   TrapKind = "out_of_fuel"
	TrapStack       TrapKind = "call_stack_exhausted"
	TrapOutputLimit TrapKind = "output_limit"
	TrapRuntime     TrapKind = "runtime_trap" // unreachable, bounds, division by zero…

	RejectMalformed   TrapKind = "malformed"
	RejectUnsupported TrapKind = "unsupported_feature"
	RejectLimit       TrapKind = "limit_exceeded"
	RejectImport      TrapKind = "import_not_allowed"
	RejectInvalid     TrapKind = "invalid_module" // refused by the runtime's validator
	RejectNoEntry     TrapKind = "no_entry_point"
)

// Result is what a run of a job produced. Every field is a deterministic
// function of the spec, the module and the input (for a given cost table
// version), so honest workers produce byte-identical encodings.
type Result struct {
	// Job is the job id.
	Job Hash `cbor:"job"`
	// CostTable is the instrument.CostTableVersion fuel was counted with.
	CostTable uint32 `cbor:"cost_table"`
	// Status says how the run ended.
	Status Status `cbor:"status"`
	// ExitCode is the proc_exit code (0 if _start returned).
	ExitCode uint32 `cbor:"exit_code"`
	// Trap classifies a trap or a rejection.
	Trap TrapKind `cbor:"trap"`
	// FuelUsed is the fuel consumed (FuelLimit when out of fuel).
	FuelUsed uint64 `cbor:"fuel_used"`
	// OutputHash is the SHA-256 of Output.
	OutputHash Hash `cbor:"output_hash"`
	// Output is everything written to stdout, at most MaxOutput bytes.
	Output []byte `cbor:"output"`
	// Stderr is the beginning of what was written to stderr (at most
	// MaxStderr bytes).
	Stderr []byte `cbor:"stderr"`
}

// MaxStderr is how much of stderr a Result keeps.
const MaxStderr = 4 << 10

// Encode returns the canonical encoding of r.
func (r *Result) Encode() []byte {
	b, err := encMode.Marshal(r)
	if err != nil {
		panic(fmt.Sprintf("compute: encoding a Result: %v", err)) // plain struct: cannot fail
	}
	return b
}

// Hash is the SHA-256 of the canonical encoding: the value workers agree on.
func (r *Result) Hash() Hash { return Sum(r.Encode()) }

// Commitment is H(result ‖ salt), what a worker publishes before revealing
// the result and the salt. Bind the worker by putting its address in salt.
func (r *Result) Commitment(salt []byte) Hash {
	h := sha256.New()
	h.Write(r.Encode())
	h.Write(salt)
	var c Hash
	h.Sum(c[:0])
	return c
}

// ErrBadEncoding reports bytes that are not a canonical encoding.
var ErrBadEncoding = errors.New("bad encoding")

// DecodeResult decodes and checks a Result: strict CBOR, no unknown
// fields, canonical form, output hash consistent with the output.
func DecodeResult(b []byte, maxOutput int) (*Result, error) {
	if len(b) > maxOutput+MaxStderr+1024 {
		return nil, fmt.Errorf("%w: result of %d bytes exceeds the output cap", ErrBadEncoding, len(b))
	}
	var r Result
	if err := decMode.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%w: result: %v", ErrBadEncoding, err)
	}
	if len(r.Output) > maxOutput || len(r.Stderr) > MaxStderr {
		return nil, fmt.Errorf("%w: result output or stderr over the cap", ErrBadEncoding)
	}
	if Sum(r.Output) != r.OutputHash {
		return nil, fmt.Errorf("%w: result output hash mismatch", ErrBadEncoding)
	}
	if string(r.Encode()) != string(b) {
		return nil, fmt.Errorf("%w: result is not in canonical form", ErrBadEncoding)
	}
	return &r, nil
}

// DecodeJobSpec decodes and validates a JobSpec in canonical form.
func DecodeJobSpec(b []byte) (*JobSpec, error) {
	if len(b) > MaxInlineInput+MaxArgsBytes+4096 {
		return nil, fmt.Errorf("%w: job spec of %d bytes", ErrBadEncoding, len(b))
	}
	var s JobSpec
	if err := decMode.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%w: job spec: %v", ErrBadEncoding, err)
	}
	if e, _ := encMode.Marshal(&s); string(e) != string(b) {
		return nil, fmt.Errorf("%w: job spec is not in canonical form", ErrBadEncoding)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	eo := cbor.CoreDetEncOptions()
	eo.NilContainers = cbor.NilContainerAsEmpty // nil and empty encode alike
	if encMode, err = eo.EncMode(); err != nil {
		panic(err)
	}
	if decMode, err = (cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		MaxNestedLevels:   16,
		MaxArrayElements:  1 << 16,
		MaxMapPairs:       1 << 10,
	}).DecMode(); err != nil {
		panic(err)
	}
}

// rejectKind maps an instrumenter error to its rejection kind.
func rejectKind(err error) TrapKind {
	switch {
	case errors.Is(err, instrument.ErrUnsupported):
		return RejectUnsupported
	case errors.Is(err, instrument.ErrLimit):
		return RejectLimit
	case errors.Is(err, instrument.ErrImport):
		return RejectImport
	}
	return RejectMalformed
}
