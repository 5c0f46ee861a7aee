package chain

import "fmt"

// TypeSubmitJob is the type of SubmitJob transactions.
const TypeSubmitJob = "submit_job"

// SubmitJob asks the network to run a WebAssembly module: Replicas workers
// run it, Quorum matching results accept it (job.go has the lifecycle).
//
// Module and Input are ids of files on the ledger that the signer owns
// (ErrUnknownModule if there is no such file, ErrUnauthorized if another
// account owns it): the submitter hands their capability to its workers
// (the daemon does that), and a file somebody else placed could not be
// read by them anyway. Input may be zero (no input file); InlineInput is a
// small input (at most JobParams.MaxInlineInput bytes) carried in the
// transaction, so it is on the ledger in the clear, forever: prefer an
// input file, which is encrypted. A job has one or the other.
//
// FuelLimit must be in [1, JobParams.MaxFuel], MemoryLimit a multiple of
// 64 KiB in [64 KiB, 4 GiB], Price (credits per PriceUnitFuel fuel) at
// least JobParams.MinPrice (ErrBadJobLimits). Replicas (default 3) and Quorum
// (default a majority of Replicas: 2 of 3) must satisfy 1 ≤ Quorum ≤ Replicas ≤ MaxJobReplicas and
// 2·Quorum > Replicas, so two disjoint sets of workers can never both
// reach a quorum (ErrBadQuorum). There must be at least Replicas eligible
// workers (eligibleWorkers) now (ErrNoWorkers).
//
// The rule moves Replicas × JobCost(FuelLimit, Price) credits from the signer's
// Credits to its CreditsEscrowed (ErrInsufficientFunds if it has fewer;
// ErrOverflow if the product overflows) and records the job, id
// JobID(signer, tx nonce), pending: the next block assigns its workers.
// A rejected SubmitJob escrows nothing.
type SubmitJob struct {
	Module      Hash   `cbor:"module"`
	Input       Hash   `cbor:"input"`
	InlineInput []byte `cbor:"inline_input"`
	FuelLimit   uint64 `cbor:"fuel_limit"`
	MemoryLimit uint64 `cbor:"memory_limit"`
	Replicas    uint32 `cbor:"replicas"`
	Quorum      uint32 `cbor:"quorum"`
	Price       uint64 `cbor:"price"`
}

// TxType implements Body.
func (*SubmitJob) TxType() string { return TypeSubmitJob }

func applySubmitJob(x *execCtx, b *SubmitJob) error {
	jp := x.params.Jobs
	if !jp.enabled() {
		return ErrJobsDisabled
	}
	r, q := b.Replicas, b.Quorum
	if r == 0 {
		r = DefaultReplicas
	}
	if q == 0 {
		q = r/2 + 1 // a majority: DefaultQuorum for DefaultReplicas
	}
	switch {
	case b.FuelLimit == 0 || b.FuelLimit > jp.MaxFuel:
		return fmt.Errorf("%w: fuel limit %d outside [1, %d]", ErrBadJobLimits, b.FuelLimit, jp.MaxFuel)
	case b.MemoryLimit < JobPageSize || b.MemoryLimit > MaxJobMemory || b.MemoryLimit%JobPageSize != 0:
		return fmt.Errorf("%w: memory limit %d is not a multiple of 64 KiB in [64 KiB, 4 GiB]", ErrBadJobLimits, b.MemoryLimit)
	case b.Price < jp.MinPrice:
		return fmt.Errorf("%w: price %d per fuel unit below the minimum %d", ErrBadJobLimits, b.Price, jp.MinPrice)
	case uint64(len(b.InlineInput)) > jp.MaxInlineInput:
		return fmt.Errorf("%w: inline input of %d bytes exceeds %d (inline input is on the ledger in the clear; use an input file)", ErrBadJobLimits, len(b.InlineInput), jp.MaxInlineInput)
	case len(b.InlineInput) > 0 && !b.Input.IsZero():
		return fmt.Errorf("%w: both an input file and an inline input", ErrBadJobLimits)
	case r > MaxJobReplicas:
		return fmt.Errorf("%w: replicas %d above %d", ErrBadQuorum, r, MaxJobReplicas)
	case q > r:
		return fmt.Errorf("%w: quorum %d above replicas %d", ErrBadQuorum, q, r)
	case 2*q <= r:
		return fmt.Errorf("%w: quorum %d is not a majority of replicas %d (two groups could both reach it)", ErrBadQuorum, q, r)
	}
	perWorker, ok := JobCost(b.FuelLimit, b.Price)
	escrow, ok2 := mulUint64(perWorker, uint64(r))
	if !ok || !ok2 {
		return fmt.Errorf("%w: escrow of %d replicas × %d fuel at %d credits per %d fuel", ErrOverflow, r, b.FuelLimit, b.Price, PriceUnitFuel)
	}
	acct := x.account
	if acct.Credits < escrow {
		return fmt.Errorf("%w: %s has %d credits, the job escrows %d replicas × %d fuel at %d credits per %d fuel = %d", ErrInsufficientFunds, acct.Address, acct.Credits, r, b.FuelLimit, b.Price, PriceUnitFuel, escrow)
	}
	for _, f := range []struct {
		id   Hash
		what string
	}{{b.Module, "module"}, {b.Input, "input"}} {
		if f.what == "input" && f.id.IsZero() {
			continue
		}
		var file File
		found, err := getValue(x.st, fileKey(f.id), &file)
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("%w: %s file %s", ErrUnknownModule, f.what, f.id)
		}
		if file.Owner != x.signer {
			return fmt.Errorf("%w: %s file %s is owned by %s, not the submitter", ErrUnauthorized, f.what, f.id, file.Owner)
		}
	}
	cands, err := eligibleWorkers(x.st, x.params, x.signer, nil)
	if err != nil {
		return err
	}
	if uint64(len(cands)) < uint64(r) {
		return fmt.Errorf("%w: %d replicas asked, %d eligible workers", ErrNoWorkers, r, len(cands))
	}
	// The signing key and its nonce: a device signing for its account has
	// its own nonces, the account's does not move.
	id := JobID(x.device, x.nonce)
	if _, found, err := getRawFound(x.st, jobKey(id)); err != nil {
		return err
	} else if found {
		return fmt.Errorf("%w: job %s", ErrExists, id) // unreachable: nonces do not repeat
	}
	acct.Credits -= escrow
	acct.CreditsEscrowed += escrow // Σ Credits + CreditsEscrowed is bounded by the supply
	j := &Job{
		ID: id, Submitter: x.signer, Module: b.Module, Input: b.Input, InlineInput: b.InlineInput,
		FuelLimit: b.FuelLimit, MemoryLimit: b.MemoryLimit, Replicas: r, Quorum: q, Price: b.Price,
		Escrow: escrow, SubmittedHeight: x.height, Phase: JobPending,
	}
	l := txJobLedger(x)
	if err := l.setDue(j, x.height); err != nil { // assigned at this block's end
		return err
	}
	if err := setValue(x.st, jobByKey(x.signer, id), true); err != nil {
		return err
	}
	return l.saveJob(j)
}

func getRawFound(st kvReader, key []byte) ([]byte, bool, error) {
	b, err := st.Get(key)
	return b, b != nil, err
}
