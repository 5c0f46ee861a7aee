package chain

import "fmt"

// TypeRevealResult is the type of RevealResult transactions.
const TypeRevealResult = "reveal_result"

// RevealResult opens a worker's commitment: the result it committed to,
// the salt, and the coop file it stored the output in (zero if none; when
// set, the file must be on the ledger).
//
// The signer must have an open assignment in the job (ErrNotAssigned), the
// reveal phase must be open — the commit phase closed, the job revealing
// or accepted and not closed (ErrWrongPhase) — the assignment must have
// committed (ErrNotAssigned: a worker that did not commit was judged
// missed when the phase closed), the height must be before the job's
// RevealBy (ErrJobLate), the assignment must not have revealed (ErrExists),
// and Commitment(job, signer, ResultHash(job, Result), Salt) must equal
// its commitment (ErrBadReveal). The result's fuel must be at most the
// job's limit and its status one of ResultExited, ResultTrapped,
// ResultRejected, ResultUnavailable (with every other field zero, and no
// output file); the salt MinSaltBytes to MaxSaltBytes long (ErrInvalid).
//
// Then: in an accepted job the reveal is judged at once (paid if it is the
// accepted result, wrong otherwise). Else, if Quorum open reveals now
// match, the job is accepted (job.go, accept). Else, if every committed
// worker has revealed, the round ends without a quorum (endRevealPhase).
type RevealResult struct {
	Job        Hash      `cbor:"job"`
	Result     JobResult `cbor:"result"`
	Salt       []byte    `cbor:"salt"`
	OutputFile Hash      `cbor:"output_file"`
	// OutputKey, optional, is the output file's capability sealed to the
	// submitter (node/capseal, role output), so the submitter reads the
	// output from the ledger's record even when the worker's node is
	// gone. The ledger only bounds its size (≤ MaxOutputKeyBytes) and
	// takes it only with an output file.
	OutputKey []byte `cbor:"output_key,omitempty"`
}

// MaxOutputKeyBytes bounds RevealResult.OutputKey: room for a sealed
// 64-byte capability (113 bytes with node/capseal) and a little more.
const MaxOutputKeyBytes = 160

// TxType implements Body.
func (*RevealResult) TxType() string { return TypeRevealResult }

func applyRevealResult(x *execCtx, b *RevealResult) error {
	if !x.params.Jobs.enabled() {
		return ErrJobsDisabled
	}
	switch {
	case len(b.Salt) < MinSaltBytes || len(b.Salt) > MaxSaltBytes:
		return fmt.Errorf("%w: salt of %d bytes, want %d to %d", ErrInvalid, len(b.Salt), MinSaltBytes, MaxSaltBytes)
	case b.Result.Status != ResultExited && b.Result.Status != ResultTrapped && b.Result.Status != ResultRejected && b.Result.Status != ResultUnavailable:
		return fmt.Errorf("%w: result status %.64q", ErrInvalid, b.Result.Status)
	case b.Result.Status == ResultUnavailable && (b.Result != JobResult{Status: ResultUnavailable} || !b.OutputFile.IsZero()):
		return fmt.Errorf("%w: an %q result carries no cost table, exit code, trap, fuel or output", ErrInvalid, ResultUnavailable)
	case len(b.OutputKey) > MaxOutputKeyBytes:
		return fmt.Errorf("%w: output key of %d bytes, at most %d", ErrInvalid, len(b.OutputKey), MaxOutputKeyBytes)
	case len(b.OutputKey) > 0 && b.OutputFile.IsZero():
		return fmt.Errorf("%w: an output key without an output file", ErrInvalid)
	case len(b.Result.Trap) > MaxTrapKindBytes:
		return fmt.Errorf("%w: trap kind of %d bytes", ErrInvalid, len(b.Result.Trap))
	}
	j, err := loadJob(x.st, b.Job)
	if err != nil {
		return err
	}
	a := j.AssignmentOf(x.signer)
	if a == nil {
		return fmt.Errorf("%w: %s has no open assignment in job %s", ErrNotAssigned, x.signer, j.ID)
	}
	if j.Phase != JobRevealing && j.Phase != JobAccepted {
		return fmt.Errorf("%w: job %s is %s: reveals open when its commit phase has closed", ErrWrongPhase, j.ID, j.Phase)
	}
	if !a.committed() {
		return fmt.Errorf("%w: %s did not commit to job %s", ErrNotAssigned, x.signer, j.ID)
	}
	if x.height >= j.RevealBy {
		return fmt.Errorf("%w: reveal at height %d, the deadline was %d", ErrJobLate, x.height, j.RevealBy)
	}
	if a.Revealed {
		return fmt.Errorf("%w: %s already revealed for job %s", ErrExists, x.signer, j.ID)
	}
	if b.Result.FuelUsed > j.FuelLimit {
		return fmt.Errorf("%w: fuel used %d above the job's limit %d", ErrInvalid, b.Result.FuelUsed, j.FuelLimit)
	}
	rh := ResultHash(j.ID, &b.Result)
	if Commitment(j.ID, x.signer, rh, b.Salt) != a.Commitment {
		return fmt.Errorf("%w: %s's reveal for job %s", ErrBadReveal, x.signer, j.ID)
	}
	if !b.OutputFile.IsZero() {
		if _, found, err := getRawFound(x.st, fileKey(b.OutputFile)); err != nil {
			return err
		} else if !found {
			return fmt.Errorf("%w: output file %s", ErrNotFound, b.OutputFile)
		}
	}
	a.Revealed, a.Result, a.ResultHash, a.OutputFile, a.OutputKey = true, b.Result, rh, b.OutputFile, b.OutputKey
	l := txJobLedger(x)
	if err := l.afterReveal(j, a); err != nil {
		return err
	}
	return l.saveJob(j)
}

// afterReveal moves j on after a's reveal.
func (l *jobLedger) afterReveal(j *Job, a *Assignment) error {
	if j.Phase == JobAccepted {
		if err := l.judgeReveal(j, a); err != nil {
			return err
		}
		return l.closeIfDone(j)
	}
	if h, ok := quorumHash(j); ok {
		return l.accept(j, h)
	}
	for i := range j.Assignments {
		if c := &j.Assignments[i]; c.open() && !c.Revealed {
			return nil
		}
	}
	return l.endRevealPhase(j)
}
