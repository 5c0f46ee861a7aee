package chain

import "fmt"

// TypeCommitResult is the type of CommitResult transactions.
const TypeCommitResult = "commit_result"

// CommitResult is an assigned worker's commitment to its result of a job:
// Commitment(job, worker, ResultHash(job, result), salt), which hides the
// result until the worker reveals it.
//
// The signer must have an open assignment in the job (ErrNotFound for an
// unknown job, ErrNotAssigned otherwise), the commit phase must be open
// (ErrWrongPhase: the job is pending, revealing, accepted or failed), the
// height must be before the assignment's CommitBy (ErrJobLate), and the
// assignment must not have committed already (ErrExists: a commitment
// cannot be changed). When every open assignment has committed, the commit
// phase closes and the reveals open (until RevealBy).
type CommitResult struct {
	Job        Hash `cbor:"job"`
	Commitment Hash `cbor:"commitment"`
}

// TxType implements Body.
func (*CommitResult) TxType() string { return TypeCommitResult }

func applyCommitResult(x *execCtx, b *CommitResult) error {
	if !x.params.Jobs.enabled() {
		return ErrJobsDisabled
	}
	j, err := loadJob(x.st, b.Job)
	if err != nil {
		return err
	}
	a := j.AssignmentOf(x.signer)
	if a == nil {
		return fmt.Errorf("%w: %s has no open assignment in job %s", ErrNotAssigned, x.signer, j.ID)
	}
	if j.Phase != JobAssigned && j.Phase != JobCommitting {
		return fmt.Errorf("%w: job %s is %s, its commit phase is closed", ErrWrongPhase, j.ID, j.Phase)
	}
	if x.height >= a.CommitBy {
		return fmt.Errorf("%w: commit at height %d, the deadline was %d", ErrJobLate, x.height, a.CommitBy)
	}
	if a.committed() {
		return fmt.Errorf("%w: %s already committed to job %s", ErrExists, x.signer, j.ID)
	}
	a.Commitment = b.Commitment
	a.CommittedHeight = x.height
	j.Phase = JobCommitting
	l := txJobLedger(x)
	all := true
	for i := range j.Assignments {
		if c := &j.Assignments[i]; c.open() && !c.committed() {
			all = false
		}
	}
	if all {
		if err := l.openReveals(j); err != nil {
			return err
		}
	}
	return l.saveJob(j)
}
