package chain

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
)

// candidate is an eligible worker and its assignment weight.
type candidate struct {
	addr   Address
	weight uint64
}

// eligibleWorkers returns, in address order, the nodes that may be
// assigned a job of submitter: active (not suspended, not disqualified),
// offering CPU (Node.CPU > 0), not missing Params.RepairAfterMissed
// epochs in a row, not the submitter, not in exclude, and with a compute
// score of at least JobParams.MinScorePermille. Each is weighted by its
// compute score. It reads every node record: O(nodes) per call.
func eligibleWorkers(st kvReader, p Params, submitter Address, exclude []Address) ([]candidate, error) {
	all, err := computeNodes(st, p)
	if err != nil {
		return nil, err
	}
	return filterCandidates(all, submitter, exclude), nil
}

// computeNodes is every node eligible for some job (all but the submitter
// and exclude rules of eligibleWorkers), in address order, with its weight.
func computeNodes(st kvReader, p Params) ([]candidate, error) {
	entries, err := scanPrefix(st, []byte(prefixNode), math.MaxInt32)
	if err != nil {
		return nil, err
	}
	var out []candidate
	for _, e := range entries {
		var n Node
		if err := Unmarshal(e.value, &n); err != nil {
			return nil, err
		}
		if n.Status != NodeActive || n.CPU == 0 {
			continue
		}
		if p.RepairAfterMissed > 0 && n.MissedInRow >= p.RepairAfterMissed {
			continue
		}
		w, err := loadWorker(st, n.Address)
		if err != nil {
			return nil, err
		}
		s := ComputeScore(w)
		if s < p.Jobs.MinScorePermille || s == 0 {
			continue
		}
		out = append(out, candidate{addr: n.Address, weight: s})
	}
	return out, nil
}

// filterCandidates returns a copy of all without submitter and exclude.
func filterCandidates(all []candidate, submitter Address, exclude []Address) []candidate {
	out := make([]candidate, 0, len(all))
next:
	for _, c := range all {
		if c.addr == submitter {
			continue
		}
		for _, x := range exclude {
			if x == c.addr {
				continue next
			}
		}
		out = append(out, c)
	}
	return out
}

// drawWorkers picks up to n distinct candidates, each draw with
// probability proportional to weight among those not yet drawn, from
// SHA-256(tag ‖ block hash ‖ job ‖ round ‖ draw number). The block hash is
// of the block that assigns, which is decided after the SubmitJob: a
// submitter cannot grind its job id against a known seed.
func drawWorkers(cands []candidate, n int, blockHash []byte, job Hash, round uint32) []Address {
	var total uint64
	for _, c := range cands {
		total += c.weight // ≤ 1000 × nodes
	}
	var out []Address
	for i := 0; i < n && total > 0; i++ {
		m := append([]byte("coop/job-assign/v1\x00"), blockHash...)
		m = append(m, job[:]...)
		m = binary.BigEndian.AppendUint32(m, round)
		m = binary.BigEndian.AppendUint32(m, uint32(i))
		h := sha256.Sum256(m)
		x := binary.BigEndian.Uint64(h[:8]) % total
		for k := range cands {
			c := &cands[k]
			if c.weight == 0 {
				continue
			}
			if x < c.weight {
				out = append(out, c.addr)
				total -= c.weight
				c.weight = 0
				break
			}
			x -= c.weight
		}
	}
	return out
}

// jobDeadlines is the block rule of jobs: for every job due at or before
// this height (its Due), in key order, it assigns a pending job's workers,
// closes a commit phase at its deadline, or ends a reveal phase at its
// deadline.
func jobDeadlines(b *blockCtx) error {
	if !b.params.Jobs.enabled() {
		return nil
	}
	end := jobDueKey(b.height+1, Hash{})
	var ids []Hash
	it, err := b.st.Iterator([]byte(prefixJobDue), end, true)
	if err != nil {
		return err
	}
	for ; it.Valid(); it.Next() {
		k := it.Key()
		if len(k) != len(prefixJobDue)+jobDueSuffixLen {
			it.Close()
			return fmt.Errorf("state key %q under %q has the wrong length", k, prefixJobDue)
		}
		ids = append(ids, Hash(k[len(prefixJobDue)+8:]))
	}
	if err := it.Error(); err != nil {
		it.Close()
		return err
	}
	it.Close()
	l := blockJobLedger(b)
	for _, id := range ids {
		j, err := loadJob(b.st, id)
		if err != nil {
			return err
		}
		if err := l.due(j, b.blockHash); err != nil {
			return fmt.Errorf("job %s: %w", id, err)
		}
		if err := l.saveJob(j); err != nil {
			return err
		}
	}
	return nil
}

// due acts on a job whose Due height came.
func (l *jobLedger) due(j *Job, blockHash []byte) error {
	if j.Phase != JobAccepted && j.ClosedHeight == 0 {
		// A submitter that removed its module or input file made the job
		// impossible to run: it fails, refunded, and the workers that could
		// not fetch the file are not judged missed (else a submitter could
		// ruin workers' scores for free).
		gone, err := l.inputsGone(j)
		if err != nil {
			return err
		}
		if gone {
			return l.close(j)
		}
	}
	switch j.Phase {
	case JobPending:
		return l.assign(j, int(j.Replicas), blockHash)
	case JobAssigned, JobCommitting:
		return l.closeCommit(j, blockHash)
	case JobRevealing:
		return l.endRevealPhase(j)
	case JobAccepted:
		// Reveal deadline of an accepted job: who has not revealed missed.
		for i := range j.Assignments {
			if a := &j.Assignments[i]; a.open() {
				if err := l.judge(j, a, OutcomeMissed); err != nil {
					return err
				}
			}
		}
		return l.close(j)
	}
	return l.setDue(j, 0) // closed: nothing to do
}

// assign starts a new round of j with n new workers, none of whom took
// part in j before. If the open assignments then cannot reach the quorum
// (too few eligible workers), the job fails.
func (l *jobLedger) assign(j *Job, n int, blockHash []byte) error {
	exclude := make([]Address, 0, len(j.Assignments))
	for _, a := range j.Assignments {
		exclude = append(exclude, a.Worker)
	}
	if l.nodes == nil {
		// Read once per block, at its first draw (jobs are handled in key
		// order, so that point is the same on every validator): later
		// draws of the block use those scores.
		all, err := computeNodes(l.st, l.params)
		if err != nil {
			return err
		}
		l.nodes = &all
	}
	cands := filterCandidates(*l.nodes, j.Submitter, exclude)
	j.Round++
	drawn := drawWorkers(cands, n, blockHash, j.ID, j.Round)
	commitBy := l.height + l.params.Jobs.commitBlocks(j.FuelLimit)
	for _, w := range drawn {
		j.Assignments = append(j.Assignments, Assignment{Worker: w, Round: j.Round, AssignedHeight: l.height, CommitBy: commitBy})
		if err := setValue(l.st, assignedKey(w, j.ID), true); err != nil {
			return err
		}
		rec, err := loadWorker(l.st, w)
		if err != nil {
			return err
		}
		rec.Assigned++
		if err := setValue(l.st, workerKey(w), rec); err != nil {
			return err
		}
	}
	open, committed := uint32(0), uint32(0)
	for i := range j.Assignments {
		if a := &j.Assignments[i]; a.open() {
			open++
			if a.committed() {
				committed++
			}
		}
	}
	if open < j.Quorum {
		return l.close(j)
	}
	j.CommitBy = commitBy
	j.Phase = JobAssigned
	if committed > 0 {
		j.Phase = JobCommitting
	}
	return l.setDue(j, commitBy)
}

// closeCommit closes j's commit phase at its deadline: open assignments
// that did not commit are missed. With Quorum commitments the reveals
// open; with fewer, the missing workers are replaced (a new round) while
// rounds are left, else the job fails.
func (l *jobLedger) closeCommit(j *Job, blockHash []byte) error {
	committed := uint32(0)
	for i := range j.Assignments {
		a := &j.Assignments[i]
		if !a.open() {
			continue
		}
		if a.committed() {
			committed++
			continue
		}
		if err := l.judge(j, a, OutcomeMissed); err != nil {
			return err
		}
	}
	switch {
	case committed >= j.Quorum:
		return l.openReveals(j)
	case uint64(j.Round) < l.params.Jobs.MaxRounds:
		return l.assign(j, int(j.Replicas-committed), blockHash)
	}
	return l.close(j)
}

// inputsGone reports whether j's module or input file is no longer on the
// ledger.
func (l *jobLedger) inputsGone(j *Job) (bool, error) {
	for _, id := range []Hash{j.Module, j.Input} {
		if id.IsZero() {
			continue
		}
		_, found, err := getRawFound(l.st, fileKey(id))
		if err != nil || !found {
			return !found, err
		}
	}
	return false, nil
}
