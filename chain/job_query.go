package chain

import (
	"fmt"
	"strings"
)

// Job query paths (abci_query "path"); the lists are paged like /files/.
const (
	// QueryJob answers a JobView; ErrNotFound for an unknown id.
	QueryJob = "/job/" // /job/<job id> → JobView
	// QueryJobs lists the jobs a submitter submitted, by job id.
	QueryJobs = "/jobs/" // /jobs/<submitter> → Page[JobView]
	// QueryAssignments lists the jobs in which a worker has an open
	// assignment, by job id: what a worker loop has to do.
	QueryAssignments = "/assignments/" // /assignments/<worker> → Page[JobView]
	// QueryWorker answers a node's compute record (a zero Worker for a
	// node that never ran a job).
	QueryWorker = "/worker/" // /worker/<address> → Worker
)

func isJobQuery(path string) bool {
	for _, p := range []string{QueryJob, QueryJobs, QueryAssignments, QueryWorker} {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// jobViewItem is the itemFunc of the job lists: the index suffix ends with
// the job id; the item is the job's JobView.
func jobViewItem(st kvReader) itemFunc {
	return func(suffix, _ []byte) ([]byte, []byte, error) {
		id := Hash(suffix[len(suffix)-HashSize:])
		j, err := loadJob(st, id)
		if err != nil {
			return nil, nil, err
		}
		v := ViewOf(j)
		b, err := Marshal(&v)
		return jobKey(id), b, err
	}
}

func queryJob(st kvIterReader, path string, data []byte) ([]byte, error) {
	parse := func(prefix string) (Address, error) {
		a, err := ParseAddress(strings.TrimPrefix(path, prefix))
		if err != nil {
			return a, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		return a, nil
	}
	switch {
	case strings.HasPrefix(path, QueryJobs):
		a, err := parse(QueryJobs)
		if err != nil {
			return nil, err
		}
		return listPage[JobView](st, jobByPrefix(a), HashSize, data, jobViewItem(st))
	case strings.HasPrefix(path, QueryJob):
		id, err := ParseHash(strings.TrimPrefix(path, QueryJob))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		j, err := loadJob(st, id)
		if err != nil {
			return nil, err
		}
		v := ViewOf(j)
		return Marshal(&v)
	case strings.HasPrefix(path, QueryAssignments):
		a, err := parse(QueryAssignments)
		if err != nil {
			return nil, err
		}
		return listPage[JobView](st, assignedPrefix(a), HashSize, data, jobViewItem(st))
	default: // QueryWorker
		a, err := parse(QueryWorker)
		if err != nil {
			return nil, err
		}
		w, err := loadWorker(st, a)
		if err != nil {
			return nil, err
		}
		return Marshal(w)
	}
}
