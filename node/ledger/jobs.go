package ledger

import (
	"context"

	"github.com/coop-network/coop/chain"
)

// Job returns a job's record and what may be sent for it now (/job/<id>);
// an error wrapping chain.ErrNotFound for an unknown id.
func (c *Client) Job(ctx context.Context, id chain.Hash) (chain.JobView, error) {
	var v chain.JobView
	return v, c.Query(ctx, chain.QueryJob+id.String(), &v)
}

// Jobs lists the jobs submitter submitted, every page read at one height
// (QueryList).
func (c *Client) Jobs(ctx context.Context, submitter chain.Address) ([]chain.JobView, error) {
	v, _, err := QueryList[chain.JobView](ctx, c, chain.QueryJobs+submitter.String())
	return v, err
}

// Assignments lists the jobs in which worker has an open assignment,
// every page read at one height (QueryList).
func (c *Client) Assignments(ctx context.Context, worker chain.Address) ([]chain.JobView, error) {
	v, _, err := QueryList[chain.JobView](ctx, c, chain.QueryAssignments+worker.String())
	return v, err
}

// Worker returns a node's compute record (zero for a node that never ran
// a job).
func (c *Client) Worker(ctx context.Context, a chain.Address) (chain.Worker, error) {
	var v chain.Worker
	return v, c.Query(ctx, chain.QueryWorker+a.String(), &v)
}
